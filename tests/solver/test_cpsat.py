"""CP-SAT on a whole table or a subset of it, against brute force on tiny tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings

from benchmarks.orlib import GapInstance, gap_table
from solver.cpsat import solve_subset
from solver.table import Table
from tests.helpers.solver_oracles import least_fitting, rate_tables, table_optimum, tiny_gaps


def _none(table: Table) -> np.ndarray:
    return np.full(table.n_workloads, -1, dtype=np.int64)


@settings(max_examples=80, deadline=None)
@given(rate_tables())
def test_the_whole_table_solves_to_the_brute_force_optimum_with_a_true_bound(
    table: Table,
) -> None:
    everyone = np.arange(table.n_workloads)
    choice, bound, optimal = solve_subset(
        table, _none(table), everyone, time_limit_s=5.0, num_workers=2
    )
    optimum = table_optimum(table)
    assert optimal and table.fits(choice)
    assert table.objective(choice) == pytest.approx(optimum, rel=1e-3, abs=1e-3)
    assert bound is not None and bound <= optimum + 1e-9 * max(1.0, optimum)


@settings(max_examples=60, deadline=None)
@given(rate_tables())
def test_a_subset_is_reoptimized_around_the_fixed_rest(table: Table) -> None:
    """With the first half fixed as placed, the second half gets the best completion."""
    everyone = np.arange(table.n_workloads)
    start, _, _ = solve_subset(table, _none(table), everyone, time_limit_s=5.0, num_workers=2)
    fixed = table.n_workloads // 2
    start[fixed:] = -1
    free = np.arange(fixed, table.n_workloads)
    choice, bound, optimal = solve_subset(table, start, free, time_limit_s=5.0, num_workers=2)
    assert bound is None or fixed == 0  # a bound only for the whole table
    assert optimal and table.fits(choice)
    assert np.array_equal(choice[:fixed], start[:fixed])
    options = [[int(start[w])] for w in range(fixed)] + [
        [-1, *range(int(table.start[w]), int(table.start[w + 1]))]
        for w in range(fixed, table.n_workloads)
    ]
    best = least_fitting(table, options)
    assert table.objective(choice) == pytest.approx(best, rel=1e-3, abs=1e-3)


@settings(max_examples=60, deadline=None)
@given(tiny_gaps())
def test_must_place_tables_place_everything_or_say_none_exists(instance: GapInstance) -> None:
    table = gap_table(instance)
    everyone = np.arange(table.n_workloads)
    choice, bound, optimal = solve_subset(
        table, _none(table), everyone, time_limit_s=5.0, num_workers=2
    )
    optimum = table_optimum(table)
    assert optimal
    if math.isinf(optimum):
        assert not np.all(choice >= 0)
        return
    assert np.all(choice >= 0) and table.fits(choice)
    assert table.objective(choice) == pytest.approx(optimum)
    assert bound is not None and bound <= optimum + 1e-6
