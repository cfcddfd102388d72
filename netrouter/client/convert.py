"""The one place protobuf meets the domain: conversions both ways.

Request conversion validates as it goes and raises :class:`InvalidArgumentError` naming the
offending field (``workloads[3].demands``), so servicers stay thin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from netrouter.client import types as domain
from netrouter.client.errors import InvalidArgumentError, ResourceExhaustedError
from netrouter.client.scenario import Scenario, parse_scenario
from netrouter.contract.configfile import ConfigFileError
from netrouter.contract.limits import MAX_DEVICES
from netrouter.contract.messages import same_fields, same_named
from netrouter.contract.site_report import (
    labels_from_pb,
    labels_to_pb,
    latency_from_pb,
    latency_to_pb,
    report_from_pb,
    report_to_pb,
)
from netrouter.v1 import router_pb2 as pb

# --- workloads ---------------------------------------------------------------------------


def workload_from_pb(m: pb.Workload, field: str = "workload") -> domain.Workload:
    """Validate and convert one requested workload; errors name ``field``'s sub-field."""
    demands: dict[str, int] = {}
    for i, d in enumerate(m.demands):
        if d.model in demands:
            raise InvalidArgumentError(f"{field}.demands[{i}].model", f"duplicate {d.model!r}")
        if d.count > MAX_DEVICES:
            raise InvalidArgumentError(
                f"{field}.demands[{i}].count", f"at most {MAX_DEVICES} devices, got {d.count}"
            )
        demands[d.model] = d.count
    for name, value in (
        ("power_w_per_device", m.power_w_per_device),
        ("duration_h", m.duration_h),
        ("latency_slo_ms", m.latency_slo_ms),
        ("max_pue", m.max_pue),
        ("data_gb", m.data_gb),
        ("migration_cost_yuan", m.migration_cost_yuan),
        ("earliest_start", m.earliest_start),
        ("deadline", m.deadline),
        ("restart_h", m.restart_h),
    ):
        if not math.isfinite(value) or value < 0:
            raise InvalidArgumentError(
                f"{field}.{name}", f"must be a finite number >= 0, got {value}"
            )
    try:
        return domain.Workload(
            id=m.id,
            origin_region=m.origin_region,
            demands=demands,
            duration_h=m.duration_h,
            power_w_per_device=m.power_w_per_device or None,
            latency_slo_ms=m.latency_slo_ms or None,
            max_pue=m.max_pue or None,
            priority=m.priority,
            labels=dict(m.labels),
            **domain.residency_of(m),
            data_gb=m.data_gb,
            migration_cost_yuan=m.migration_cost_yuan,
            one_domain=m.one_domain,
            earliest_start=m.earliest_start,
            deadline=m.deadline,
            preemptible=m.preemptible,
            restart_h=m.restart_h,
        )
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{field}.{exc.field}", exc.message) from exc


def place_request_from_pb(m: pb.PlaceRequest, *, max_batch: int) -> list[domain.Workload]:
    """The checked workloads of a Place request; the batch size is checked before any of them."""
    if not m.workloads:
        raise InvalidArgumentError("workloads", "at least one workload is needed")
    if len(m.workloads) > max_batch:
        # RESOURCE_EXHAUSTED, as the router's own check (Router.place) says it.
        raise ResourceExhaustedError(
            f"workloads: {len(m.workloads)} in one batch, at most {max_batch}"
        )
    return [workload_from_pb(w, f"workloads[{i}]") for i, w in enumerate(m.workloads)]


def workload_to_pb(w: domain.Workload) -> pb.Workload:
    """The message of a workload."""
    return pb.Workload(
        id=w.id,
        origin_region=w.origin_region,
        demands=[pb.AcceleratorDemand(model=k, count=v) for k, v in w.demands.items()],
        power_w_per_device=w.power_w_per_device or 0.0,
        duration_h=w.duration_h,
        latency_slo_ms=w.latency_slo_ms or 0.0,
        max_pue=w.max_pue or 0.0,
        priority=w.priority,
        labels=dict(w.labels),
        **{name: sorted(getattr(w, name)) for name in domain.RESIDENCY_FIELDS},
        data_gb=w.data_gb,
        migration_cost_yuan=w.migration_cost_yuan,
        one_domain=w.one_domain,
        earliest_start=w.earliest_start,
        deadline=w.deadline,
        preemptible=w.preemptible,
        restart_h=w.restart_h,
    )


# --- placements --------------------------------------------------------------------------


def placement_to_pb(p: domain.Placement) -> pb.Placement:
    """The message of a placement, its workload and costs included."""
    return pb.Placement(
        **same_named(
            pb.Placement,
            p,
            cost=pb.CostBreakdown(**same_named(pb.CostBreakdown, p)),
            latency_ms=p.latency_ms if p.latency_ms is not None else -1.0,
            workload=workload_to_pb(p.workload),
            alternatives=[pb.Alternative(**same_named(pb.Alternative, a)) for a in p.alternatives],
        )
    )


def placement_from_pb(m: pb.Placement) -> domain.Placement:
    """A placement from its message (its workload checked as a request's is)."""
    cost = same_named(pb.CostBreakdown, m.cost)
    del cost["total_cost_yuan"]  # derived: the sum of the others
    return domain.Placement(
        **same_fields(
            domain.Placement,
            m,
            workload=workload_from_pb(m.workload),
            latency_ms=m.latency_ms if m.latency_ms >= 0 else None,
            alternatives=tuple(
                domain.Alternative(**same_named(pb.Alternative, a)) for a in m.alternatives
            ),
            **cost,
        )
    )


def solve_info_to_pb(s: domain.SolveInfo) -> pb.SolveInfo:
    """The message of a solve's quality."""
    return pb.SolveInfo(**same_named(pb.SolveInfo, s))


def solve_info_from_pb(m: pb.SolveInfo) -> domain.SolveInfo:
    """A solve's quality from its message."""
    return domain.SolveInfo(**same_named(pb.SolveInfo, m))


def place_result_to_pb(r: domain.PlaceResult) -> pb.PlaceResponse:
    """The Place response of a result."""
    return pb.PlaceResponse(
        **same_named(
            pb.PlaceResponse,
            r,
            placements=[placement_to_pb(p) for p in r.placements],
            unplaced=[pb.Unplaced(**same_named(pb.Unplaced, u)) for u in r.unplaced],
            solve=solve_info_to_pb(r.solve),
            queued=[placement_to_pb(p) for p in r.queued],
        )
    )


def place_result_from_pb(m: pb.PlaceResponse) -> domain.PlaceResult:
    """A Place result from its response."""
    return domain.PlaceResult(
        **same_named(
            pb.PlaceResponse,
            m,
            placements=tuple(placement_from_pb(p) for p in m.placements),
            unplaced=tuple(domain.Unplaced(**same_named(pb.Unplaced, u)) for u in m.unplaced),
            solve=solve_info_from_pb(m.solve),
            queued=tuple(placement_from_pb(p) for p in m.queued),
        )
    )


# --- events, rebalance, snapshots --------------------------------------------------------


def event_to_pb(e: domain.PlacementEvent) -> pb.PlacementEvent:
    """The message of a placement event."""
    return pb.PlacementEvent(
        **same_named(pb.PlacementEvent, e, placement=placement_to_pb(e.placement))
    )


def event_from_pb(m: pb.PlacementEvent) -> domain.PlacementEvent:
    """A placement event from its message."""
    return domain.PlacementEvent(
        **same_named(pb.PlacementEvent, m, placement=placement_from_pb(m.placement))
    )


def move_to_pb(mv: domain.Move) -> pb.Move:
    """The message of a move."""
    return pb.Move(**same_named(pb.Move, mv, placement=placement_to_pb(mv.placement)))


def move_from_pb(m: pb.Move) -> domain.Move:
    """A move from its message."""
    return domain.Move(**same_named(pb.Move, m, placement=placement_from_pb(m.placement)))


def rebalance_to_pb(r: domain.RebalanceResult) -> pb.RebalanceResponse:
    """The Rebalance response of a result."""
    return pb.RebalanceResponse(
        **same_named(
            pb.RebalanceResponse,
            r,
            moves=[move_to_pb(mv) for mv in r.moves],
            solve=solve_info_to_pb(r.solve),
        )
    )


def rebalance_from_pb(m: pb.RebalanceResponse) -> domain.RebalanceResult:
    """A Rebalance result from its response."""
    return domain.RebalanceResult(
        **same_named(
            pb.RebalanceResponse,
            m,
            moves=tuple(move_from_pb(mv) for mv in m.moves),
            solve=solve_info_from_pb(m.solve),
        )
    )


def link_to_pb(link: domain.Link) -> pb.Link:
    """The message of a backbone link."""
    return pb.Link(**same_named(pb.Link, link))


def link_from_pb(m: pb.Link) -> domain.Link:
    """A backbone link from its message."""
    return domain.Link(**same_named(pb.Link, m))


def snapshot_to_pb(s: domain.Snapshot) -> pb.StateSnapshot:
    """The message of a whole-state snapshot."""
    return pb.StateSnapshot(
        **same_named(
            pb.StateSnapshot,
            s,
            site_reports=[report_to_pb(r) for r in s.site_reports],
            placements=[placement_to_pb(p) for p in s.placements],
            sites=[site_view_to_pb(v) for v in s.sites],
            links=[link_to_pb(x) for x in s.links],
        )
    )


def snapshot_from_pb(m: pb.StateSnapshot) -> domain.Snapshot:
    """A whole-state snapshot from its message."""
    return domain.Snapshot(
        **same_named(
            pb.StateSnapshot,
            m,
            site_reports=tuple(report_from_pb(r) for r in m.site_reports),
            placements=tuple(placement_from_pb(p) for p in m.placements),
            sites=tuple(site_view_from_pb(v) for v in m.sites),
            links=tuple(link_from_pb(x) for x in m.links),
        )
    )


# --- sites -------------------------------------------------------------------------------


def site_view_to_pb(v: domain.SiteView) -> pb.SiteView:
    """The message of a site's view."""
    return pb.SiteView(
        **same_named(
            pb.SiteView,
            v,
            labels=labels_to_pb(v.labels),
            accelerators=[
                pb.AcceleratorCapacity(**same_named(pb.AcceleratorCapacity, a))
                for a in v.accelerators
            ],
            latencies=[latency_to_pb(x) for x in v.latencies],
        )
    )


def site_view_from_pb(m: pb.SiteView) -> domain.SiteView:
    """A site's view from its message."""
    return domain.SiteView(
        **same_named(
            pb.SiteView,
            m,
            labels=labels_from_pb(m.labels),
            accelerators=tuple(
                domain.AcceleratorCapacity(
                    **same_named(
                        pb.AcceleratorCapacity,
                        a,
                        nodes_by_free=tuple(a.nodes_by_free),
                        domains_by_whole=tuple(a.domains_by_whole),
                    )
                )
                for a in m.accelerators
            ),
            latencies=tuple(latency_from_pb(x) for x in m.latencies),
            agents=tuple(m.agents),
            not_running=tuple(m.not_running),
            unknown_running=tuple(m.unknown_running),
        )
    )


def drain_to_pb(r: domain.DrainResult) -> pb.DrainSiteResponse:
    """The DrainSite response of a result."""
    return pb.DrainSiteResponse(
        **same_named(
            pb.DrainSiteResponse,
            r,
            site=site_view_to_pb(r.site),
            moved=[move_to_pb(mv) for mv in r.moved],
            stayed=[pb.Unplaced(**same_named(pb.Unplaced, u)) for u in r.stayed],
        )
    )


def drain_from_pb(m: pb.DrainSiteResponse) -> domain.DrainResult:
    """A DrainSite result from its response."""
    return domain.DrainResult(
        **same_named(
            pb.DrainSiteResponse,
            m,
            site=site_view_from_pb(m.site),
            moved=tuple(move_from_pb(mv) for mv in m.moved),
            stayed=tuple(domain.Unplaced(**same_named(pb.Unplaced, u)) for u in m.stayed),
        )
    )


MAX_SCENARIOS = 16
MAX_SCENARIO_CHARS = 1 << 20
MAX_WHATIF_TIME_LIMIT_S = 60.0


@dataclass(frozen=True, slots=True)
class WhatIfArgs:
    """A checked WhatIf request."""

    scenarios: tuple[Scenario, ...]
    at: float | None
    time_limit_s: float | None


def whatif_from_pb(m: pb.WhatIfRequest) -> WhatIfArgs:
    """Parse and check a WhatIf request (every error names its field)."""
    if not m.scenarios:
        raise InvalidArgumentError("scenarios", "give at least one scenario")
    if len(m.scenarios) > MAX_SCENARIOS:
        raise InvalidArgumentError("scenarios", f"at most {MAX_SCENARIOS} per request")
    if not math.isfinite(m.at) or m.at < 0:
        raise InvalidArgumentError("at", f"must be a unix time >= 0 (0: now), got {m.at}")
    if not math.isfinite(m.time_limit_s) or not 0 <= m.time_limit_s <= MAX_WHATIF_TIME_LIMIT_S:
        raise InvalidArgumentError(
            "time_limit_s", f"must be in [0, {MAX_WHATIF_TIME_LIMIT_S:g}] s, got {m.time_limit_s}"
        )
    scenarios = []
    for i, text in enumerate(m.scenarios):
        field = f"scenarios[{i}]"
        if len(text) > MAX_SCENARIO_CHARS:
            raise InvalidArgumentError(field, f"longer than {MAX_SCENARIO_CHARS} characters")
        try:
            scenarios.append(parse_scenario(text, source=field, allow_files=False))
        except ConfigFileError as exc:
            where = f"{field}.{exc.key}" if exc.key else field
            line = f" (line {exc.line})" if exc.line else ""
            raise InvalidArgumentError(where, f"{exc.message}{line}") from exc
    return WhatIfArgs(tuple(scenarios), m.at or None, m.time_limit_s or None)
