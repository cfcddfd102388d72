"""Exact 0-1 knapsacks per pool: the best profit and an item set that fits and earns it,
by either programme, and an upper bound for a pool beyond the state budget."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import knapsack
from solver.knapsack import solve_knapsacks


def knapsack_brute_force(size: list[int], profit: list[float], cap: int) -> float:
    best = 0.0
    for mask in itertools.product((0, 1), repeat=len(size)):
        if sum(s * m for s, m in zip(size, mask, strict=True)) <= cap:
            best = max(best, sum(p * m for p, m in zip(profit, mask, strict=True)))
    return best


def knapsack_reference(size: np.ndarray, profit: np.ndarray, cap: int) -> float:
    """The textbook 0-1 knapsack over capacities, one item at a time."""
    f = np.zeros(cap + 1)
    for s, p in zip(size.tolist(), profit.tolist(), strict=True):
        if p <= 0 or s > cap:
            continue
        if s == 0:
            f += p
        else:
            f[s:] = np.maximum(f[s:], f[:-s] + p)
    return float(f[cap])


@st.composite
def knapsack_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_pools = draw(st.integers(1, 3))
    n = draw(st.integers(0, 9))
    pool = np.array([draw(st.integers(0, n_pools - 1)) for _ in range(n)], dtype=np.int64)
    size = np.array([draw(st.sampled_from((0, 1, 2, 3, 5, 8, 16))) for _ in range(n)])
    profit = np.array([draw(st.floats(-5.0, 20.0)) for _ in range(n)])
    cap = np.array([draw(st.integers(0, 30)) for _ in range(n_pools)], dtype=np.int64)
    return pool, size.astype(np.int64), profit, cap


@pytest.mark.parametrize("by_item", [None, False, True], ids=["chosen", "grouped", "by-item"])
@settings(max_examples=300, deadline=None)
@given(knapsack_sets())
def test_knapsacks_match_brute_force(
    by_item: bool | None,
    case: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Every pool's best profit, and a chosen set that fits and earns it, by either
    programme."""
    pool, size, profit, cap = case
    sacks = solve_knapsacks(pool, size, profit, cap, by_item=by_item)
    for p in range(cap.shape[0]):
        mine = pool == p
        best = knapsack_brute_force(size[mine].tolist(), profit[mine].tolist(), int(cap[p]))
        assert sacks.value[p] == pytest.approx(best, abs=1e-9)
        chosen = sacks.chosen & mine
        assert size[chosen].sum() <= cap[p]
        assert profit[chosen].sum() == pytest.approx(best, abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_knapsacks_with_many_items_per_size_match_the_textbook_programme(seed: int) -> None:
    """Hundreds of items of few sizes (the divide-and-conquer path) and capacities in the
    hundreds, many pools at once."""
    rng = np.random.default_rng(seed)
    n_pools, n = 5, 600
    pool = rng.integers(0, n_pools, n)
    size = rng.choice([1, 2, 3, 8, 16], n, p=[0.4, 0.1, 0.1, 0.2, 0.2])
    # Integer profits: plenty of exact ties.
    profit = (rng.integers(-3, 12, n) * size).astype(np.float64)
    cap = rng.integers(0, 500, n_pools)
    sacks = solve_knapsacks(pool, size, profit, cap)
    for p in range(n_pools):
        mine = pool == p
        best = knapsack_reference(size[mine], profit[mine], int(cap[p]))
        assert sacks.value[p] == pytest.approx(best, rel=1e-12)
        chosen = sacks.chosen & mine
        assert size[chosen].sum() <= cap[p]
        assert profit[chosen].sum() == pytest.approx(best, rel=1e-12)


def test_a_pool_beyond_the_state_budget_gets_an_upper_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without room for the programme a pool's value is its LP bound: never below the
    integer optimum (so bounds stay valid), here strictly above it."""
    monkeypatch.setattr(knapsack, "MAX_STATES", 10)
    size = np.array([8, 8, 8])
    profit = np.array([9.0, 9.0, 9.0])
    sacks = solve_knapsacks(np.zeros(3, dtype=np.int64), size, profit, np.array([12]))
    assert sacks.value[0] == pytest.approx(9.0 * 12 / 8)
