"""The Lagrangian bound with integer knapsacks: a bound that never passes the optimum yet
is at least the LP's (and beats it where replicas cannot pack)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.orlib import GapInstance, gap_table, parse_orlib
from solver import Problem, SolverConfig, build_table
from solver import lagrange as lg
from solver.knapsack import solve_knapsacks
from solver.pipeline import optimize
from solver.relax import Relaxation, lagrangian_bound, relax
from solver.table import Table, from_arcs
from tests.helpers.solver_oracles import brute_force, rate_tables, table_optimum, tiny_gaps
from tests.helpers.strategies import tiny_problems

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parent.parent / "data"


def replicas(n: int = 3, cap: int = 12) -> Table:
    """``n`` replicas of 8 devices, one pool of ``cap``: the LP places cap/8 of them."""
    return from_arcs(
        n_workloads=n,
        pool_site=np.array([0]),
        pool_model=np.array([0]),
        pool_cap=np.array([cap]),
        arc_w=np.arange(n),
        arc_pool=np.zeros(n, dtype=np.int64),
        arc_dev=np.full(n, 8),
        arc_cost=np.ones(n),
        penalty=np.full(n, 10.0),
    )


def _check_start_and_ascent(
    table: Table, relaxation: Relaxation, optimum: float, *, max_steps: int
) -> lg.Start:
    """Check the first bound (never above ``optimum``, never below the plain Lagrangian
    bound at the pool prices) and the ascent's bound (never above ``optimum``)."""
    start = lg.begin(table, relaxation)
    assert start.first.bound <= optimum
    plain = lagrangian_bound(table, relaxation.duals)  # the pool prices alone, no cuts
    assert start.first.bound >= plain - 1e-7 * max(1.0, abs(plain))
    ascent = lg.ascend(start, upper=optimum + 1.0, deadline=math.inf, max_steps=max_steps)
    assert ascent.bound <= optimum
    return start


def test_packing_loss_makes_the_bound_strictly_tighter_than_the_lp() -> None:
    """12 devices hold one 8-device replica, not 1.5: the plain LP says 16.5, the plan costs
    21. The relaxation's rounding cut (8-device jobs take at most 8 of 12 devices) and the
    integer knapsack both see it."""
    table = replicas()
    assert lagrangian_bound(table, np.array([9.0 / 8.0])) == pytest.approx(16.5)
    relaxation = relax(table)
    assert relaxation.bound == pytest.approx(21.0)
    assert relaxation.bound <= 21.0
    start = lg.begin(table, relaxation)
    assert start.first.bound == pytest.approx(21.0)
    assert start.first.bound <= 21.0
    out = optimize(table, SolverConfig(time_limit_s=2.0, relative_gap_limit=0.0))
    assert out.objective == pytest.approx(21.0)
    assert out.bound > 20.99
    assert out.optimal


def test_any_multipliers_bound_the_optimum_from_below() -> None:
    """L(λ) ≤ 21 for multipliers far from the LP's, including above the penalties."""
    lagrangian = lg.Lagrangian(replicas())
    for lam in ([0.0, 0.0, 0.0], [10.0, 10.0, 10.0], [30.0, -4.0, 9.5], [11.0, 11.0, 11.0]):
        assert lagrangian.evaluate(np.array(lam)).bound <= 21.0


@settings(max_examples=80, deadline=None)
@given(tiny_problems(), st.data())
def test_bound_never_exceeds_the_brute_force_optimum(problem: Problem, data: st.DataObject) -> None:
    """At the LP's duals, after ascent, and at arbitrary multipliers: never above the
    optimum, with no tolerance; and at the LP's pool prices never below the plain
    Lagrangian bound at those prices."""
    optimum = brute_force(problem)
    table, _ = build_table(problem)
    relaxation = relax(table)
    if relaxation.duals is None:
        return
    start = _check_start_and_ascent(table, relaxation, optimum, max_steps=15)
    lam = np.array(
        data.draw(
            st.lists(
                st.floats(-50.0, 500.0), min_size=table.n_workloads, max_size=table.n_workloads
            )
        )
    )
    assert start.lagrangian.evaluate(lam).bound <= optimum


@settings(max_examples=80, deadline=None)
@given(tiny_gaps())
def test_bound_stays_below_the_gap_optimum_when_all_must_be_placed(
    instance: GapInstance,
) -> None:
    """Generalized assignment (no leaving out): integer data with many exact ties."""
    table = gap_table(instance)
    optimum = table_optimum(table)
    if math.isinf(optimum):
        return
    _check_start_and_ascent(table, relax(table), optimum, max_steps=20)


@settings(max_examples=60, deadline=None)
@given(rate_tables())
def test_at_the_flow_duals_the_bound_is_at_least_the_lp(table: Table) -> None:
    """Integer knapsacks never bound worse than their LP: L(λ_LP) ≥ the LP bound."""
    if table.n_arcs == 0:
        return
    relaxation = relax(table)
    assert relaxation.duals is not None
    lp = lagrangian_bound(table, relaxation.duals)
    start = lg.begin(table, relaxation)
    assert start.first.bound >= lp - 1e-7 * max(1.0, abs(lp))
    if table.n_workloads <= 6:
        assert start.first.bound <= table_optimum(table)


@pytest.mark.parametrize(
    ("chunk", "dense_keys", "cells"),
    [(97, lg.DENSE_KEYS, lg.HISTOGRAM_CELLS), (1 << 20, 4, lg.HISTOGRAM_CELLS), (97, 4, 16)],
)
def test_top_items_per_group_give_the_same_bound_as_all_items(
    monkeypatch: pytest.MonkeyPatch, chunk: int, dense_keys: int, cells: int
) -> None:
    """Keeping only each (pool, size) group's cap // size best items, found by profit bins
    over chunks (or, without room for the bin counts, by sorting every positive pair),
    changes nothing: same value as knapsacks over every pair."""
    monkeypatch.setattr(lg, "CHUNK", chunk)
    monkeypatch.setattr(lg, "DENSE_KEYS", dense_keys)
    monkeypatch.setattr(lg, "HISTOGRAM_CELLS", cells)
    rng = np.random.default_rng(3)
    n_w, n_pools = 400, 4
    ws, ps, ds, cs = [], [], [], []
    for w in range(n_w):
        d = int(rng.choice([1, 8, 16]))
        for p in rng.choice(n_pools, size=int(rng.integers(1, n_pools + 1)), replace=False):
            ws.append(w)
            ps.append(int(p))
            ds.append(d)
            cs.append(float(rng.integers(1, 6) * d))  # many identical profits
    table = from_arcs(
        n_workloads=n_w,
        pool_site=np.arange(n_pools),
        pool_model=np.zeros(n_pools, dtype=np.int64),
        pool_cap=np.array([37, 100, 150, 3]),
        arc_w=np.array(ws),
        arc_pool=np.array(ps),
        arc_dev=np.array(ds),
        arc_cost=np.array(cs),
        penalty=np.full(n_w, 100.0),
    )
    lagrangian = lg.Lagrangian(table)
    for lam in (rng.uniform(0.0, 100.0, n_w), np.full(n_w, 50.0), rng.integers(0, 90, n_w)):
        lam = lam.astype(np.float64)
        cand, _ = lagrangian.candidates(lam)
        assert cand.shape[0] < table.n_arcs
        profit = lam[table.arc_w] - table.arc_cost
        every = solve_knapsacks(table.arc_pool, table.arc_dev, profit, table.pool_cap)
        raw = float(np.minimum(lam, table.penalty).sum() - every.value.sum())
        got = lagrangian.evaluate(lam).bound
        assert got <= raw
        assert got == pytest.approx(raw, rel=1e-7)


def test_workload_prices_are_the_cheapest_priced_pair_capped_by_the_penalty() -> None:
    table = replicas()
    lam = lg.workload_prices(table, np.array([0.5]))
    assert lam == pytest.approx([5.0, 5.0, 5.0])
    assert lg.workload_prices(table, np.array([5.0])) == pytest.approx([10.0, 10.0, 10.0])


@pytest.mark.parametrize(
    ("path", "optimum"),
    [
        (SHARED / "orlib_gap1-0.txt", 261),
        (DATA / "orlib_gap5-0.txt", 403),
        (DATA / "orlib_gap12-0.txt", 974),
    ],
)
def test_orlibrary_bounds_stay_below_proven_optima(path: Path, optimum: int) -> None:
    """Cattrysse et al. instances (optima proven): above the LP, below the optimum."""
    table = gap_table(parse_orlib(path.read_text()))
    relaxation = relax(table)
    ascent = lg.strengthen(table, relaxation, upper=optimum + 5.0, deadline=math.inf, max_steps=150)
    assert relaxation.bound < ascent.bound <= optimum
    assert ascent.bound > optimum - 0.02 * optimum
