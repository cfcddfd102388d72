"""Large neighbourhood search: a GAP too big for whole-table CP-SAT stays feasible and
bounded, and the search never makes a plan worse."""

from __future__ import annotations

import time

import numpy as np
import pytest

from benchmarks.orlib import GapInstance, gap_table
from solver import SolverConfig
from solver.heuristics import fill
from solver.lns import ranks, reduced_costs, search
from solver.pipeline import optimize
from solver.relax import relax
from tests.helpers.solver_oracles import type_d_table


def test_large_neighbourhood_search_keeps_plans_feasible_and_bounded() -> None:
    """A type-d-like GAP too big for the whole-table CP-SAT: the LNS path stays feasible."""
    rng = np.random.default_rng(5)
    m, n = 8, 160
    weight = rng.integers(1, 100, size=(m, n))
    cost = 111 - weight + rng.integers(-10, 11, size=(m, n))
    capacity = (0.8 * weight.sum(axis=1) / m).astype(np.int64)
    table = gap_table(GapInstance(cost=cost, weight=weight, capacity=capacity))
    config = SolverConfig(time_limit_s=3.0, relative_gap_limit=0.0, exact_max_arcs=2_000)
    out = optimize(table, config)
    assert np.all(out.choice >= 0)
    assert table.fits(out.choice)
    assert out.bound <= out.objective
    assert "lns" in out.method
    assert out.gap < 0.05


def test_reduced_costs_and_ranks_order_each_workloads_pairs() -> None:
    """Each workload's best pair has reduced cost 0 and rank 0; the rest rank by the key."""
    table = type_d_table(3, 4, 12)
    red = reduced_costs(table, None)
    rank = ranks(table, red)
    for w in range(table.n_workloads):
        s, e = int(table.start[w]), int(table.start[w + 1])
        assert red[s:e].min() == 0.0 and np.all(red[s:e] >= 0.0)
        assert red[s:e] == pytest.approx(table.arc_cost[s:e] - table.arc_cost[s:e].min())
        assert sorted(rank[s:e].tolist()) == list(range(e - s))
        by_rank = np.argsort(rank[s:e])
        assert np.all(np.diff(red[s:e][by_rank]) >= 0.0)
    # Pool prices raise each pair's reduced cost by its devices × its pool's price.
    duals = np.arange(table.n_pools, dtype=np.float64)
    priced = reduced_costs(table, duals)
    raw = table.arc_cost + table.arc_dev * duals[table.arc_pool]
    for w in range(table.n_workloads):
        s, e = int(table.start[w]), int(table.start[w + 1])
        assert priced[s:e] == pytest.approx(raw[s:e] - raw[s:e].min())


def test_search_keeps_the_plan_feasible_and_never_worse() -> None:
    """From a greedy fill, a second of search gives a fitting plan no dearer than it."""
    table = type_d_table(11, 6, 60)
    start = fill(table, np.full(table.n_workloads, -1, dtype=np.int64))
    assert table.fits(start)
    relaxation = relax(table)
    found = search(
        table,
        start,
        bound=relaxation.bound,
        reduced=reduced_costs(table, relaxation.duals),
        deadline=time.perf_counter() + 1.0,
        gap_limit=0.0,
        workers=2,
        seed=0,
    )
    assert table.fits(found)
    assert table.objective(found) <= table.objective(start)
    assert table.objective(found) >= relaxation.bound - 1e-6
