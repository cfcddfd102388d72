"""Site reports and running placements as solver input, shared by the live router and by
what-ifs (which rebuild the same input from a snapshot, changed by a scenario)."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace

import solver
from netrouter.client.types import ACTIVE, Alternative, Placement, SolveInfo, Unplaced, Workload
from netrouter.client.world import World
from netrouter.contract.messages import same_fields
from netrouter.contract.site_report import AcceleratorInventory, SiteReport
from netrouter.planning.network import NetworkModel
from solver import Assignment, NodeShape, Plan, Problem, Site

SECONDS_PER_HOUR = 3600.0
MAX_ALTERNATIVES = 8
"""Cheaper sites kept per placement, cheapest first (the explanation counts every one)."""

NOTHING_TO_SOLVE = Plan(
    assignments=(),
    unplaced=(),
    objective=0.0,
    bound=0.0,
    gap=0.0,
    status="OPTIMAL",
    wall_s=0.0,
    method="none",
)
"""The plan of a problem with no work in it: proven optimal at no cost, without a solve."""


def solver_workload(w: Workload) -> solver.Workload:
    """The client's workload as the solver's (the same fields, checked again there)."""
    return solver.Workload(**same_fields(Workload, w))


def alternative_from_solver(a: solver.Alternative) -> Alternative:
    """The solver's cheaper alternative as the client's."""
    return Alternative(**same_fields(Alternative, a))


def unplaced_from_solver(u: solver.Unplaced) -> Unplaced:
    """The solver's left-out workload as the client's."""
    return Unplaced(workload_id=u.workload_id, reason=u.reason, penalty_yuan=u.penalty_yuan)


def placement_from_solver(
    a: Assignment, *, placement_id: str, workload: Workload, created_at: float
) -> Placement:
    """An active placement of ``workload`` where the solver's assignment puts it (the
    assignment's costs as they are, its cheapest :data:`MAX_ALTERNATIVES` alternatives)."""
    return Placement(
        placement_id=placement_id,
        workload=workload,
        site_id=a.site_id,
        accelerator_model=a.model,
        devices=a.devices,
        energy_kwh=a.energy_kwh,
        energy_cost_yuan=a.energy_cost_yuan,
        cost_per_hour_yuan=a.cost_per_hour_yuan,
        carbon_kg=a.carbon_kg,
        latency_ms=a.latency_ms,
        explanation=a.explanation,
        state=ACTIVE,
        created_at=created_at,
        transfer_cost_yuan=a.transfer_cost_yuan,
        migration_cost_yuan=a.migration_cost_yuan,
        carbon_cost_yuan=a.carbon_cost_yuan,
        alternatives=tuple(alternative_from_solver(x) for x in a.alternatives[:MAX_ALTERNATIVES]),
        updated_at=created_at,
    )


def solve_info(plan: Plan) -> SolveInfo:
    """How a solve went: its objective, proven bound, gap, status, time and method."""
    return SolveInfo(**same_fields(SolveInfo, plan))


def tariff_from_now(report: SiteReport, now: float) -> tuple[float, ...]:
    """The report's 24 hourly prices rotated so element 0 is the hour containing ``now``."""
    shift = math.floor(now / SECONDS_PER_HOUR) - math.floor(report.timestamp / SECONDS_PER_HOUR)
    prices = report.next_24h_yuan_per_kwh
    shift %= len(prices)
    return prices[shift:] + prices[:shift]


def hour_elapsed(now: float) -> float:
    """How far into its clock hour ``now`` is (0–1): where the tariff integration starts."""
    return (now % SECONDS_PER_HOUR) / SECONDS_PER_HOUR


def solver_sites(
    reports: Sequence[SiteReport],
    network: NetworkModel,
    *,
    fresh: Sequence[SiteReport],
    regions: Iterable[str],
    now: float,
    pue_cap_margins: Mapping[str, float] | None = None,
    drained: Collection[str] = (),
) -> tuple[Site, ...]:
    """The solver's view of ``reports`` at ``now`` (free capacity left empty).

    Latency from each region is the fresh measured value, else the backbone's shortest
    path; transfer prices follow the backbone path (:meth:`NetworkModel.paths`). Energy is
    priced at the PUE now; the hub's cap judges the sustained PUE (the report's mean, when
    it has one), a site over its cap by the margin it must come under (``pue_cap_margins``,
    by site id: see :mod:`netrouter.router.pue_policy`). A site in ``drained`` takes no
    work (the solver's :attr:`Site.drained`).
    """
    paths = network.paths(regions, fresh, [r.site_id for r in reports])
    margins = pue_cap_margins or {}
    return tuple(
        Site(
            id=r.site_id,
            pue=r.pue,
            sustained_pue=r.pue_mean or None,
            pue_cap_margin=margins.get(r.site_id, 0.0),
            drained=r.site_id in drained,
            hourly_price=tariff_from_now(r, now),
            carbon_kg_per_kwh=r.carbon_kg_per_kwh,
            latency_ms={region: p.latency_ms for region, p in paths[r.site_id].items()},
            free={},
            power_w={a.model: a.power_w for a in r.accelerators},
            side=r.labels.side,
            hub=r.labels.hub,
            province=r.labels.province,
            transfer_yuan_per_gb={region: p.yuan_per_gb for region, p in paths[r.site_id].items()},
        )
        for r in reports
    )


def report_shape(a: AcceleratorInventory) -> NodeShape | None:
    """The node shape an agent reported for one model, if it did."""
    if not a.node_size:
        return None
    return NodeShape(
        node_size=a.node_size,
        nodes_by_free=a.nodes_by_free,
        domain_nodes=a.domain_nodes,
        domains_by_whole=a.domains_by_whole,
    )


def report_regions(reports: Iterable[SiteReport]) -> set[str]:
    """Every demand region some report measures latency from."""
    return {lat.region for r in reports for lat in r.latencies}


def world_problem(world: World) -> Problem:
    """The solver's input: up sites with their healthy devices not used by others, and
    every workload (running ones marked with where they run)."""
    reports = [r for r in world.reports.values() if r.site_id in world.up]
    regions = report_regions(world.reports.values()) | {w.origin_region for w in world.workloads}
    margins = dict.fromkeys(world.over_pue_cap, world.pue_cap_hysteresis)
    sites = solver_sites(
        reports,
        NetworkModel(world.links),
        fresh=reports,
        regions=regions,
        now=world.at,
        pue_cap_margins=margins,
        drained=world.drained,
    )
    by_id = {r.site_id: r for r in reports}
    sites = tuple(
        replace(
            s,
            free={a.model: a.available for a in by_id[s.id].accelerators},
            shape={
                a.model: shape
                for a in by_id[s.id].accelerators
                if (shape := report_shape(a)) is not None
            },
        )
        for s in sites
    )
    return Problem(
        sites=sites,
        workloads=tuple(solver_workload(w) for w in world.workloads),
        hour_elapsed=hour_elapsed(world.at),
        carbon_yuan_per_kg=world.carbon_yuan_per_kg,
        hub_max_pue=world.pue_caps(),
    )
