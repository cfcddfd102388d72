"""Choose the method by size, and certify the plan with the relaxation's bound.

Every solve runs the same pipeline on the cost table:

1. **Relax** (:mod:`solver.relax`): min-cost flow or LP; its value is the proven bound.
2. **Round and repair** (:mod:`solver.heuristics`): keep what the relaxation places whole,
   put the rest on the cheapest pool with room, then move single workloads to cheaper
   pools while any has room. A warm start (running work staying put) competes.
3. **Close the gap** while it exceeds ``relative_gap_limit`` and time remains: small tables
   (at most ``exact_max_arcs`` pairs) go to CP-SAT whole, warm-started from step 2, which
   may also prove optimality; larger ones to large-neighbourhood search: CP-SAT re-solves
   the work of a few pools at a time with everything else fixed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from solver.cpsat import solve_subset
from solver.errors import InvalidProblemError
from solver.heuristics import fill, improve, round_down, round_guided, warm_start
from solver.relax import relax
from solver.table import IntArray, Table

METHODS = ("auto", "exact", "relax-round")
SMALL_ARCS = 1_000_000
"""Up to this many pairs, a second rounding (keep only what the relaxation places whole)
competes with the guided one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SolverConfig:
    """Limits for one solve; always passed in, never read from the environment.

    ``method``: ``auto`` (by size), ``exact`` (CP-SAT on the whole table whatever its size)
    or ``relax-round`` (no CP-SAT at all: relaxation, rounding and local moves only).
    """

    time_limit_s: float = 10.0
    num_workers: int = 2
    relative_gap_limit: float = 1e-4
    method: str = "auto"
    exact_max_arcs: int = 20_000
    explain_max_workloads: int = 5_000
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.time_limit_s > 0:
            raise InvalidProblemError("time_limit_s", "must be > 0")
        if self.num_workers < 1:
            raise InvalidProblemError("num_workers", "must be >= 1")
        if not 0 <= self.relative_gap_limit < 1:
            raise InvalidProblemError("relative_gap_limit", "must be in [0, 1)")
        if self.method not in METHODS:
            raise InvalidProblemError("method", f"must be one of {', '.join(METHODS)}")
        if self.exact_max_arcs < 0:
            raise InvalidProblemError("exact_max_arcs", "must be >= 0")


@dataclass(frozen=True, slots=True)
class Outcome:
    """An integral choice (arcs of ``table``) with its proven bound."""

    table: Table
    choice: IntArray
    objective: float
    bound: float
    optimal: bool
    method: str
    wall_s: float = 0.0

    @property
    def gap(self) -> float:
        return relative_gap(self.objective, self.bound)


def relative_gap(objective: float, bound: float) -> float:
    """(objective − bound) / objective, 0 for an empty objective."""
    return max(0.0, (objective - bound) / objective) if objective > 0 else 0.0


def optimize(
    table: Table,
    config: SolverConfig,
    *,
    current: IntArray | None = None,
    started: float | None = None,
) -> Outcome:
    """The best choice the time allows, with the relaxation's (or CP-SAT's) bound.

    ``current`` gives the site each workload runs on now (−1: new): keeping them there is a
    warm start.
    """
    started = time.perf_counter() if started is None else started
    deadline = started + config.time_limit_s
    relaxation = relax(table)
    bound = relaxation.bound
    choice = improve(table, fill(table, round_guided(table, relaxation.fraction)))
    if table.n_arcs <= SMALL_ARCS:
        kept = improve(table, fill(table, round_down(table, relaxation.fraction)))
        if table.objective(kept) < table.objective(choice):
            choice = kept
    method = f"{relaxation.method}+round"
    warm = warm_choice(table, current) if current is not None else None
    if warm is not None:
        kept = improve(table, fill(table, warm))
        if table.objective(kept) < table.objective(choice):
            choice = kept
    objective = table.objective(choice)
    optimal = relative_gap(objective, bound) <= config.relative_gap_limit
    if optimal or config.method == "relax-round" or table.n_arcs == 0:
        return Outcome(
            table,
            choice,
            objective,
            min(bound, objective),
            optimal,
            method,
            time.perf_counter() - started,
        )

    if config.method == "exact" or table.n_arcs <= config.exact_max_arcs:
        found, cp_bound, proven = solve_subset(
            table,
            choice,
            np.arange(table.n_workloads),
            time_limit_s=deadline - time.perf_counter(),
            num_workers=config.num_workers,
            seed=config.seed,
        )
        if cp_bound is not None:
            bound = max(bound, cp_bound)
        if table.objective(found) < objective:
            choice, objective = improve(table, found), table.objective(found)
            objective = table.objective(choice)
        method = "cp-sat"
        optimal = proven or relative_gap(objective, bound) <= config.relative_gap_limit
    else:
        choice, objective = _lns(table, choice, bound, config, deadline)
        method = f"{relaxation.method}+lns"
        optimal = relative_gap(objective, bound) <= config.relative_gap_limit
    return Outcome(
        table,
        choice,
        objective,
        min(bound, objective),
        optimal,
        method,
        time.perf_counter() - started,
    )


LNS_MAX_FREE = 1_500
"""Workloads one neighbourhood frees at most."""


def _lns(
    table: Table, choice: IntArray, bound: float, config: SolverConfig, deadline: float
) -> tuple[IntArray, float]:
    """Re-solve the work of a few pools at a time while time remains and the gap is open."""
    rng = np.random.default_rng(config.seed)
    objective = table.objective(choice)
    arc_of_pool_w = table.arc_w
    n_pools = table.n_pools
    k = 2
    while time.perf_counter() < deadline - 0.05:
        if relative_gap(objective, bound) <= config.relative_gap_limit:
            break
        usage = table.usage(choice)
        tight = table.pool_cap > 0
        weights = np.where(tight, 1.0 + (usage >= table.pool_cap), 0.0)
        if weights.sum() == 0:
            break
        pools = rng.choice(
            n_pools, size=min(k, int(tight.sum())), replace=False, p=weights / weights.sum()
        )
        on_pools = np.isin(table.arc_pool, pools)
        placed_there = (choice >= 0) & np.isin(table.arc_pool[np.maximum(choice, 0)], pools)
        could = np.zeros(table.n_workloads, dtype=bool)
        could[arc_of_pool_w[on_pools]] = True
        free = np.flatnonzero(placed_there | (could & (choice < 0)))
        if free.shape[0] > LNS_MAX_FREE:
            free = rng.choice(free, size=LNS_MAX_FREE, replace=False)
        if not free.size:
            continue
        found, _, _ = solve_subset(
            table,
            choice,
            free,
            time_limit_s=min(1.0, deadline - time.perf_counter()),
            num_workers=config.num_workers,
            seed=int(rng.integers(1 << 30)),
        )
        value = table.objective(found)
        if value < objective - 1e-9:
            choice, objective = found, value
    return choice, objective


def staying_arcs(table: Table, current_pool_site: IntArray) -> IntArray:
    """For each workload, its cheapest arc on the site it runs on now (−1 if none)."""
    site_of_arc = table.pool_site[table.arc_pool]
    here = site_of_arc == current_pool_site[table.arc_w]
    staying = np.full(table.n_workloads, -1, dtype=np.int64)
    idx = np.flatnonzero(here)
    # Dearest first, so the cheapest arc at the site is the one written last.
    idx = idx[np.argsort(-table.arc_cost[idx], kind="stable")]
    staying[table.arc_w[idx]] = idx
    return staying


def warm_choice(table: Table, current_pool_site: IntArray) -> IntArray | None:
    """The current plan as a warm start, if any workload is running."""
    if not np.any(current_pool_site >= 0):
        return None
    return warm_start(table, staying_arcs(table, current_pool_site))
