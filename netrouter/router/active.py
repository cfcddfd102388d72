"""The in-memory mirror of the store's active placements and queued work: the committer's
truth, changed only by the committer and undone when the store write that would make it
durable fails."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from netrouter.client.types import ACTIVE, QUEUED, Placement
from netrouter.router.store import Change


@dataclass(frozen=True, slots=True, kw_only=True)
class Prior:
    """What a placement was before a change (``None``: it was neither active nor queued)."""

    placement_id: str
    before: Placement | None


class ActivePlacements:
    """Active placements by id and by workload, with the devices they hold per (site, model);
    and the queued work, by id."""

    def __init__(
        self, placements: Iterable[Placement] = (), queued: Iterable[Placement] = ()
    ) -> None:
        self._by_id: dict[str, Placement] = {}
        self._by_workload: dict[str, str] = {}
        self._usage: Counter[tuple[str, str]] = Counter()
        self._on: dict[tuple[str, str], dict[str, int]] = {}
        self._queued: dict[str, Placement] = {}
        self._queued_workloads: set[str] = set()
        for p in (*placements, *queued):
            self._remember(p)

    def queued(self) -> list[Placement]:
        """The queued work in the order it starts: higher priority first, then the oldest."""
        return sorted(
            self._queued.values(),
            key=lambda p: (-p.workload.priority, p.submitted, p.placement_id),
        )

    def queued_count(self) -> int:
        """How much work waits in the queue."""
        return len(self._queued)

    def queued_one(self, placement_id: str) -> Placement | None:
        """The queued work with this id, if any."""
        return self._queued.get(placement_id)

    def is_queued(self, workload_id: str) -> bool:
        """Whether the workload waits in the queue."""
        return workload_id in self._queued_workloads

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, placement_id: str) -> Placement | None:
        """The active placement with this id, if any."""
        return self._by_id.get(placement_id)

    def all(self) -> list[Placement]:
        """Every active placement (a copy)."""
        return list(self._by_id.values())

    def placed(self, workload_id: str) -> bool:
        """Whether the workload has an active placement."""
        return workload_id in self._by_workload

    def of_workload(self, workload_id: str) -> Placement | None:
        """The workload's active placement, if it has one."""
        placement_id = self._by_workload.get(workload_id)
        return None if placement_id is None else self._by_id[placement_id]

    @property
    def usage(self) -> Counter[tuple[str, str]]:
        """Devices held per (site, model); read only (zeros are kept, see :meth:`held`)."""
        return self._usage

    def on(self, key: tuple[str, str]) -> Mapping[str, int]:
        """Our placements on (site, model) ``key``: placement id → devices (read only)."""
        return self._on.get(key, {})

    def at_site(self, site_id: str) -> list[Placement]:
        """Every active placement on ``site_id``."""
        return [p for p in list(self._by_id.values()) if p.site_id == site_id]

    def held(self) -> dict[tuple[str, str], int]:
        """Devices held per (site, model), only where some are."""
        return {k: v for k, v in self._usage.items() if v}

    def sites_with_work(self) -> set[str]:
        """The sites holding at least one device of ours."""
        return {site for (site, _), n in self._usage.items() if n > 0}

    def apply(self, changes: Sequence[Change]) -> list[Prior]:
        """Apply ``changes`` in order; return what :meth:`undo` needs to take them back."""
        undo: list[Prior] = []
        for change in changes:
            p = change.placement
            before = self._by_id.get(p.placement_id) or self._queued.get(p.placement_id)
            undo.append(Prior(placement_id=p.placement_id, before=before))
            if before is not None:
                self._forget(before)
            self._remember(p)
        return undo

    def undo(self, undo: Sequence[Prior]) -> None:
        """Take back changes applied by :meth:`apply`, newest first."""
        for prior in reversed(undo):
            now = self._by_id.get(prior.placement_id) or self._queued.get(prior.placement_id)
            if now is not None:
                self._forget(now)
            if prior.before is not None:
                self._remember(prior.before)

    def _remember(self, p: Placement) -> None:
        if p.state == QUEUED:
            self._queued[p.placement_id] = p
            self._queued_workloads.add(p.workload.id)
            return
        if p.state != ACTIVE:
            return
        self._by_id[p.placement_id] = p
        self._by_workload[p.workload.id] = p.placement_id
        key = (p.site_id, p.accelerator_model)
        self._usage[key] += p.devices
        self._on.setdefault(key, {})[p.placement_id] = p.devices

    def _forget(self, p: Placement) -> None:
        if p.state == QUEUED:
            del self._queued[p.placement_id]
            self._queued_workloads.discard(p.workload.id)
            return
        del self._by_id[p.placement_id]
        self._by_workload.pop(p.workload.id, None)
        key = (p.site_id, p.accelerator_model)
        self._usage[key] -= p.devices
        del self._on[key][p.placement_id]
