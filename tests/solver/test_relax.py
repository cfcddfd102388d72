"""The relaxation's bound: flow equals LP, pool prices certify it, and it stays below optima."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.orlib import GapInstance, gap_table
from solver import SolverConfig, build_table
from solver.pipeline import optimize
from solver.relax import _lp, exchange_rates, lagrangian_bound, nested_caps, reflow, relax
from solver.table import Table, from_arcs
from tests.helpers.solver_oracles import rate_tables, table_optimum, tiny_gaps
from tests.helpers.strategies import tiny_problems

DATA = Path(__file__).resolve().parent.parent / "data"


def choices(table: Table) -> int:
    """How many choices brute force would try."""
    return math.prod(int(table.start[w + 1] - table.start[w]) + 1 for w in range(table.n_workloads))


@settings(max_examples=150, deadline=None)
@given(rate_tables())
def test_flow_bound_equals_the_lp_and_stays_below_the_optimum(table: Table) -> None:
    """Min-cost flow with the nested rounding cuts reaches GLOP's value for the same cuts;
    its pool prices give a valid (weaker) bound; neither exceeds the brute-force optimum."""
    if table.n_arcs == 0:
        return
    assert exchange_rates(table) is not None
    flow = relax(table)
    assert flow.method == "flow"
    lp = _lp(table)
    assert flow.bound == pytest.approx(lp.bound, rel=1e-6, abs=1e-6)
    assert flow.duals is not None
    assert np.all(flow.duals >= 0)
    assert lagrangian_bound(table, flow.duals) <= flow.bound + 1e-6 * max(1.0, abs(flow.bound))
    if choices(table) <= 50_000:
        assert flow.bound <= table_optimum(table) + 1e-9 * max(1.0, abs(flow.bound))


def test_nested_cuts_round_each_pool_for_the_sizes_that_use_it() -> None:
    """Sizes 16, 8 and 1 on 44 devices: the 8s and 16s together take at most 40, the 16s
    alone at most 32; with sizes 3 and 8 only the 8s are cut (8 is no multiple of 3)."""
    table = from_arcs(
        n_workloads=6,
        pool_site=np.array([0, 1]),
        pool_model=np.array([0, 0]),
        pool_cap=np.array([44, 20]),
        arc_w=np.array([0, 1, 2, 3, 4, 5]),
        arc_pool=np.array([0, 0, 0, 1, 1, 1]),
        arc_dev=np.array([16, 8, 1, 3, 8, 8]),
        arc_cost=np.ones(6),
        penalty=np.full(6, 10.0),
    )
    nest = nested_caps(table, np.arange(table.n_arcs))
    assert nest.pool_cap.tolist() == [44, 20]
    assert nest.pool.tolist() == [0, 0, 1]
    assert nest.cap.tolist() == [40, 32, 16]
    assert nest.parent.tolist() == [-1, 0, -1]
    assert nest.arc_node.tolist() == [1, 0, -1, -1, 2, 2]
    # One size only: the pool's own capacity is rounded.
    single = from_arcs(
        n_workloads=2,
        pool_site=np.array([0]),
        pool_model=np.array([0]),
        pool_cap=np.array([20]),
        arc_w=np.array([0, 1]),
        arc_pool=np.array([0, 0]),
        arc_dev=np.array([8, 8]),
        arc_cost=np.ones(2),
        penalty=np.full(2, 10.0),
    )
    assert nested_caps(single, np.arange(2)).pool_cap.tolist() == [16]


@settings(max_examples=100, deadline=None)
@given(rate_tables(), st.randoms(use_true_random=False))
def test_reflow_places_the_smallest_workloads_optimally_around_the_rest(
    table: Table, rnd: random.Random
) -> None:
    """From any fitting choice: the others stay put, the result fits, and the smallest
    workloads' cost is the least any placement of them around the rest achieves."""
    if table.n_arcs == 0:
        return
    choice = np.full(table.n_workloads, -1, dtype=np.int64)
    for w in rnd.sample(range(table.n_workloads), table.n_workloads):
        s, e = int(table.start[w]), int(table.start[w + 1])
        if s < e:
            choice[w] = rnd.randrange(s, e)
            if not table.fits(choice):
                choice[w] = -1
    flowed = reflow(table, choice)
    assert flowed is not None
    assert table.fits(flowed)
    rates = exchange_rates(table)
    assert rates is not None
    units = table.arc_dev * rates[table.pool_model[table.arc_pool]]
    least = np.full(table.n_workloads, np.iinfo(np.int64).max)
    np.minimum.at(least, table.arc_w, units)
    has = table.start[1:] > table.start[:-1]
    small = has & (least == least[has].min())
    assert np.array_equal(flowed[~small], choice[~small])
    assert table.objective(flowed) <= table.objective(choice) + 1e-6
    # Brute force over the small workloads with the rest fixed.
    free = np.flatnonzero(small)
    if choices(table) > 50_000:
        return
    best = math.inf
    options = [[-1, *range(int(table.start[w]), int(table.start[w + 1]))] for w in free]
    for combo in itertools.product(*options):
        trial = choice.copy()
        trial[free] = combo
        if table.fits(trial):
            best = min(best, table.objective(trial))
    assert table.objective(flowed) == pytest.approx(best, rel=1e-6, abs=1e-6)


def test_site_dependent_demand_is_not_a_flow() -> None:
    """8 H100 or 16 A100 for one workload, 1 H100 or 1 A100 for another: no exchange rate."""
    table = from_arcs(
        n_workloads=2,
        pool_site=np.array([0, 0]),
        pool_model=np.array([0, 1]),
        pool_cap=np.array([8, 16]),
        arc_w=np.array([0, 0, 1, 1]),
        arc_pool=np.array([0, 1, 0, 1]),
        arc_dev=np.array([8, 16, 1, 1]),
        arc_cost=np.array([1.0, 2.0, 1.0, 1.0]),
        penalty=np.array([10.0, 10.0]),
    )
    assert exchange_rates(table) is None
    assert relax(table).method == "lp"


@settings(max_examples=60, deadline=None)
@given(tiny_problems())
def test_table_bound_is_below_every_feasible_plan(problem: object) -> None:
    """The relaxation never exceeds the objective of the plan the solver returns."""
    table, _ = build_table(problem)  # type: ignore[arg-type]
    out = optimize(table, SolverConfig(time_limit_s=5.0, relative_gap_limit=0.0))
    assert relax(table).bound <= out.objective + 1e-6 * max(1.0, out.objective)


@settings(max_examples=100, deadline=None)
@given(tiny_gaps(), st.data())
def test_any_cut_prices_bound_the_optimum(instance: GapInstance, data: st.DataObject) -> None:
    """Pool and cut prices ≥ 0 of any size give a bound below every whole plan (the cuts
    are valid), and GLOP's own prices give the LP-with-cuts bound."""
    table = gap_table(instance)
    if table.n_arcs == 0:
        return
    optimum = table_optimum(table)
    if math.isinf(optimum):
        return
    nest = nested_caps(table, np.arange(table.n_arcs))
    prices = st.floats(0.0, 50.0)
    pool = np.array(data.draw(st.lists(prices, min_size=table.n_pools, max_size=table.n_pools)))
    k = nest.cap.shape[0]
    cut = np.array(data.draw(st.lists(prices, min_size=k, max_size=k)), dtype=np.float64)
    assert lagrangian_bound(table, pool, nest, cut) <= optimum + 1e-9 * max(1.0, optimum)
    assert _lp(table).bound <= optimum + 1e-6 * max(1.0, optimum)
