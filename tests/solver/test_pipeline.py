"""The optimizer's pipeline: optimal on tiny GAPs and a published instance, complete and
bounded on a tight one, and each method keeps plans feasible."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from benchmarks.orlib import GapInstance, gap_table, parse_orlib
from solver import InvalidProblemError, Problem, SolverConfig, build_table
from solver.pipeline import optimize, relative_gap
from tests.helpers.solver_oracles import brute_force, tiny_gaps, tolerance, type_d_table
from tests.helpers.strategies import tiny_problems

DATA = Path(__file__).resolve().parent.parent / "data"


@settings(max_examples=120, deadline=None)
@given(tiny_gaps())
def test_gap_matches_brute_force(instance: GapInstance) -> None:
    """Every item assigned at the least cost, or no full assignment exists."""
    m, n = instance.agents, instance.items
    best = math.inf
    for combo in itertools.product(range(m), repeat=n):
        used = np.zeros(m, dtype=np.int64)
        for j, i in enumerate(combo):
            used[i] += instance.weight[i, j]
        if np.all(used <= instance.capacity):
            best = min(best, sum(int(instance.cost[i, j]) for j, i in enumerate(combo)))
    table = gap_table(instance)
    out = optimize(table, SolverConfig(time_limit_s=5.0, relative_gap_limit=0.0))
    complete = bool(np.all(out.choice >= 0))
    if math.isinf(best):
        assert not complete
        return
    assert complete and table.fits(out.choice)
    assert out.objective == pytest.approx(best)
    assert out.bound <= best + 1e-6
    assert out.optimal


def test_orlibrary_instance_solves_to_its_published_optimum() -> None:
    """cattrysse1994 gap1-0: optimum 261, proven."""
    table = gap_table(parse_orlib((DATA / "orlib_gap1-0.txt").read_text()))
    out = optimize(table, SolverConfig(time_limit_s=10.0, relative_gap_limit=0.0))
    assert out.optimal
    assert out.objective == pytest.approx(261.0)
    assert 260.0 < out.bound <= 261.0


def test_optimizer_on_a_tight_heterogeneous_instance_is_complete_and_fits() -> None:
    """A generated type-d-like instance (cost falls as weight rises, capacity 80% of
    the average need): the plan is complete, fits, and stays above the bound."""
    table = type_d_table(7, 8, 48)
    out = optimize(table, SolverConfig(time_limit_s=4.0, relative_gap_limit=0.0))
    assert np.all(out.choice >= 0)
    assert table.fits(out.choice)
    assert out.bound <= out.objective + 1e-9


@settings(max_examples=40, deadline=None)
@given(tiny_problems())
def test_every_method_fits_and_exact_is_optimal_against_brute_force(problem: Problem) -> None:
    """``exact`` proves the brute-force optimum; ``relax-round`` (no CP-SAT) still fits and
    never beats it; both bounds stay below it."""
    table, _ = build_table(problem)
    optimum = brute_force(problem)
    exact = optimize(table, SolverConfig(time_limit_s=5.0, relative_gap_limit=0.0, method="exact"))
    assert exact.optimal
    assert exact.objective == pytest.approx(optimum, abs=tolerance(optimum))
    rounded = optimize(table, SolverConfig(time_limit_s=5.0, method="relax-round"))
    for out in (exact, rounded):
        assert table.fits(out.choice)
        assert out.objective == pytest.approx(table.objective(out.choice))
        assert out.objective >= optimum - tolerance(optimum)
        assert out.bound <= optimum + tolerance(optimum)


def test_a_config_refuses_bad_limits_and_the_gap_is_relative() -> None:
    for kw in (
        {"time_limit_s": 0.0},
        {"num_workers": 0},
        {"relative_gap_limit": 1.0},
        {"method": "guess"},
        {"exact_max_arcs": -1},
    ):
        with pytest.raises(InvalidProblemError):
            SolverConfig(**kw)  # type: ignore[arg-type]
    assert relative_gap(100.0, 90.0) == pytest.approx(0.1)
    assert relative_gap(100.0, 120.0) == 0.0
    assert relative_gap(0.0, -5.0) == 0.0
