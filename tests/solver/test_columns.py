"""Lagrangian columns: the enumeration of near-optimal fills and the dive, against brute
force."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.orlib import GapInstance, gap_table
from solver import lagrange as lg
from solver.columns import _Master, column_dive, enumerate_columns
from solver.relax import relax
from solver.table import Table
from tests.helpers.solver_oracles import rate_tables, table_optimum, tiny_gaps, type_d_table


def fills_by_brute_force(table: Table, lam: np.ndarray, slack: float) -> set[tuple[int, ...]]:
    """Every (pool, arcs...) fill that fits with reduced cost ≤ slack, and each empty fill."""
    profit = lam[table.arc_w] - table.arc_cost
    out: set[tuple[int, ...]] = set()
    for p in range(table.n_pools):
        arcs = np.flatnonzero(table.arc_pool == p).tolist()
        fills = []
        for r in range(len(arcs) + 1):
            for subset in itertools.combinations(arcs, r):
                if sum(int(table.arc_dev[a]) for a in subset) <= table.pool_cap[p]:
                    fills.append((subset, sum(float(profit[a]) for a in subset)))
        best = max(v for _, v in fills)
        for subset, v in fills:
            if best - v <= slack + 1e-9 or not subset:
                out.add((p, *sorted(subset)))
    return out


@settings(max_examples=150, deadline=None)
@given(rate_tables(), st.data())
def test_enumeration_lists_exactly_the_fills_within_the_slack(
    table: Table, data: st.DataObject
) -> None:
    """Any multipliers and slack: the columns are every fill of a pool that fits and earns
    within ``slack`` of the pool's best (plus the empty fill), each once, with its cost
    and reduced cost."""
    lam = np.array([data.draw(st.floats(-20.0, 120.0)) for _ in range(table.n_workloads)])
    slack = data.draw(st.floats(0.0, 60.0))
    cols = enumerate_columns(table, lam, slack, limit=100_000)
    assert cols is not None
    listed = []
    for k in range(cols.count):
        arcs = cols.arcs[cols.ptr[k] : cols.ptr[k + 1]]
        assert np.all(table.arc_pool[arcs] == cols.pool[k])
        assert table.arc_dev[arcs].sum() <= table.pool_cap[cols.pool[k]]
        assert cols.cost[k] == pytest.approx(table.arc_cost[arcs].sum())
        assert -1e-9 <= cols.rc[k] <= slack + 1e-9 or not arcs.size
        listed.append((int(cols.pool[k]), *sorted(arcs.tolist())))
    assert len(listed) == len(set(listed))
    # Brute force keeps fills ≥ slack only if they fit; a pair that can never fit is
    # excluded from both sides.
    assert set(listed) == fills_by_brute_force(table, lam, slack)


def test_a_fill_exactly_at_the_slack_is_listed() -> None:
    """One pair that loses exactly ``slack`` against the empty fill: it is within the slack."""
    instance = GapInstance(cost=np.array([[1]]), weight=np.array([[1]]), capacity=np.array([1]))
    table = gap_table(instance)
    lam = np.zeros(1)
    cols = enumerate_columns(table, lam, 1.0, limit=10)
    assert cols is not None
    assert fills_by_brute_force(table, lam, 1.0) == {(0,), (0, 0)}
    assert cols.count == 2 and cols.rc.max() == pytest.approx(1.0)


def test_enumeration_gives_up_past_its_limit() -> None:
    instance = GapInstance(
        cost=np.ones((1, 12), dtype=np.int64),
        weight=np.ones((1, 12), dtype=np.int64),
        capacity=np.array([6]),
    )
    table = gap_table(instance)
    lam = np.full(12, 2.0)  # every item earns 1: C(12, 6) = 924 best fills
    assert enumerate_columns(table, lam, 0.5, limit=500) is None
    cols = enumerate_columns(table, lam, 0.5, limit=2_000)
    assert cols is not None and cols.count == math.comb(12, 6) + 1


def dive_checked(table: Table, slack: float) -> np.ndarray | None:
    """The dive at the Lagrangian's first multipliers; a plan it returns fits and costs no
    less than the brute-force optimum, and there is none when no plan exists at all."""
    best = table_optimum(table)
    relaxation = relax(table)
    if relaxation.duals is None or table.n_arcs == 0:
        return None
    lam = lg.begin(table, relaxation).lam
    plan = column_dive(table, lam, slack=slack, deadline=time.perf_counter() + 5.0)
    if math.isinf(best):
        assert plan is None
    if plan is not None:
        assert table.fits(plan)
        assert table.objective(plan) >= best - 1e-9
    return plan


@settings(max_examples=120, deadline=None)
@given(tiny_gaps())
def test_dive_plans_place_everything_and_never_beat_the_optimum(instance: GapInstance) -> None:
    """Every item must be placed: a plan from the dive places them all."""
    plan = dive_checked(gap_table(instance), slack=50.0)
    assert plan is None or np.all(plan >= 0)


@settings(max_examples=60, deadline=None)
@given(rate_tables())
@pytest.mark.slow
def test_dive_with_optional_work_fits_and_never_beats_the_optimum(table: Table) -> None:
    """Work that may be left out pays its penalty; the dive's plan still fits."""
    dive_checked(table, slack=100.0)


def test_large_slack_on_a_small_gap_finds_the_optimum() -> None:
    """With every fill listed (slack above any reduced cost), the dive's LP is the whole
    set-partitioning model; on this instance its plan is the brute-force optimum."""
    instance = GapInstance(
        cost=np.array([[9, 4, 7, 3, 8], [5, 8, 2, 9, 4], [6, 5, 5, 6, 6]]),
        weight=np.array([[4, 6, 3, 5, 4], [5, 3, 6, 4, 5], [3, 4, 4, 3, 6]]),
        capacity=np.array([9, 9, 8]),
    )
    table = gap_table(instance)
    lam = lg.begin(table, relax(table)).lam
    plan = column_dive(table, lam, slack=1e6, deadline=time.perf_counter() + 5.0, open_work=0)
    assert plan is not None
    assert table.objective(plan) == pytest.approx(table_optimum(table))


def root_master(table: Table, slack: float) -> tuple[_Master, np.ndarray]:
    """The dive's master over the fills within ``slack``, its root LP priced (30 rounds),
    and the multipliers it started from."""
    lam = lg.begin(table, relax(table)).lam
    columns = enumerate_columns(table, lam, slack, limit=3_000)
    assert columns is not None
    master = _Master(table, columns)
    master.center = lam
    assert master.solve(time.perf_counter() + 20.0, 30)
    return master, lam


def test_a_rebuilt_master_lp_keeps_fixes_bans_and_its_optimum() -> None:
    """The LP rebuilt from the columns (what the master does when GLOP fails a warm
    re-solve) has every fix and ban in place: the same optimum, and the same values on the
    fixed and banned columns."""
    master, _ = root_master(type_d_table(3, 4, 14, top=30, fill=0.9), 30.0)
    used = [k for k in range(len(master.xs)) if master.xs[k].solution_value() > 1e-6]
    fixed = max(used, key=lambda k: master.xs[k].solution_value())
    master.fix(fixed, set(used))
    banned = next(k for k in range(len(master.xs)) if master.alive[k] and not master.fixed[k])
    master.ban(banned)
    assert master.lp.Solve() == 0
    before = master.objective.Value()
    master._build()
    assert master.lp.Solve() == 0
    assert master.objective.Value() == pytest.approx(before, rel=1e-9, abs=1e-6)
    assert master.xs[fixed].solution_value() == pytest.approx(1.0)
    assert master.xs[banned].solution_value() == pytest.approx(0.0)
    assert len(master.xs) == len(master.cost)


def test_a_redive_retraces_the_best_dive_to_one_step_and_leaves_it_there() -> None:
    """A dive around the best one replays its fixes up to one step, bans that step's
    fractional column, and dives on; undoing either dive leaves the master as it was."""
    master, _ = root_master(type_d_table(5, 5, 30, top=40), 5.0)
    deadline = time.perf_counter() + 20.0
    first = master.dive(deadline, 0, np.inf, None)
    turns = [(start, guess) for start, guess in first.steps if guess >= 0]
    assert turns, "the LP of this instance is fractional: the dive guesses"
    master.undo(first.made)
    assert not any(master.fixed) and not master.banned
    assert not master.covered.any() and master.pool_open.all()
    assert all(master.alive)
    second = master.redive(first, deadline, 0, np.inf, np.random.default_rng(1))
    # Where the two part: the same columns fixed (or banned) up to there.
    turn = next(
        i
        for i, (a, b) in enumerate(zip(first.made, second.made, strict=False))
        if a[0] != b[0] or (a[1] is None) != (b[1] is None)
    )
    column, killed = second.made[turn]
    assert killed is None and (turn, column) in turns
    assert not master.fixed[column] and column in master.banned
    assert second.steps[: len([s for s in first.steps if s[0] < turn])] == [
        s for s in first.steps if s[0] < turn
    ]
    assert master.fixed_cost == pytest.approx(
        sum(c for c, f in zip(master.cost, master.fixed, strict=True) if f)
    )
    master.undo(second.made)
    assert master.fixed_cost == pytest.approx(0.0, abs=1e-6)
    assert not any(master.fixed) and not master.banned
    assert not master.covered.any() and master.pool_open.all()
