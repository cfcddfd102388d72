"""The one place protobuf meets the domain: conversions both ways.

Request conversion validates as it goes and raises :class:`InvalidArgumentError` naming the
offending field (``workloads[3].demands``), so servicers stay thin.
"""

from __future__ import annotations

import math

from netrouter.errors import InvalidArgumentError
from netrouter.types import (
    AcceleratorCapacity,
    AcceleratorInventory,
    Placement,
    PlaceResult,
    RegionLatency,
    SiteLabels,
    SiteReport,
    SiteView,
    SolveInfo,
    Unplaced,
)
from netrouter.v1 import router_pb2 as pb
from netrouter.v1 import site_report_pb2 as rpb
from solver import InvalidProblemError, Workload

# --- site reports ------------------------------------------------------------------------


def labels_from_pb(m: rpb.SiteLabels) -> SiteLabels:
    return SiteLabels(
        name=m.name,
        hub=m.hub,
        hub_name=m.hub_name,
        province=m.province,
        side=m.side,
        latitude=m.latitude,
        longitude=m.longitude,
        pue_cap=m.pue_cap,
    )


def labels_to_pb(labels: SiteLabels) -> rpb.SiteLabels:
    return rpb.SiteLabels(
        name=labels.name,
        hub=labels.hub,
        hub_name=labels.hub_name,
        province=labels.province,
        side=labels.side,
        latitude=labels.latitude,
        longitude=labels.longitude,
        pue_cap=labels.pue_cap,
    )


def latency_from_pb(m: rpb.RegionLatency) -> RegionLatency:
    return RegionLatency(region=m.region, rtt_ms=m.rtt_ms, measured=m.measured)


def latency_to_pb(latency: RegionLatency) -> rpb.RegionLatency:
    return rpb.RegionLatency(
        region=latency.region, rtt_ms=latency.rtt_ms, measured=latency.measured
    )


def report_from_pb(m: rpb.SiteReport) -> SiteReport:
    """Map a decoded report to the domain type (range checks live in :mod:`netrouter.reports`)."""
    return SiteReport(
        site_id=m.site_id,
        boot_id=m.boot_id,
        sequence=m.sequence,
        timestamp=m.timestamp,
        labels=labels_from_pb(m.labels),
        accelerators=tuple(
            AcceleratorInventory(
                model=a.model,
                total=a.total,
                healthy=a.healthy,
                in_use_by_others=a.in_use_by_others,
                power_w=a.power_w,
                from_static_config=a.from_static_config,
            )
            for a in m.accelerators
        ),
        pue=m.pue,
        price_now_yuan_per_kwh=m.tariff.price_now_yuan_per_kwh,
        next_24h_yuan_per_kwh=tuple(m.tariff.next_24h_yuan_per_kwh),
        timezone=m.tariff.timezone,
        carbon_kg_per_kwh=m.carbon_kg_per_kwh,
        latencies=tuple(latency_from_pb(x) for x in m.latencies),
        report_interval_s=m.report_interval_s,
    )


# --- workloads ---------------------------------------------------------------------------


def workload_from_pb(m: pb.Workload, field: str = "workload") -> Workload:
    """Validate and convert one requested workload; errors name ``field``'s sub-field."""
    demands: dict[str, int] = {}
    for i, d in enumerate(m.demands):
        if d.model in demands:
            raise InvalidArgumentError(f"{field}.demands[{i}].model", f"duplicate {d.model!r}")
        demands[d.model] = d.count
    for name, value in (
        ("power_w_per_device", m.power_w_per_device),
        ("duration_h", m.duration_h),
        ("latency_slo_ms", m.latency_slo_ms),
        ("max_pue", m.max_pue),
    ):
        if not math.isfinite(value) or value < 0:
            raise InvalidArgumentError(
                f"{field}.{name}", f"must be a finite number >= 0, got {value}"
            )
    try:
        return Workload(
            id=m.id,
            origin_region=m.origin_region,
            demands=demands,
            duration_h=m.duration_h,
            power_w_per_device=m.power_w_per_device or None,
            latency_slo_ms=m.latency_slo_ms or None,
            max_pue=m.max_pue or None,
            priority=m.priority,
            labels=dict(m.labels),
        )
    except InvalidProblemError as exc:
        raise InvalidArgumentError(f"{field}.{exc.field}", exc.message) from exc


def workload_to_pb(w: Workload) -> pb.Workload:
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
    )


# --- placements --------------------------------------------------------------------------


def placement_to_pb(p: Placement) -> pb.Placement:
    return pb.Placement(
        placement_id=p.placement_id,
        workload_id=p.workload.id,
        site_id=p.site_id,
        accelerator_model=p.accelerator_model,
        devices=p.devices,
        cost=pb.CostBreakdown(
            energy_kwh=p.energy_kwh,
            energy_cost_yuan=p.energy_cost_yuan,
            cost_per_hour_yuan=p.cost_per_hour_yuan,
            carbon_kg=p.carbon_kg,
        ),
        latency_ms=p.latency_ms if p.latency_ms is not None else -1.0,
        explanation=p.explanation,
        state=p.state,
        created_at=p.created_at,
        workload=workload_to_pb(p.workload),
    )


def placement_from_pb(m: pb.Placement) -> Placement:
    return Placement(
        placement_id=m.placement_id,
        workload=workload_from_pb(m.workload),
        site_id=m.site_id,
        accelerator_model=m.accelerator_model,
        devices=m.devices,
        energy_kwh=m.cost.energy_kwh,
        energy_cost_yuan=m.cost.energy_cost_yuan,
        cost_per_hour_yuan=m.cost.cost_per_hour_yuan,
        carbon_kg=m.cost.carbon_kg,
        latency_ms=m.latency_ms if m.latency_ms >= 0 else None,
        explanation=m.explanation,
        state=m.state,
        created_at=m.created_at,
    )


def place_result_to_pb(r: PlaceResult) -> pb.PlaceResponse:
    return pb.PlaceResponse(
        placements=[placement_to_pb(p) for p in r.placements],
        unplaced=[pb.Unplaced(workload_id=u.workload_id, reason=u.reason) for u in r.unplaced],
        solve=pb.SolveInfo(
            objective=r.solve.objective,
            bound=r.solve.bound,
            gap=r.solve.gap,
            status=r.solve.status,
            wall_s=r.solve.wall_s,
            method=r.solve.method,
        ),
        dry_run=r.dry_run,
    )


def place_result_from_pb(m: pb.PlaceResponse) -> PlaceResult:
    return PlaceResult(
        placements=tuple(placement_from_pb(p) for p in m.placements),
        unplaced=tuple(Unplaced(workload_id=u.workload_id, reason=u.reason) for u in m.unplaced),
        solve=SolveInfo(
            objective=m.solve.objective,
            bound=m.solve.bound,
            gap=m.solve.gap,
            status=m.solve.status,
            wall_s=m.solve.wall_s,
            method=m.solve.method,
        ),
        dry_run=m.dry_run,
    )


# --- sites -------------------------------------------------------------------------------


def site_view_to_pb(v: SiteView) -> pb.SiteView:
    return pb.SiteView(
        site_id=v.site_id,
        labels=labels_to_pb(v.labels),
        up=v.up,
        down_reason=v.down_reason,
        report_age_s=v.report_age_s,
        pue=v.pue,
        price_now_yuan_per_kwh=v.price_now_yuan_per_kwh,
        carbon_kg_per_kwh=v.carbon_kg_per_kwh,
        accelerators=[
            pb.AcceleratorCapacity(
                model=a.model,
                total=a.total,
                healthy=a.healthy,
                in_use_by_others=a.in_use_by_others,
                placed=a.placed,
                free=a.free,
                power_w=a.power_w,
            )
            for a in v.accelerators
        ],
        latencies=[latency_to_pb(x) for x in v.latencies],
    )


def site_view_from_pb(m: pb.SiteView) -> SiteView:
    return SiteView(
        site_id=m.site_id,
        labels=labels_from_pb(m.labels),
        up=m.up,
        down_reason=m.down_reason,
        report_age_s=m.report_age_s,
        pue=m.pue,
        price_now_yuan_per_kwh=m.price_now_yuan_per_kwh,
        carbon_kg_per_kwh=m.carbon_kg_per_kwh,
        accelerators=tuple(
            AcceleratorCapacity(
                model=a.model,
                total=a.total,
                healthy=a.healthy,
                in_use_by_others=a.in_use_by_others,
                placed=a.placed,
                free=a.free,
                power_w=a.power_w,
            )
            for a in m.accelerators
        ),
        latencies=tuple(latency_from_pb(x) for x in m.latencies),
    )
