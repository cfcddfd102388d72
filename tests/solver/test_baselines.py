"""The baselines: each follows its own rule, respects capacity, and never beats the optimum."""

from __future__ import annotations

from hypothesis import given, settings

from solver import (
    BASELINES,
    Problem,
    Site,
    SolverConfig,
    Workload,
    cheapest_first,
    nearest_site,
    run_baseline,
    solve,
    spread,
)
from tests.helpers.solver_oracles import tolerance
from tests.helpers.strategies import tiny_problems

CONFIG = SolverConfig(time_limit_s=10.0, num_workers=2, relative_gap_limit=0.0)


@settings(max_examples=60, deadline=None)
@given(tiny_problems())
def test_baselines_never_beat_the_proven_optimum(problem: Problem) -> None:
    """When the plan is proven optimal no baseline is cheaper."""
    plan = solve(problem, CONFIG)
    assert plan.status == "OPTIMAL"
    for name in BASELINES:
        other = run_baseline(name, problem)
        assert other.objective >= plan.objective - tolerance(plan.objective)


def _site(sid: str, price: float, rtt: float, free: int) -> Site:
    return Site(
        id=sid,
        pue=1.1,
        hourly_price=(price,) * 24,
        carbon_kg_per_kwh=0.5,
        latency_ms={"csj": rtt},
        free={"H100": free},
        power_w={"H100": 700.0},
    )


def _job(wid: str, devices: int = 4) -> Workload:
    return Workload(id=wid, origin_region="csj", demands={"H100": devices}, duration_h=1.0)


def test_each_baseline_follows_its_own_rule_in_arrival_order() -> None:
    """Near but dear, far but cheap, and a roomy middle: each rule picks its own site, and
    the second job goes where the rule sends it once the first took its room."""
    near, cheap = _site("near", 2.0, 1.0, 4), _site("cheap", 0.1, 30.0, 4)
    roomy = _site("roomy", 1.0, 10.0, 16)
    problem = Problem(sites=(near, cheap, roomy), workloads=(_job("a"), _job("b")))
    policies = {"nearest-site": nearest_site, "cheapest-first": cheapest_first, "spread": spread}

    def where(name: str) -> tuple[str, str]:
        plan = policies[name](problem)
        assert plan.assignments == run_baseline(name, problem).assignments
        sites = {a.workload_id: a.site_id for a in plan.assignments}
        return sites["a"], sites["b"]

    assert where("nearest-site") == ("near", "roomy")
    assert where("cheapest-first") == ("cheap", "roomy")
    assert where("spread") == ("roomy", "roomy")


def test_a_baseline_leaves_out_what_no_longer_fits() -> None:
    """Arrival order, never revisited: the second job finds the only site full."""
    problem = Problem(sites=(_site("only", 1.0, 1.0, 4),), workloads=(_job("a"), _job("b")))
    for name in BASELINES:
        plan = run_baseline(name, problem)
        assert [a.workload_id for a in plan.assignments] == ["a"]
        assert [u.workload_id for u in plan.unplaced] == ["b"]
