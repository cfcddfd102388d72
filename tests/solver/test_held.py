"""Running work whose devices are already counted as used where it runs
(:attr:`Problem.running_held`): staying takes nothing, moving takes room at the new site."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import (
    BASELINES,
    NodeShape,
    Problem,
    Site,
    SolverConfig,
    Workload,
    assembly,
    run_baseline,
    solve,
)
from solver.table import build_table
from tests.helpers.solver_oracles import (
    brute_force,
    check_plan,
    shaped_brute_force,
    tolerance,
)
from tests.helpers.strategies import shaped_problems, tiny_problems

CONFIG = SolverConfig(time_limit_s=10.0, num_workers=2, relative_gap_limit=0.0)


def _held(problem: Problem) -> Problem:
    return replace(problem, running_held=True)


@settings(max_examples=80, deadline=None)
@given(tiny_problems().map(_held))
def test_held_plans_match_brute_force(problem: Problem) -> None:
    """Counted in devices: the plan is the brute-force optimum, proven, with a valid bound."""
    plan = solve(problem, CONFIG)
    optimum = brute_force(problem)
    assert plan.objective == pytest.approx(optimum, abs=tolerance(optimum))
    assert plan.bound <= optimum + tolerance(optimum)
    assert plan.status == "OPTIMAL"
    check_plan(problem, plan)


@settings(max_examples=60, deadline=None)
@given(shaped_problems().map(_held))
def test_held_shaped_plans_match_brute_force(problem: Problem) -> None:
    """On nodes: staying needs no node, moving needs one at the new site."""
    plan = solve(problem, CONFIG)
    optimum = shaped_brute_force(problem)
    assert plan.bound <= optimum + tolerance(optimum)
    assert plan.objective == pytest.approx(optimum, abs=tolerance(optimum))
    check_plan(problem, plan)


@settings(max_examples=40, deadline=None)
@given(shaped_problems().map(_held))
def test_held_split_plans_fit_and_keep_a_valid_bound(problem: Problem) -> None:
    """With every node table 'too large' (the split path), staying work is kept as it is
    and the rest placed on what is left: the plan fits, its bound stays below the optimum."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(assembly, "NODE_TABLE_MAX_PAIRS", 0)
        plan = solve(problem, CONFIG)
    optimum = shaped_brute_force(problem)
    assert plan.objective >= optimum - tolerance(optimum)
    assert plan.bound <= optimum + tolerance(optimum)
    check_plan(problem, plan)


@settings(max_examples=40, deadline=None)
@given(st.one_of(tiny_problems(), shaped_problems()).map(_held))
def test_baselines_respect_held_work(problem: Problem) -> None:
    for name in BASELINES:
        check_plan(problem, run_baseline(name, problem))


def _site(site_id: str, price: float, free: int, shape: NodeShape | None = None) -> Site:
    return Site(
        id=site_id,
        pue=1.2,
        hourly_price=(price,) * 24,
        carbon_kg_per_kwh=0.5,
        latency_ms={"r": 5.0},
        free={"H100": free},
        power_w={"H100": 700.0},
        shape={} if shape is None else {"H100": shape},
    )


def _job(job_id: str, devices: int, current: str | None = None, migration: float = 0.0) -> Workload:
    return Workload(
        id=job_id,
        origin_region="r",
        demands={"H100": devices},
        duration_h=4.0,
        current_site=current,
        migration_cost_yuan=migration,
    )


def test_staying_takes_no_free_devices() -> None:
    """A full site keeps its running job; new work goes elsewhere."""
    full = _site("full", 0.3, 0, NodeShape.of_nodes(8, [0]))
    other = _site("other", 0.9, 8, NodeShape.of_nodes(8, [8]))
    problem = Problem(
        sites=(full, other),
        workloads=(_job("running", 8, current="full", migration=1000.0), _job("new", 8)),
        running_held=True,
    )
    plan = solve(problem, CONFIG)
    where = {a.workload_id: a.site_id for a in plan.assignments}
    assert where == {"running": "full", "new": "other"}
    assert not plan.unplaced
    check_plan(problem, plan)


def test_moving_takes_room_and_frees_none_now() -> None:
    """Work that would move to a cheaper site takes its room there; the devices it would
    leave are not offered to this batch's new work, so the plan keeps it and places both."""
    dear = _site("dear", 3.0, 0)
    cheap = _site("cheap", 0.1, 4)
    problem = Problem(
        sites=(dear, cheap),
        workloads=(_job("running", 4, current="dear"), _job("new", 4)),
        running_held=True,
        unplaced_yuan_per_kwh=5.0,
    )
    plan = solve(problem, CONFIG)
    where = {a.workload_id: a.site_id for a in plan.assignments}
    assert where.get("new") != "dear"  # dear's devices stay the running job's
    assert where == {"running": "dear", "new": "cheap"}
    assert plan.objective == pytest.approx(brute_force(problem))
    check_plan(problem, plan)


def test_staying_has_a_pool_of_its_own() -> None:
    """The table: the stay is an arc to a pool only that workload uses, as large as it
    needs; the site's free devices are untouched by it."""
    problem = Problem(
        sites=(_site("a", 0.5, 2),),
        workloads=(_job("running", 6, current="a"), _job("new", 2)),
        running_held=True,
    )
    table, _ = build_table(problem)
    assert table.pool_held is not None
    assert table.pool_held.tolist() == [-1, 0]
    assert table.pool_cap.tolist() == [2, 6]
    stay = np.flatnonzero(table.arc_w == 0)
    assert table.arc_pool[stay].tolist() == [1]
    assert table.fits(np.array([int(stay[0]), int(np.flatnonzero(table.arc_w == 1)[0])]))
