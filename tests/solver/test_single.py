"""The one-workload fast path against the full solver and brute force."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings

from solver import Problem, Site, SolverConfig, Workload, solve
from solver.single import SiteArrays
from tests.helpers.solver_oracles import brute_force, check_plan, tolerance
from tests.helpers.strategies import tiny_problems

CONFIG = SolverConfig(time_limit_s=10.0, num_workers=1, relative_gap_limit=0.0)


def free_of(problem: Problem) -> dict[tuple[str, str], int]:
    return {(s.id, m): n for s in problem.sites for m, n in s.free.items()}


@settings(max_examples=150, deadline=None)
@given(tiny_problems())
@pytest.mark.slow
def test_single_matches_the_solver_and_brute_force(problem: Problem) -> None:
    """Each workload alone: same objective as the full solve and as brute force."""
    arrays = SiteArrays(problem)
    for w in problem.workloads:
        alone = replace(problem, workloads=(w,))
        plan = arrays.place(w, free_of(problem))
        optimum = brute_force(alone)
        assert plan.objective == pytest.approx(optimum, abs=tolerance(optimum))
        assert plan.bound == plan.objective
        assert plan.status == "OPTIMAL"
        check_plan(alone, plan)
        full = solve(alone, CONFIG)
        assert plan.objective == pytest.approx(full.objective, abs=tolerance(optimum))
        if plan.assignments and full.assignments:
            a, b = plan.assignments[0], full.assignments[0]
            assert a.cost_yuan == pytest.approx(b.cost_yuan, rel=1e-9, abs=1e-9)
            assert a.energy_kwh == pytest.approx(
                b.energy_kwh if (a.site_id, a.model) == (b.site_id, b.model) else a.energy_kwh
            )


@settings(max_examples=60, deadline=None)
@given(tiny_problems())
def test_single_alternatives_are_cheaper_and_really_blocked(problem: Problem) -> None:
    """Every cheaper site named is cheaper, and its reason holds for this workload."""
    arrays = SiteArrays(problem)
    sites = {s.id: s for s in problem.sites}
    free = free_of(problem)
    for w in problem.workloads:
        plan = arrays.place(w, free)
        for a in plan.assignments:
            for alt in a.alternatives:
                assert alt.cost_yuan < a.cost_yuan + 1e-9
                site = sites[alt.site_id]
                if alt.reason_kind == "capacity":
                    assert free[(site.id, alt.model)] < w.demands[alt.model]
                elif alt.reason_kind == "down":
                    assert not site.up
                elif alt.reason_kind == "latency":
                    assert w.latency_slo_ms is not None
                    assert site.latency_ms[w.origin_region] > w.latency_slo_ms
                elif alt.reason_kind == "pue":
                    assert w.max_pue is not None and site.pue > w.max_pue
                elif alt.reason_kind == "residency":
                    assert not w.admits(site)
                elif alt.reason_kind == "hub-pue":
                    cap = problem.hub_max_pue[site.hub]
                    assert site.capped_pue > cap - site.pue_cap_margin + 1e-9


def test_a_model_no_site_offers_is_unplaced_saying_so() -> None:
    """The one-workload path says which models no site offers, as the full solver does."""
    site = Site(
        id="only",
        pue=1.1,
        hourly_price=(0.5,) * 24,
        carbon_kg_per_kwh=0.5,
        latency_ms={"csj": 5.0},
        free={"H100": 16},
        power_w={"H100": 700.0},
    )
    problem = Problem(sites=(site,), workloads=())
    rare = Workload(id="rare", origin_region="csj", demands={"H800": 8}, duration_h=1.0)
    plan = SiteArrays(problem).place(rare, free_of(problem))
    (unplaced,) = plan.unplaced
    assert unplaced.reason == "no site offers H800 (the sites offer H100)"
