"""The optimizer against brute force, its own constraints, the baselines and its reasons."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings

from solver import (
    BASELINES,
    Plan,
    Problem,
    Site,
    SolverConfig,
    Workload,
    run_baseline,
    solve,
)
from solver.single import SiteArrays
from solver.table import Context
from tests.helpers.solver_oracles import brute_force, check_plan, tolerance
from tests.helpers.strategies import tiny_problems

CONFIG = SolverConfig(time_limit_s=10.0, num_workers=2, relative_gap_limit=0.0)


@settings(max_examples=80, deadline=None)
@given(tiny_problems())
def test_solver_matches_brute_force(problem: Problem) -> None:
    """On tiny instances the plan is optimal, proven so, and its bound is below it."""
    plan = solve(problem, CONFIG)
    optimum = brute_force(problem)
    assert plan.objective == pytest.approx(optimum, abs=tolerance(optimum))
    assert plan.bound <= optimum + tolerance(optimum)
    assert plan.status == "OPTIMAL"


@settings(max_examples=80, deadline=None)
@given(tiny_problems())
def test_every_plan_satisfies_every_constraint(problem: Problem) -> None:
    """The optimizer's and every baseline's plan respect the model."""
    check_plan(problem, solve(problem, CONFIG))
    for name in BASELINES:
        check_plan(problem, run_baseline(name, problem))


def _binding(
    problem: Problem, plan: Plan, workload_id: str, kind: str, site_id: str, model: str
) -> bool:
    """Whether reason ``kind`` really keeps ``workload_id`` off ``model`` at ``site_id``."""
    w = next(x for x in problem.workloads if x.id == workload_id)
    s = next(x for x in problem.sites if x.id == site_id)
    left = {m: s.free.get(m, 0) for m in s.power_w}
    for a in plan.assignments:
        if a.site_id == site_id:
            left[a.model] -= a.devices
    models = [model]
    if kind == "down":
        return not s.up
    if kind == "residency":
        return not w.admits(s)
    if kind == "hub-pue":
        cap = problem.hub_max_pue.get(s.hub, math.inf)
        return s.capped_pue > cap - s.pue_cap_margin + 1e-9
    if kind == "pue":
        return w.max_pue is not None and s.pue > w.max_pue
    if kind == "latency":
        return w.latency_slo_ms is not None and s.latency_ms[w.origin_region] > w.latency_slo_ms
    if kind == "capacity":
        return all(s.free.get(m, 0) < w.demands[m] for m in models)
    if kind in ("taken", "displaced-by-priority"):
        return all(left[m] < w.demands[m] for m in models)
    if kind == "not-worth-it":
        index = [x.id for x in problem.workloads].index(workload_id)
        penalty = float(Context(problem).penalty[index])
        alt_cost = next(
            x.cost_yuan
            for a in plan.assignments
            if a.workload_id == workload_id
            for x in a.alternatives
            if x.site_id == site_id and x.model == model
        )
        return alt_cost >= penalty
    return False


@settings(max_examples=80, deadline=None)
@given(tiny_problems())
def test_explanations_name_a_binding_reason(problem: Problem) -> None:
    """Every cheaper site a workload did not get comes with a reason that holds."""
    plan = solve(problem, CONFIG)
    for a in plan.assignments:
        for alt in a.alternatives:
            assert alt.cost_yuan < a.cost_yuan
            assert _binding(
                problem, plan, a.workload_id, alt.reason_kind, alt.site_id, alt.model
            ), alt


def _site(
    sid: str, price: float, rtt: float, free: int = 16, pue: float = 1.1, **kw: object
) -> Site:
    return Site(
        id=sid,
        pue=pue,
        hourly_price=(price,) * 24,
        carbon_kg_per_kwh=0.5,
        latency_ms={"csj": rtt},
        free={"H100": free},
        power_w={"H100": 700.0},
        **kw,  # type: ignore[arg-type]
    )


def test_slo_keeps_inference_near_and_explains_why() -> None:
    """A tight SLO forces the dearer near site, and the explanation names the SLO."""
    near, far = _site("near", 1.0, 3.0), _site("far", 0.3, 20.0)
    w = Workload(
        id="chat", origin_region="csj", demands={"H100": 8}, duration_h=1.0, latency_slo_ms=10.0
    )
    plan = solve(Problem(sites=(near, far), workloads=(w,)), CONFIG)
    (a,) = plan.assignments
    assert a.site_id == "near"
    assert [(x.site_id, x.reason_kind) for x in a.alternatives] == [("far", "latency")]
    assert "SLO" in a.explanation


def test_a_model_no_site_offers_is_unplaced_saying_so() -> None:
    """Work that only H800 or H20 can run is left out naming them and what the sites have."""
    rare = Workload(id="rare", origin_region="csj", demands={"H800": 8, "H20": 8}, duration_h=1.0)
    common = Workload(id="common", origin_region="csj", demands={"H100": 8}, duration_h=1.0)
    plan = solve(Problem(sites=(_site("only", 0.5, 5.0),), workloads=(rare, common)), CONFIG)
    assert [a.workload_id for a in plan.assignments] == ["common"]
    (unplaced,) = plan.unplaced
    assert unplaced.reason == "no site offers H20 or H800 (the sites offer H100)"


def test_priority_displaces_lower_priority_when_short() -> None:
    """With room for one workload, the higher-priority one is placed, and the other is told."""
    site = _site("only", 0.5, 5.0, free=8)
    low = Workload(id="low", origin_region="csj", demands={"H100": 8}, duration_h=1.0, priority=0)
    high = Workload(id="high", origin_region="csj", demands={"H100": 8}, duration_h=1.0, priority=3)
    plan = solve(Problem(sites=(site,), workloads=(low, high)), CONFIG)
    assert [a.workload_id for a in plan.assignments] == ["high"]
    assert [u.workload_id for u in plan.unplaced] == ["low"]
    assert "higher-priority" in plan.unplaced[0].reason
    assert plan.unplaced[0].penalty_yuan > 0


def test_cheaper_site_taken_by_higher_priority_is_explained() -> None:
    """A workload sent to the dear site learns the cheap one went to higher-priority work."""
    cheap, dear = _site("cheap", 0.2, 5.0, free=8), _site("dear", 1.0, 5.0, free=8)
    low = Workload(id="low", origin_region="csj", demands={"H100": 8}, duration_h=2.0)
    high = Workload(id="high", origin_region="csj", demands={"H100": 8}, duration_h=2.0, priority=5)
    plan = solve(Problem(sites=(cheap, dear), workloads=(low, high)), CONFIG)
    where = {a.workload_id: a for a in plan.assignments}
    assert where["high"].site_id == "cheap"
    assert where["low"].site_id == "dear"
    assert [x.reason_kind for x in where["low"].alternatives] == ["displaced-by-priority"]


def test_residency_hub_cap_down_site_and_migration() -> None:
    """Residency, a hub's PUE cap and a down site rule sites out; moving running work costs."""
    home = _site("home", 0.9, 5.0, hub="east", province="sh")
    capped = _site("capped", 0.1, 5.0, pue=1.3, hub="east", province="sh")
    down = _site("down", 0.1, 5.0, up=False, province="sh")
    abroad = _site("abroad", 0.1, 5.0, province="xx")
    cheap = _site("cheap", 0.5, 5.0, province="sh", transfer_yuan_per_gb={"csj": 0.01})
    running = Workload(
        id="run",
        origin_region="csj",
        demands={"H100": 8},
        duration_h=10.0,
        forbidden_provinces=frozenset({"xx"}),
        current_site="home",
        migration_cost_yuan=1_000.0,
        data_gb=100.0,
    )
    problem = Problem(
        sites=(home, capped, down, abroad, cheap),
        workloads=(running,),
        hub_max_pue={"east": 1.25},
    )
    # Running at home with a dear migration: it stays, and nothing is cheaper once that counts.
    plan = solve(problem, CONFIG)
    (a,) = plan.assignments
    assert a.site_id == "home" and not a.moved and a.migration_cost_yuan == 0.0
    assert a.transfer_cost_yuan == 0.0
    # Free to move: the cheapest admissible site wins and the data transfer is paid.
    free_move = replace(running, migration_cost_yuan=0.0)
    plan = solve(replace(problem, workloads=(free_move,)), CONFIG)
    (a,) = plan.assignments
    assert a.site_id == "cheap" and a.moved
    assert a.transfer_cost_yuan == pytest.approx(100.0 * 0.01)
    kinds = {x.site_id: x.reason_kind for x in a.alternatives}
    assert kinds == {"capped": "hub-pue", "down": "down", "abroad": "residency"}


def test_hub_cap_is_judged_on_the_sustained_pue_with_hysteresis() -> None:
    """The hub's cap looks at the sustained PUE, not the PUE now; a site over its cap must
    come its margin under it; the explanation names the sustained PUE and the cap."""
    home = _site("home", 0.9, 5.0, hub="csj")
    w = Workload(id="job", origin_region="csj", demands={"H100": 8}, duration_h=2.0)

    def kind_at(hot: Site) -> str:
        """What keeps the job off ``hot`` ("" if nothing), the same on both paths."""
        problem = Problem(sites=(home, hot), workloads=(w,), hub_max_pue={"csj": 1.25})
        free = {(s.id, "H100"): 16 for s in problem.sites}
        found = set()
        for plan in (solve(problem, CONFIG), SiteArrays(problem).place(w, free)):
            (a,) = plan.assignments
            alt = {x.site_id: x for x in a.alternatives}.get("hot")
            found.add("" if alt is None else f"{alt.reason_kind}: {alt.reason}")
        (kind,) = found
        return kind

    hot = _site("hot", 0.1, 5.0, pue=1.20, hub="csj")
    # A cool afternoon does not hide a hot week, nor a hot afternoon a cool week.
    assert kind_at(replace(hot, sustained_pue=1.27)) == (
        "hub-pue: sustained PUE 1.27 above hub csj's cap 1.25"
    )
    assert kind_at(replace(hot, pue=1.30, sustained_pue=1.24)) == ""
    assert kind_at(replace(hot, pue=1.30)) == "hub-pue: PUE 1.30 above hub csj's cap 1.25"
    # Over its cap (margin 0.02): 1.24 is not yet back; 1.23 is.
    over = replace(hot, pue_cap_margin=0.02)
    assert kind_at(replace(over, sustained_pue=1.24)) == (
        "hub-pue: sustained PUE 1.24 still over hub csj's cap 1.25 until back to 1.23"
    )
    assert kind_at(replace(over, sustained_pue=1.23)) == ""


def test_carbon_price_moves_work_to_cleaner_grid() -> None:
    """A carbon price turns the choice from the cheap dirty grid to the clean one."""
    dirty = replace(_site("dirty", 0.30, 5.0), carbon_kg_per_kwh=0.9)
    clean = replace(_site("clean", 0.35, 5.0), carbon_kg_per_kwh=0.1)
    w = Workload(id="job", origin_region="csj", demands={"H100": 8}, duration_h=5.0)
    free = solve(Problem(sites=(dirty, clean), workloads=(w,)), CONFIG)
    priced = solve(Problem(sites=(dirty, clean), workloads=(w,), carbon_yuan_per_kg=0.2), CONFIG)
    assert free.assignments[0].site_id == "dirty"
    assert priced.assignments[0].site_id == "clean"
    assert priced.assignments[0].carbon_cost_yuan == pytest.approx(
        priced.assignments[0].carbon_kg * 0.2
    )
