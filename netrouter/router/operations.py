"""The operations the committer runs, one type per kind, and what deciding one yields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from netrouter.client.types import Placement, Workload
from netrouter.router.store import Change

R = TypeVar("R")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOp:
    """Place a batch (already checked and region-resolved); commit it unless ``dry_run``."""

    workloads: tuple[Workload, ...]
    dry_run: bool = False
    queue: bool = False
    """Queue what cannot start now (see :mod:`netrouter.router.queue`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StartQueuedOp:
    """Start the queued work that fits now, in queue order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseOp:
    """Release active placements (or cancel queued work) by id, all or none."""

    placement_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FailoverOp:
    """Re-place the work of every site that is down now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RebalanceOp:
    """Re-optimise running work; move the best ``max_moves`` (0: no cap) worth moving."""

    commit: bool = False
    max_moves: int = 0
    min_saving: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveSiteOp:
    """Forget a site that is gone."""

    site_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DrainOp:
    """Take a site out of service; with ``move`` move its running work elsewhere now."""

    site_id: str
    move: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UndrainOp:
    """Put a drained site back in service."""

    site_id: str


Op = (
    PlaceOp
    | StartQueuedOp
    | ReleaseOp
    | FailoverOp
    | RebalanceOp
    | RemoveSiteOp
    | DrainOp
    | UndrainOp
)


def _as_decided(result: R, committed: Mapping[str, Placement]) -> R:
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision(Generic[R]):
    """An operation's answer and the changes that must be durable before it is given.

    ``stamp`` puts the placements as committed (their ``updated_at`` set by the store) into
    the answer; an answer that holds no changed placement keeps the default.
    """

    result: R
    changes: tuple[Change, ...] = ()
    stamp: Callable[[R, Mapping[str, Placement]], R] = field(default=_as_decided)

    def answer(self, committed: Mapping[str, Placement]) -> R:
        """The answer, with the placements as ``committed`` by placement id."""
        return self.stamp(self.result, committed) if committed else self.result
