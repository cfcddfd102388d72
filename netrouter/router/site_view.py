"""The sites as the router sees them: each one's live view for operators, and the up sites
priced for the solver, cached between reports that change nothing but capacity."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from netrouter.client.errors import FailedPreconditionError
from netrouter.client.types import AcceleratorCapacity, Placement, SiteView, Workload
from netrouter.contract.site_report import SiteReport
from netrouter.planning.network import NetworkModel
from netrouter.planning.problem import (
    hour_elapsed,
    report_regions,
    report_shape,
    solver_sites,
    solver_workload,
    tariff_from_now,
)
from netrouter.router.active import ActivePlacements
from netrouter.router.state import SiteRegistry
from solver import NodeShape, Problem, Site
from solver.single import SiteArrays

VIEW_REFRESH_S = 0.25
"""How long the priced view of the sites (prices, PUE, latency, transfer prices) is reused
while the same sites are up. Capacity is taken from every accepted report at once, and a
site going down or coming up rebuilds the view at once."""


Key = tuple[str, str]
"""(site id, accelerator model)."""


Held = Callable[[Key], Mapping[str, int]]
"""Our placements on a (site, model): placement id → devices."""

RUNNING_GRACE_S = 300.0
"""How long a placement may go unseen by a site that shows our running work before it is
flagged as placed but not running (its work takes this long to start)."""


@dataclass(slots=True)
class _Room:
    """One (site, model) as a decision sees it: the devices of ours it counts, those of
    ours the site's own shape does not show yet, and the devices of running work the
    router does not know."""

    ours: list[int]
    pending: list[int]
    unknown: int
    freed: list[int] = field(default_factory=list)
    """Devices of ours the site showed running, given back: on nodes we cannot name."""
    shape: NodeShape | None = None
    """The shape these leave, once worked out (until the next take or give)."""


class Capacity:
    """What every decision reads capacity through: per (site, model), the devices the
    site's report leaves free less those our placements hold (and those of running work
    labelled with ids we do not know), and, where the site reports it, how the free ones
    sit on nodes. A site that shows our running work (:attr:`SiteReport.running`) counts it
    in its own shape; the rest of ours is laid on that shape best fit (see
    :meth:`solver.NodeShape.after`: the router does not know which node a site's scheduler
    will choose).

    Computed per key on demand, so a single placement reads only the keys it needs;
    :meth:`take` and :meth:`give` follow moves one at a time.
    """

    def __init__(
        self,
        available: Mapping[Key, int],
        shapes: Mapping[Key, NodeShape],
        held: Held,
        running: Mapping[Key, Mapping[str, int]] | None = None,
    ) -> None:
        self._available, self._shapes, self._held = available, shapes, held
        self._running = running or {}
        self._rooms: dict[Key, _Room] = {}

    @classmethod
    def counted(cls, free: Mapping[Key, int]) -> Capacity:
        """Free device counts alone: no shapes, none of our work on them."""
        return cls(free, {}, lambda key: {})

    def _room(self, key: Key) -> _Room:
        room = self._rooms.get(key)
        if room is None:
            ours, shown = self._held(key), self._running.get(key, {})
            room = self._rooms[key] = _Room(
                ours=list(ours.values()),
                pending=[d for pid, d in ours.items() if pid not in shown],
                unknown=sum(d for pid, d in shown.items() if pid not in ours),
            )
        return room

    def held(self, key: Key) -> list[int]:
        """The device count of each placement of ours on ``key`` (a negative one: devices
        freed that no placement of ours was known to hold)."""
        return self._room(key).ours

    def free(self, key: Key) -> int:
        """Free devices on ``key``, never negative (a site may shrink under our work)."""
        room = self._room(key)
        return max(0, self._available.get(key, 0) - sum(room.ours) - room.unknown)

    def shape(self, key: Key) -> NodeShape | None:
        """How ``key``'s free devices sit on nodes (``None``: counted only)."""
        shape = self._shapes.get(key)
        if shape is None:
            return None
        room = self._room(key)
        if room.shape is None:
            room.shape = shape.after(room.pending)
            if room.freed:
                room.shape = room.shape.freed(room.freed)
        return room.shape

    def fits(self, key: Key, devices: int, one_domain: bool = False) -> bool:
        """Whether work of ``devices`` fits on ``key`` now (in one interconnect domain when
        it asks for ``one_domain`` and the site reports its domains)."""
        if self.free(key) < devices:
            return False
        shape = self.shape(key)
        return shape is None or shape.fits(devices, one_domain)

    def without(self, placements: Iterable[Placement]) -> Capacity:
        """This capacity as if ``placements`` were not there (they are being re-placed)."""
        for p in placements:
            self.give((p.site_id, p.accelerator_model), p.devices)
        return self

    def copy(self) -> Capacity:
        """A copy whose :meth:`take` and :meth:`give` leave this one as it is."""
        other = Capacity(self._available, self._shapes, self._held, self._running)
        other._rooms = {
            key: _Room(list(r.ours), list(r.pending), r.unknown, list(r.freed), r.shape)
            for key, r in self._rooms.items()
        }
        return other

    def take(self, key: Key, devices: int) -> None:
        """Count work of ``devices`` placed on ``key``."""
        room = self._room(key)
        room.ours.append(devices)
        room.pending.append(devices)
        room.shape = None

    def give(self, key: Key, devices: int) -> None:
        """Count work of ``devices`` gone from ``key``. Devices freed by work the site
        showed running sit on a node we cannot name: the shape counts them as a node of
        their own (:meth:`solver.NodeShape.freed`), so that work can stay where it is."""
        room = self._room(key)
        room.shape = None
        if devices in room.ours:
            room.ours.remove(devices)
            if devices in room.pending:
                room.pending.remove(devices)
            else:
                room.freed.append(devices)
        else:  # not ours as far as these counts know: freed all the same
            room.ours.append(-devices)

    def counts(self) -> Mapping[Key, int]:
        """Free devices per key, computed as each is looked up."""
        return _Lookup(self._available, self.free)

    def shapes(self) -> Mapping[Key, NodeShape]:
        """The shape of each shaped key, computed as each is looked up."""
        return _Lookup(self._shapes, self._shape_of)

    def _shape_of(self, key: Key) -> NodeShape:
        shape = self.shape(key)
        assert shape is not None  # only shaped keys are looked up
        return shape


class _Lookup(Mapping[Key, Any]):
    """A mapping over ``keys`` whose values are computed when looked up."""

    def __init__(self, keys: Mapping[Key, Any], value: Callable[[Key], Any]) -> None:
        self._keys, self._value = keys, value

    def __getitem__(self, key: Key) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        return self._value(key)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def report_running(report: SiteReport) -> dict[Key, dict[str, int]]:
    """Our work the site shows running, per (site, model): placement id → devices."""
    running: dict[Key, dict[str, int]] = {}
    for r in report.running:
        running.setdefault((report.site_id, r.model), {})[r.placement_id] = r.devices
    return running


def report_shapes(report: SiteReport) -> dict[Key, NodeShape]:
    """The node shape of each model whose shape the site reports, per (site, model)."""
    return {
        (report.site_id, a.model): shape
        for a in report.accelerators
        if (shape := report_shape(a)) is not None
    }


def report_capacity(report: SiteReport, ours: Sequence[Placement]) -> Capacity:
    """One site's capacity less ``ours`` (our placements there), from its own report."""
    available = {(report.site_id, a.model): a.available for a in report.accelerators}
    shapes = report_shapes(report)
    held: dict[Key, dict[str, int]] = {}
    for p in ours:
        held.setdefault((p.site_id, p.accelerator_model), {})[p.placement_id] = p.devices
    return Capacity(available, shapes, lambda key: held.get(key, {}), report_running(report))


def capacities(report: SiteReport, capacity: Capacity) -> tuple[AcceleratorCapacity, ...]:
    """Each model's capacity at a site, net of others' use and of our active placements,
    with its shape on nodes where the site reports one."""
    result = []
    for a in report.accelerators:
        key = (report.site_id, a.model)
        shape = capacity.shape(key)
        result.append(
            AcceleratorCapacity(
                model=a.model,
                total=a.total,
                healthy=a.healthy,
                in_use_by_others=a.in_use_by_others,
                placed=sum(capacity.held(key)),
                free=capacity.free(key),
                power_w=a.power_w,
                node_size=0 if shape is None else shape.node_size,
                nodes_by_free=() if shape is None else shape.nodes_by_free,
                domain_nodes=0 if shape is None else shape.domain_nodes,
                domains_by_whole=() if shape is None else shape.domains_by_whole,
            )
        )
    return tuple(result)


def site_view(
    registry: SiteRegistry, r: SiteReport, now: float, ours: Sequence[Placement]
) -> SiteView:
    """One site's live view from its latest report; ``ours``: our placements there."""
    live = registry.liveness(r.site_id)
    shown = {x.placement_id for x in r.running}
    mine = {p.placement_id for p in ours}
    drain = registry.drain_of(r.site_id)
    return SiteView(
        site_id=r.site_id,
        labels=r.labels,
        up=live.up,
        down_reason=live.reason,
        report_age_s=live.age_s,
        pue=r.pue,
        price_now_yuan_per_kwh=tariff_from_now(r, now)[0],
        carbon_kg_per_kwh=r.carbon_kg_per_kwh,
        accelerators=capacities(r, report_capacity(r, ours)),
        latencies=r.latencies,
        price_band_now=r.band_now,
        agents=tuple(registry.agents(r.site_id)),
        pue_source=r.pue_source,
        pue_age_s=r.pue_age_s,
        ttl_s=registry.ttl_s(r),
        held_down_s=live.held_down_s,
        pue_mean=r.pue_mean,
        over_pue_cap=registry.over_pue_cap(r.site_id),
        drained=drain is not None,
        drained_at=0.0 if drain is None else drain.at,
        drain_reason="" if drain is None else drain.reason,
        sees_placements=r.sees_placements,
        not_running=tuple(
            sorted(
                p.placement_id
                for p in ours
                if r.sees_placements
                and p.placement_id not in shown
                and now - p.created_at > RUNNING_GRACE_S
            )
        ),
        unknown_running=tuple(sorted(shown - mine)),
    )


@dataclass(frozen=True, slots=True)
class SitesView:
    """The sites up at one instant, priced for the solver (free capacity left out), with
    the hubs' PUE caps; drained ones among them, marked (:attr:`solver.Site.drained`)."""

    key: tuple[int, int]
    now: float
    reports: tuple[SiteReport, ...]
    sites: tuple[Site, ...]
    arrays: SiteArrays
    capacity: tuple[tuple[tuple[str, str], int], ...]
    """(site, model) → healthy devices not used by others."""
    capacity_of: Mapping[tuple[str, str], int]
    hub_max_pue: Mapping[str, float]
    down: tuple[str, ...] = ()
    """The sites known but not up: work left out names them (the solver never sees them)."""
    shape_of: Mapping[Key, NodeShape] = field(default_factory=dict)
    """(site, model) → the node shape its report gives (only where it gives one)."""
    running_of: Mapping[Key, Mapping[str, int]] = field(default_factory=dict)
    """(site, model) → our work the site shows running (placement id → devices)."""

    def free_capacity(self, active: ActivePlacements) -> Capacity:
        """These sites' capacity less ``active``'s placements (see :class:`Capacity`)."""
        return Capacity(self.capacity_of, self.shape_of, active.on, self.running_of)

    def problem(self, workloads: Sequence[Workload], capacity: Capacity) -> Problem:
        """A solver problem for ``workloads`` on these sites with this capacity."""
        sites = []
        for s in self.sites:
            keys = [(s.id, m) for m in s.power_w]
            shapes = {key[1]: shape for key in keys if (shape := capacity.shape(key))}
            free = {
                m: shapes[m].free if m in shapes else capacity.free((s.id, m)) for m in s.power_w
            }
            sites.append(replace(s, free=free, shape=shapes))
        return Problem(
            sites=tuple(sites),
            workloads=tuple(solver_workload(w) for w in workloads),
            hour_elapsed=hour_elapsed(self.now),
            hub_max_pue=self.hub_max_pue,
        )


class SitesViewCache:
    """The up sites priced for the solver, rebuilt only when the sites up change, a site
    reports other devices, or a refresh period passes."""

    def __init__(
        self, *, registry: SiteRegistry, network: NetworkModel, clock: Callable[[], float]
    ) -> None:
        self._registry = registry
        self._network = network
        self._clock = clock
        self._view: SitesView | None = None

    def get(self, now: float | None = None) -> SitesView:
        """The up sites priced at ``now`` (cached up to :data:`VIEW_REFRESH_S` while no site
        goes up or down and none reports other devices: reports that only repeat a site's
        inventory wait for the next period, as prices do)."""
        now = self._clock() if now is None else now
        key = (self._registry.capacity_version, math.floor(now / VIEW_REFRESH_S))
        view = self._view
        if view is not None and view.key == key:
            return view
        reports = tuple(self._registry.up_reports())
        if not reports:
            known = len(self._registry.reports())
            raise FailedPreconditionError(
                f"no site is up (of {known} known): nothing can be placed"
            )
        capacity = tuple(
            ((r.site_id, a.model), a.available) for r in reports for a in r.accelerators
        )
        shape_of = {key: shape for r in reports for key, shape in report_shapes(r).items()}
        running_of = {key: ids for r in reports for key, ids in report_running(r).items()}
        drained = self._registry.drained()
        if (
            view is not None
            and view.key[1] == key[1]
            and [r.site_id for r in view.reports] == [r.site_id for r in reports]
            and [s.drained for s in view.sites] == [r.site_id in drained for r in reports]
        ):
            # The same sites, new reports within one refresh period: their capacity counts
            # now; pricing them again (network paths, tariffs) waits for the next period, so
            # a stream of reports does not re-price every site on every Place.
            view = replace(
                view,
                key=key,
                reports=reports,
                capacity=capacity,
                capacity_of=dict(capacity),
                shape_of=shape_of,
                running_of=running_of,
            )
            self._view = view
            return view
        sites = self._sites(reports, now, drained)
        caps = self._registry.pue_policy.caps()
        problem = Problem(
            sites=sites, workloads=(), hour_elapsed=hour_elapsed(now), hub_max_pue=caps
        )
        up = {r.site_id for r in reports}
        down = tuple(sorted(r.site_id for r in self._registry.reports() if r.site_id not in up))
        view = SitesView(
            key,
            now,
            reports,
            sites,
            SiteArrays(problem),
            capacity,
            dict(capacity),
            caps,
            down,
            shape_of,
            running_of,
        )
        self._view = view
        return view

    def _sites(
        self, reports: Sequence[SiteReport], now: float, drained: Collection[str]
    ) -> tuple[Site, ...]:
        known = self._registry.reports()
        policy = self._registry.pue_policy
        return solver_sites(
            reports,
            self._network,
            fresh=self._registry.fresh_reports(),
            regions=report_regions(known),
            now=now,
            pue_cap_margins={r.site_id: policy.margin(r.site_id) for r in reports},
            drained=drained,
        )
