"""Rounding, filling, local moves and ejection: every plan fits, none beats the optimum, and
each step keeps what it promises."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings

from solver import heuristics as h
from solver.relax import relax
from solver.table import Table, from_arcs
from tests.helpers.solver_oracles import rate_tables, table_optimum


@settings(max_examples=100, deadline=None)
@given(rate_tables())
def test_every_step_fits_and_none_beats_the_optimum(table: Table) -> None:
    """From the relaxation: rounding, filling, moving and ejecting keep the plan fitting,
    each step no dearer than the one before, and none below the brute-force optimum."""
    if table.n_arcs == 0:
        return
    fraction = relax(table).fraction
    optimum = table_optimum(table)
    down = h.round_down(table, fraction)
    guided = h.round_guided(table, fraction)
    filled = h.fill(table, guided)
    improved = h.improve(table, filled)
    ejected = h.eject(table, improved, deadline=time.perf_counter() + 5.0)
    for choice in (down, guided, filled, improved, ejected):
        assert table.fits(choice)
        assert table.objective(choice) >= optimum - 1e-9 * max(1.0, optimum)
    assert table.objective(improved) <= table.objective(filled) + 1e-9
    assert table.objective(ejected) <= table.objective(improved) + 1e-9


@settings(max_examples=100, deadline=None)
@given(rate_tables())
def test_after_improve_every_cheaper_pair_is_blocked_by_capacity(table: Table) -> None:
    """What the explanations rely on: no single move to a cheaper pair with room is left."""
    choice = h.improve(table, h.fill(table, h.empty_choice(table)))
    cost = h.current_cost(table, choice)
    room = table.pool_cap - table.usage(choice)
    for a in range(table.n_arcs):
        w = int(table.arc_w[a])
        if table.arc_cost[a] < cost[w] - 1e-9 * max(1.0, cost[w]) and choice[w] != a:
            assert room[table.arc_pool[a]] < table.arc_dev[a]


def _table() -> Table:
    """Two pools of 4; w0 fits either (cheaper on pool 0), w1 needs 4 on pool 0 only."""
    return from_arcs(
        n_workloads=2,
        pool_site=np.array([0, 1]),
        pool_model=np.array([0, 0]),
        pool_cap=np.array([4, 4]),
        arc_w=np.array([0, 0, 1]),
        arc_pool=np.array([0, 1, 0]),
        arc_dev=np.array([2, 2, 4]),
        arc_cost=np.array([1.0, 3.0, 5.0]),
        penalty=np.array([50.0, 120.0]),
    )


def test_fill_puts_the_dearest_to_leave_out_first_on_its_cheapest_pool() -> None:
    table = _table()
    # w1 (penalty 120 / 4 devices) before w0 (50 / 2): w1 takes pool 0, w0 goes to pool 1.
    assert h.fill(table, h.empty_choice(table)).tolist() == [1, 2]
    # In the given order instead: w0 first takes its cheap pool and w1 no longer fits.
    assert h.fill(table, h.empty_choice(table), order=np.array([0, 1])).tolist() == [0, -1]


def test_eject_moves_an_occupant_to_make_room_worth_it() -> None:
    """w0 on pool 0 blocks w1; moving w0 to pool 1 costs 2 more and saves w1's penalty."""
    table = _table()
    blocked = np.array([0, -1])
    assert h.improve(table, blocked).tolist() == [0, -1]  # no single move helps
    ejected = h.eject(table, blocked, deadline=time.perf_counter() + 5.0)
    assert ejected.tolist() == [1, 2]
    assert table.objective(ejected) == pytest.approx(3.0 + 5.0)


def test_warm_start_keeps_running_work_where_it_fits() -> None:
    table = _table()
    assert h.warm_start(table, np.array([1, 2])).tolist() == [1, 2]
    assert h.warm_start(table, np.array([0, 2])).tolist() == [0, -1]  # pool 0 over-full
    assert h.warm_start(table, np.array([-1, -1])).tolist() == [-1, -1]


def test_round_down_keeps_only_what_fits_when_the_relaxation_overfills() -> None:
    """A relaxation counting work at its smallest need may place more whole on a pool than
    it holds: rounding down keeps the dearest to leave out while the pool has room."""
    table = from_arcs(
        n_workloads=3,
        pool_site=np.array([0]),
        pool_model=np.array([0]),
        pool_cap=np.array([16]),
        arc_w=np.array([0, 1, 2]),
        arc_pool=np.array([0, 0, 0]),
        arc_dev=np.array([8, 8, 8]),
        arc_cost=np.array([1.0, 1.0, 1.0]),
        penalty=np.array([5.0, 9.0, 7.0]),
    )
    down = h.round_down(table, np.ones(3))
    assert table.fits(down)
    assert down.tolist() == [-1, 1, 2]
