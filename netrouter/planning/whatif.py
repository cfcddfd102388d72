"""What-if: the baseline and each scenario solved on the same solver, side by side.

The baseline is the state as it is (a router's live state, or a snapshot of it): every
active placement's remaining work, running where it is (moving it costs its migration),
on the sites that are up. Each scenario changes that state (:mod:`netrouter.client.changes`) and
is solved the same way. Nothing is committed. The report gives, for the baseline and each
scenario, cost (over the work's remaining run, per hour now, and over the next day),
energy, carbon, the east/west split, utilisation per site, latency-SLO violations and
unplaced work; and, per scenario, the differences and every workload that moves (from
where to where, and why).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from netrouter.client import convert
from netrouter.client.errors import InvalidArgumentError
from netrouter.client.scenario import Scenario, apply
from netrouter.client.types import Snapshot
from netrouter.client.whatif_report import (
    WHATIF_RELATIVE_GAP,
    WHATIF_TIME_LIMIT_S,
    Diff,
    Flow,
    MoveRow,
    Result,
    ScenarioResult,
    SideRow,
    SiteRow,
    SolveRow,
    UnplacedRow,
    WhatIfReport,
    west_share,
)
from netrouter.client.world import World
from netrouter.contract.limits import MAX_PUE_CAP_HYSTERESIS
from netrouter.contract.site_report import ReportRejectedError, validate_report
from netrouter.planning.network import check_links
from netrouter.planning.problem import world_problem
from netrouter.v1 import router_pb2 as pb
from solver import Plan, Problem, Site, SolverConfig, solve
from solver.model import HOURS_PER_DAY
from solver.table import price_integrals

DEFAULT_SOLVER = SolverConfig(
    time_limit_s=WHATIF_TIME_LIMIT_S, relative_gap_limit=WHATIF_RELATIVE_GAP
)


Progress = Callable[[str], None]


def run_whatif(
    snapshot: Snapshot,
    scenarios: Sequence[Scenario],
    *,
    config: SolverConfig = DEFAULT_SOLVER,
    at: float | None = None,
    progress: Progress | None = None,
) -> WhatIfReport:
    """Solve the snapshot's state and each scenario of it; nothing is committed.

    ``at`` (default: when the snapshot was taken) is the instant the prices and remaining
    run times are taken at. Raises :class:`netrouter.client.world.ScenarioError` when a
    scenario names something the state does not have.
    """
    world = World.from_snapshot(snapshot, at)
    # Apply every scenario first: a bad one fails before any solving.
    changed = [(s, apply(s, world)) for s in scenarios]
    say = progress or (lambda _: None)
    say("baseline")
    baseline, _ = solve_world(world, config)
    out = []
    for scenario, w in changed:
        say(scenario.name)
        result, plan = solve_world(w, config)
        out.append(
            ScenarioResult(
                name=scenario.name,
                description=scenario.description,
                result=result,
                diff=diff(baseline, result, w, plan),
            )
        )
    return WhatIfReport(taken_at=snapshot.taken_at, at=world.at, baseline=baseline, scenarios=out)


def solve_world(world: World, config: SolverConfig = DEFAULT_SOLVER) -> tuple[Result, Plan]:
    """The solver's plan for ``world``, and its summary."""
    problem = world_problem(world)
    plan = solve(problem, config)
    return summarise(world, problem, plan), plan


def summarise(world: World, problem: Problem, plan: Plan) -> Result:
    """The report's figures for ``plan`` of ``world``: cost, energy, carbon, sides, sites."""
    sites = {s.id: s for s in problem.sites}
    work = {w.id: w for w in problem.workloads}
    rows: dict[str, SiteRow] = {}
    for sid, r in world.reports.items():
        up = sid in world.up
        capacity = sum(a.available for a in r.accelerators)
        rows[sid] = SiteRow(
            site_id=sid,
            hub=r.labels.hub,
            side=r.labels.side,
            latitude=r.labels.latitude,
            longitude=r.labels.longitude,
            up=up,
            capacity=capacity if up else 0,
        )
    sides: dict[str, SideRow] = {}
    cost = per_hour = per_day = energy = day_energy = carbon = 0.0
    latencies = []
    where = dict.fromkeys(work, "")
    for a in plan.assignments:
        w, site = work[a.workload_id], sites[a.site_id]
        where[a.workload_id] = a.site_id
        kw = a.energy_kwh / w.duration_h
        day_h = min(HOURS_PER_DAY, w.duration_h)
        prices = np.asarray(site.hourly_price, dtype=np.float64)
        day_price = float(price_integrals(prices, problem.hour_elapsed, np.array([day_h]))[0, 0])
        share = day_h / w.duration_h
        per_day += (
            kw * day_price
            + a.carbon_cost_yuan * share
            + a.transfer_cost_yuan
            + a.migration_cost_yuan
        )
        cost += a.cost_yuan
        per_hour += a.cost_per_hour_yuan
        energy += a.energy_kwh
        day_energy += kw * day_h
        carbon += a.carbon_kg
        if a.latency_ms is not None:
            latencies.append(a.latency_ms)
        row = rows[a.site_id]
        row.devices += a.devices
        row.placed += 1
        row.cost_yuan += a.cost_yuan
        row.energy_kwh += a.energy_kwh
        side = sides.setdefault(row.side or "unknown", SideRow())
        side.placed += 1
        side.devices += a.devices
        side.energy_kwh += a.energy_kwh
        side.cost_yuan += a.cost_yuan
    for row in rows.values():
        row.utilisation = row.devices / row.capacity if row.capacity else 0.0
    return Result(
        cost_yuan=cost,
        cost_per_hour_yuan=per_hour,
        cost_per_day_yuan=per_day,
        energy_kwh=energy,
        energy_per_day_kwh=day_energy,
        carbon_kg=carbon,
        placed=len(plan.assignments),
        unplaced=len(plan.unplaced),
        slo_violations=_slo_violations(world, problem, sites),
        sides=sides,
        sites=sorted(rows.values(), key=lambda r: r.site_id),
        latencies_ms=sorted(latencies),
        where=where,
        unplaced_work=[
            UnplacedRow(workload_id=u.workload_id, reason=u.reason) for u in plan.unplaced
        ],
        solve=SolveRow.model_validate(plan, from_attributes=True),
    )


def _slo_violations(world: World, problem: Problem, sites: Mapping[str, Site]) -> int:
    """Running work with an SLO whose (up) site is now too far from its users."""
    count = 0
    for w in problem.workloads:
        site = sites.get(world.running.get(w.id, ""))
        if w.latency_slo_ms is None or site is None:
            continue
        if site.latency_ms.get(w.origin_region, float("inf")) > w.latency_slo_ms:
            count += 1
    return count


def diff(baseline: Result, scenario: Result, world: World, plan: Plan) -> Diff:
    """Scenario − baseline, with every workload in both that changes site, and why
    (``plan``: the scenario's, whose explanations say what ruled out cheaper sites)."""
    moves = []
    alternatives = {
        (a.workload_id, alt.site_id): alt.reason for a in plan.assignments for alt in a.alternatives
    }
    unplaced_why = {u.workload_id: u.reason for u in scenario.unplaced_work}
    for wid, before in sorted(baseline.where.items()):
        if wid not in scenario.where:
            continue
        after = scenario.where[wid]
        if after == before:
            continue
        if not after:
            reason = f"left out: {unplaced_why.get(wid, '')}"
        elif not before:
            reason = "placed: the baseline left it out"
        elif before not in world.up:
            reason = f"{before} is down"
        elif (wid, before) in alternatives:
            reason = f"{before}: {alternatives[(wid, before)]}"
        else:
            reason = f"cheaper at {after}"
        moves.append(MoveRow(workload_id=wid, from_site=before, to_site=after, reason=reason))
    flows = Counter((m.from_site, m.to_site) for m in moves)
    return Diff(
        cost_yuan=scenario.cost_yuan - baseline.cost_yuan,
        cost_per_hour_yuan=scenario.cost_per_hour_yuan - baseline.cost_per_hour_yuan,
        cost_per_day_yuan=scenario.cost_per_day_yuan - baseline.cost_per_day_yuan,
        energy_kwh=scenario.energy_kwh - baseline.energy_kwh,
        carbon_kg=scenario.carbon_kg - baseline.carbon_kg,
        placed=scenario.placed - baseline.placed,
        unplaced=scenario.unplaced - baseline.unplaced,
        slo_violations=scenario.slo_violations - baseline.slo_violations,
        west_share_delta=west_share(scenario) - west_share(baseline),
        moved=len(moves),
        moves=moves,
        flows=[
            Flow(from_site=a, to_site=b, workloads=n)
            for (a, b), n in sorted(flows.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        added=len(set(scenario.where) - set(baseline.where)),
        removed=len(set(baseline.where) - set(scenario.where)),
    )


class SnapshotFileError(ValueError):
    """A snapshot file is unreadable or not a snapshot."""


def save_snapshot(snapshot: Snapshot, path: str | Path) -> None:
    """Write ``snapshot`` as JSON (protobuf's JSON mapping of ``StateSnapshot``), or as
    binary protobuf when the name ends in ``.pb``; written whole or not at all."""
    path = Path(path)
    message = convert.snapshot_to_pb(snapshot)
    if path.suffix == ".pb":
        data = message.SerializeToString()
    else:
        data = json_format.MessageToJson(message, preserving_proto_field_name=True).encode()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def load_snapshot(path: str | Path) -> Snapshot:
    """Read a snapshot written by :func:`save_snapshot` (or ``netrouter snapshot``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SnapshotFileError(f"{path}: cannot read: {exc.strerror}") from exc
    message = pb.StateSnapshot()
    try:
        if path.suffix == ".pb":
            message.ParseFromString(data)
        else:
            json_format.Parse(data.decode("utf-8"), message)
    except (json_format.ParseError, DecodeError, UnicodeDecodeError) as exc:
        raise SnapshotFileError(f"{path}: not a netrouter snapshot: {exc}") from exc
    try:
        snapshot = convert.snapshot_from_pb(message)
        # A snapshot may come from anywhere: its reports and links keep to the ranges a
        # live router accepts.
        for i, report in enumerate(snapshot.site_reports):
            try:
                validate_report(report)
            except ReportRejectedError as exc:
                raise InvalidArgumentError(f"site_reports[{i}]", exc.detail) from exc
        check_links(snapshot.links)
        if not 0.0 <= snapshot.pue_cap_hysteresis <= MAX_PUE_CAP_HYSTERESIS:  # NaN too
            raise InvalidArgumentError(
                "pue_cap_hysteresis",
                f"must be in [0, {MAX_PUE_CAP_HYSTERESIS}], got {snapshot.pue_cap_hysteresis}",
            )
    except InvalidArgumentError as exc:
        raise SnapshotFileError(f"{path}: {exc}") from exc
    return snapshot
