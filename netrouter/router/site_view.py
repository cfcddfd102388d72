"""The sites as the router sees them: each one's live view for operators, and the up sites
priced for the solver, cached between reports that change nothing but capacity."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from netrouter.client.errors import FailedPreconditionError
from netrouter.client.types import AcceleratorCapacity, SiteView, Workload
from netrouter.contract.site_report import SiteReport
from netrouter.planning.network import NetworkModel
from netrouter.planning.problem import (
    hour_elapsed,
    report_regions,
    solver_sites,
    solver_workload,
    tariff_from_now,
)
from netrouter.router.state import SiteRegistry
from solver import Problem, Site
from solver.single import SiteArrays

VIEW_REFRESH_S = 0.25
"""How long the priced view of the sites (prices, PUE, latency, transfer prices) is reused
while the same sites are up. Capacity is taken from every accepted report at once, and a
site going down or coming up rebuilds the view at once."""


def capacities(
    report: SiteReport, usage: Mapping[tuple[str, str], int]
) -> tuple[AcceleratorCapacity, ...]:
    """Each model's capacity at a site, net of others' use and of our active placements.

    Free is never negative, even when a site shrinks under our placements.
    """
    result = []
    for a in report.accelerators:
        placed = usage.get((report.site_id, a.model), 0)
        result.append(
            AcceleratorCapacity(
                model=a.model,
                total=a.total,
                healthy=a.healthy,
                in_use_by_others=a.in_use_by_others,
                placed=placed,
                free=max(0, a.available - placed),
                power_w=a.power_w,
            )
        )
    return tuple(result)


def site_view(
    registry: SiteRegistry, r: SiteReport, now: float, usage: Mapping[tuple[str, str], int]
) -> SiteView:
    """One site's live view from its latest report."""
    live = registry.liveness(r.site_id)
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
        accelerators=capacities(r, usage),
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

    def problem(
        self, workloads: Sequence[Workload], free: Mapping[tuple[str, str], int]
    ) -> Problem:
        """A solver problem for ``workloads`` on these sites with this free capacity."""
        sites = tuple(
            replace(s, free={m: free.get((s.id, m), 0) for m in s.power_w}) for s in self.sites
        )
        return Problem(
            sites=sites,
            workloads=tuple(solver_workload(w) for w in workloads),
            hour_elapsed=hour_elapsed(self.now),
            hub_max_pue=self.hub_max_pue,
        )

    def free(self, usage: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], int]:
        """Free devices per (site, model): the capacity less ``usage``, never negative."""
        return {key: max(0, n - usage.get(key, 0)) for key, n in self.capacity}


class FreeView(Mapping[tuple[str, str], int]):
    """Free devices per (site, model), computed only for the keys looked up (a single
    Place reads a few of them, so building the whole table would cost more than the
    placement)."""

    def __init__(
        self, capacity: Mapping[tuple[str, str], int], usage: Mapping[tuple[str, str], int]
    ) -> None:
        self._capacity, self._usage = capacity, usage

    def __getitem__(self, key: tuple[str, str]) -> int:
        return max(0, self._capacity[key] - self._usage.get(key, 0))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._capacity)

    def __len__(self) -> int:
        return len(self._capacity)


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
                view, key=key, reports=reports, capacity=capacity, capacity_of=dict(capacity)
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
            key, now, reports, sites, SiteArrays(problem), capacity, dict(capacity), caps, down
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
