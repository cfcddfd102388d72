"""The CP-SAT placement model against brute force and its own constraints."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings

from solver import Problem, Site, SolverConfig, Workload, build_cost_table, nearest_site, solve
from solver.baselines import cheapest_first
from solver.costs import PairCost, price_integral
from solver.cpsat import COST_SCALE
from solver.plan import placed_weight, plan_objective
from tests.strategies import tiny_problems

CONFIG = SolverConfig(time_limit_s=10.0, num_workers=2, relative_gap_limit=0.0)


def brute_force(problem: Problem) -> tuple[int, float]:
    """The best (placed weight, least cost at that weight) over every assignment that fits."""
    table = build_cost_table(problem)
    options: list[list[PairCost | None]] = [
        [None, *table.pairs_of(wi)] for wi in range(len(problem.workloads))
    ]
    best = (0, math.inf)
    for combo in itertools.product(*options):
        used: dict[tuple[int, str], int] = {}
        for p in combo:
            if p is not None:
                used[(p.site_index, p.model)] = used.get((p.site_index, p.model), 0) + p.devices
        if any(n > problem.sites[si].free[m] for (si, m), n in used.items()):
            continue
        chosen = {p.workload_index: p for p in combo if p is not None}
        weight, cost = placed_weight(table, chosen), plan_objective(chosen)
        if weight > best[0] or (weight == best[0] and cost < best[1]):
            best = (weight, cost)
    return best


@settings(max_examples=60, deadline=None)
@given(tiny_problems())
def test_cpsat_matches_brute_force(problem: Problem) -> None:
    """On tiny instances CP-SAT places the most weight at the brute-force least cost."""
    plan = solve(problem, CONFIG)
    weight, optimum = brute_force(problem)
    assert plan.placed_weight == weight
    tolerance = len(problem.workloads) / COST_SCALE + 1e-9 * optimum
    assert plan.objective == pytest.approx(optimum, abs=tolerance)
    assert plan.bound <= optimum + tolerance
    assert plan.status == "OPTIMAL"


@settings(max_examples=60, deadline=None)
@given(tiny_problems())
def test_plan_honours_capacity_slo_and_pue(problem: Problem) -> None:
    """Every assignment fits capacity, meets the SLO and the workload's PUE cap."""
    plan = solve(problem, CONFIG)
    sites = {s.id: s for s in problem.sites}
    work = {w.id: w for w in problem.workloads}
    used: dict[tuple[str, str], int] = {}
    for a in plan.assignments:
        w, s = work[a.workload_id], sites[a.site_id]
        assert a.devices == w.demands[a.model]
        if w.latency_slo_ms is not None:
            assert s.latency_ms[w.origin_region] <= w.latency_slo_ms
        if w.max_pue is not None:
            assert s.pue <= w.max_pue
        used[(a.site_id, a.model)] = used.get((a.site_id, a.model), 0) + a.devices
    for (sid, m), n in used.items():
        assert n <= sites[sid].free[m]
    assert len(plan.assignments) + len(plan.unplaced) == len(problem.workloads)


@settings(max_examples=40, deadline=None)
@given(tiny_problems())
def test_optimizer_never_worse_than_baselines(problem: Problem) -> None:
    """The plan places at least the baselines' weight, and costs no more when they tie."""
    plan = solve(problem, CONFIG)
    slack = len(problem.workloads) / COST_SCALE
    for baseline in (nearest_site(problem), cheapest_first(problem)):
        assert plan.placed_weight >= baseline.placed_weight
        if plan.placed_weight == baseline.placed_weight:
            assert plan.objective <= baseline.objective + slack


def test_placeable_work_is_never_dropped_to_save_money() -> None:
    """A big job that only fits the cheap site is placed even if small jobs must move away."""
    cheap, dear = _site("cheap", 0.1, 5.0, free=16), _site("dear", 2.0, 5.0, free=64)
    big = Workload(
        id="big", origin_region="csj", demands={"H100": 16}, duration_h=100.0, max_pue=1.2
    )
    small = [
        Workload(id=f"s{i}", origin_region="csj", demands={"H100": 1}, duration_h=1.0)
        for i in range(20)
    ]
    dear = Site(**{**{f: getattr(dear, f) for f in dear.__dataclass_fields__}, "pue": 1.3})
    plan = solve(Problem(sites=(cheap, dear), workloads=(big, *small)), CONFIG)
    assert not plan.unplaced
    assert next(a.site_id for a in plan.assignments if a.workload_id == "big") == "cheap"


def _site(sid: str, price: float, rtt: float, free: int = 16, pue: float = 1.1) -> Site:
    return Site(
        id=sid,
        pue=pue,
        hourly_price=(price,) * 24,
        carbon_kg_per_kwh=0.5,
        latency_ms={"csj": rtt},
        free={"H100": free},
        power_w={"H100": 700.0},
    )


def test_slo_keeps_inference_near_and_explains_why() -> None:
    """A tight SLO forces the dearer near site, and the explanation names the SLO."""
    near, far = _site("near", 1.0, 3.0), _site("far", 0.3, 20.0)
    w = Workload(
        id="chat", origin_region="csj", demands={"H100": 8}, duration_h=1.0, latency_slo_ms=10.0
    )
    plan = solve(Problem(sites=(near, far), workloads=(w,)), CONFIG)
    assert [a.site_id for a in plan.assignments] == ["near"]
    assert "far" in plan.assignments[0].explanation
    assert "SLO" in plan.assignments[0].explanation


def test_priority_displaces_lower_priority_when_short() -> None:
    """With room for one workload, the higher-priority one is placed."""
    site = _site("only", 0.5, 5.0, free=8)
    low = Workload(id="low", origin_region="csj", demands={"H100": 8}, duration_h=1.0, priority=0)
    high = Workload(id="high", origin_region="csj", demands={"H100": 8}, duration_h=1.0, priority=3)
    plan = solve(Problem(sites=(site,), workloads=(low, high)), CONFIG)
    assert [a.workload_id for a in plan.assignments] == ["high"]
    assert [u.workload_id for u in plan.unplaced] == ["low"]
    assert "capacity" in plan.unplaced[0].reason


def test_energy_cost_integrates_time_of_use_prices() -> None:
    """A 2-hour run starting half-way through hour 0 pays ½·p0 + p1 + ½·p2."""
    prices = (1.0, 2.0, 4.0) + (0.0,) * 21
    assert price_integral(prices, 0.5, 2.0) == pytest.approx(0.5 + 2.0 + 2.0)
    assert price_integral(prices, 0.0, 48.0) == pytest.approx(2 * 7.0)
