"""The cost table: time-of-use pricing, arcs grouped by workload, usage, fit and objective."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from solver import Problem, Site, Workload, build_table
from solver.table import from_arcs, price_integrals
from tests.helpers.strategies import tiny_problems


def test_energy_cost_integrates_time_of_use_prices() -> None:
    """A 2-hour run starting half-way through hour 0 pays ½·p0 + p1 + ½·p2."""
    prices = np.array([[1.0, 2.0, 4.0] + [0.0] * 21])
    got = price_integrals(prices, 0.5, np.array([2.0, 48.0, 23.75]))
    assert got[0, 0] == pytest.approx(0.5 + 2.0 + 2.0)
    assert got[0, 1] == pytest.approx(2 * 7.0)
    # 23.75 h from 0.5 wraps past midnight back into hour 0: all of 1, 2 and 4 plus ¼ of p0.
    assert got[0, 2] == pytest.approx(0.5 + 2.0 + 4.0 + 0.25)


def test_arcs_in_any_order_are_grouped_by_workload_with_usage_fit_and_objective() -> None:
    """Arcs given out of order come back grouped by workload, in their given order within
    one; usage, fit and objective follow from the choice."""
    table = from_arcs(
        n_workloads=3,
        pool_site=np.array([0, 1]),
        pool_model=np.array([0, 0]),
        pool_cap=np.array([4, 2]),
        arc_w=np.array([2, 0, 1, 0]),
        arc_pool=np.array([1, 0, 0, 1]),
        arc_dev=np.array([2, 3, 1, 2]),
        arc_cost=np.array([7.0, 1.0, 2.0, 5.0]),
        penalty=np.array([10.0, 20.0, 30.0]),
    )
    assert table.start.tolist() == [0, 2, 3, 4]
    assert table.arc_w.tolist() == [0, 0, 1, 2]
    assert table.arc_cost.tolist() == [1.0, 5.0, 2.0, 7.0]
    both = np.array([0, 2, 3])  # w0 and w1 on pool 0 (3 + 1), w2 on pool 1 (2)
    assert table.usage(both).tolist() == [4, 2]
    assert table.fits(both)
    assert table.objective(both) == pytest.approx(1.0 + 2.0 + 7.0)
    crowded = np.array([1, 2, 3])  # w0 and w2 both on pool 1: 4 > 2
    assert not table.fits(crowded)
    none = np.array([-1, -1, -1])
    assert table.usage(none).tolist() == [0, 0]
    assert table.objective(none) == pytest.approx(60.0)


def test_a_down_site_and_a_missing_model_give_no_arcs() -> None:
    """Only the pairs a workload may use become arcs, each needing the workload's demand."""

    def site(sid: str, up: bool = True) -> Site:
        return Site(
            id=sid,
            pue=1.1,
            hourly_price=(0.5,) * 24,
            carbon_kg_per_kwh=0.5,
            latency_ms={"csj": 5.0},
            free={"H100": 8},
            power_w={"H100": 700.0},
            up=up,
        )

    h100 = Workload(id="h100", origin_region="csj", demands={"H100": 4}, duration_h=1.0)
    h20 = Workload(id="h20", origin_region="csj", demands={"H20": 2}, duration_h=1.0)
    table, _ = build_table(
        Problem(sites=(site("up"), site("down", up=False)), workloads=(h100, h20))
    )
    assert table.start.tolist() == [0, 1, 1]
    assert table.arc_dev.tolist() == [4]
    assert table.pool_cap[table.arc_pool[0]] == 8
    assert table.arc_cost[0] > 0


@settings(max_examples=60, deadline=None)
@given(tiny_problems())
def test_every_arc_asks_its_workloads_demand_and_the_empty_choice_costs_the_penalties(
    problem: Problem,
) -> None:
    table, _ = build_table(problem)
    assert table.n_workloads == len(problem.workloads)
    assert np.all(np.diff(table.start) >= 0)
    for w, work in enumerate(problem.workloads):
        for a in range(int(table.start[w]), int(table.start[w + 1])):
            assert table.arc_w[a] == w
            assert int(table.arc_dev[a]) in work.demands.values()
    empty = np.full(table.n_workloads, -1, dtype=np.int64)
    assert table.fits(empty)
    assert table.objective(empty) == pytest.approx(float(table.penalty.sum()))
