"""Choose the method by size, and certify the plan with the relaxation's bound.

Every solve runs the same pipeline on the cost table:

1. **Relax** (:mod:`solver.relax`): min-cost flow or LP; its value is a proven bound.
2. **Round and repair** (:mod:`solver.heuristics`): keep what the relaxation places whole,
   put the rest on the cheapest pool with room, then move single workloads to cheaper
   pools while any has room. A warm start (running work staying put) competes.
3. **Tighten the bound** (:mod:`solver.lagrange`) while the gap exceeds the limit: the
   Lagrangian bound with one integer knapsack per pool, from the relaxation's prices and
   then by a short subgradient ascent. The bound reported is the best of the relaxation,
   the Lagrangian and (below) CP-SAT.
4. **Close the gap** while it exceeds ``relative_gap_limit`` and time remains: small tables
   (at most ``exact_max_arcs`` pairs) go to CP-SAT whole, warm-started from step 2, which
   may also prove optimality; larger ones to large-neighbourhood search: CP-SAT re-solves
   the work of a few pools at a time with everything else fixed.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from solver import lagrange, lns
from solver.arrays import FloatArray, IntArray
from solver.columns import column_dive
from solver.cpsat import solve_subset
from solver.errors import InvalidProblemError
from solver.heuristics import eject, fill, improve, round_down, round_guided, warm_start
from solver.relax import Relaxation, reflow, relax
from solver.table import Table

METHODS = ("auto", "exact", "relax-round")
SMALL_ARCS = 1_000_000
"""Up to this many pairs, a second rounding (keep only what the relaxation places whole)
competes with the guided one."""
ASSEMBLE_S_PER_WORKLOAD = 1e-5
"""Time kept back per workload for turning the choice into a plan (measured ~0.5 s/100k)."""
STOP_SHARE = 0.005
"""Share of the time limit kept back at least: CP-SAT and GLOP stop a little after their
own limits."""
CPSAT_S_PER_ARC = 4e-5
"""Rough cost of building a CP-SAT model, per pair (measured: ~0.35 s for 20,000 pairs)."""
WHOLE_CPSAT_ARCS = 3_000
"""Up to this many pairs CP-SAT first gets the whole table (it proves small ones optimal)."""
RESTRICTED_SHARE = 0.4
"""Share of the time limit for the restricted start (see solver.lns)."""
LARGE_SUB_TIME_S = 0.5
"""Seconds per neighbourhood on tables too large for the restricted start."""
LAGRANGE_S_PER_ARC = 1.5e-7
"""Time to evaluate the Lagrangian bound once, per pair, with room to spare (measured
~6e-8 at 100,000 workloads × 100 sites on 2 cores)."""
ASCENT_SHARE = 0.05
"""Share of the time limit for raising the Lagrangian bound by subgradient ascent."""
DIVE_SHARE = 0.7
"""Share of the time limit for the column dive (see solver.columns)."""
DIVE_MAX_ARCS = 8_000
"""Above this many pairs no column dive runs: its LP and pricing take too long for the dives
to pay (measured on generated type-d tables: at 40 pools × 400 workloads the root LP alone
took 4 s, and the plan was dearer than large-neighbourhood search's alone)."""
DIVE_ASCENT_SHARE = 0.12
"""Share of the time limit for the ascent when a column dive follows."""
RESERVE_MAX_SHARE = 0.2
"""Share of the time limit kept back at most for pricing and explaining the plan."""
RELAX_SHARE = 0.5
"""Share of the search time the relaxation may take: rounding and search need the rest."""
TINY_ARCS = 800
"""Up to this many pairs CP-SAT on the whole table gets ``TINY_WHOLE_SHARE`` of the time
limit, above it ``WHOLE_SHARE``: tiny tables are proven optimal in that time."""
TINY_WHOLE_SHARE, WHOLE_SHARE = 0.5, 0.1
LARGE_SUB_SHARE = 0.1
"""Share of the time limit per neighbourhood on large tables, capped by ``LARGE_SUB_TIME_S``."""
DIVE_MIN_SLACK = 1e-6
"""Least slack the column dive gets, relative to the objective, when the bound meets it."""


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
    hint: IntArray | None = None,
) -> Outcome:
    """The best choice the time allows, with the relaxation's (or CP-SAT's) bound.

    ``current`` gives the site each workload runs on now (−1: new): keeping them there is a
    warm start. ``hint``, a choice that fits the table, competes as another.
    """
    started = time.perf_counter() if started is None else started
    # Keep time to price and explain the plan after the search.
    reserve = min(
        RESERVE_MAX_SHARE * config.time_limit_s,
        max(ASSEMBLE_S_PER_WORKLOAD * table.n_workloads, STOP_SHARE * config.time_limit_s),
    )
    deadline = started + config.time_limit_s - reserve
    relax_started = time.perf_counter()
    relaxation = relax(table, RELAX_SHARE * (deadline - relax_started))
    relax_s = time.perf_counter() - relax_started
    bound = relaxation.bound
    # The Lagrangian bound at the relaxation's prices needs no plan: it runs beside the
    # rounding (mostly in NumPy, which releases the GIL).
    side = _lagrangian_beside(table, relaxation, deadline)
    choice = improve(table, fill(table, round_guided(table, relaxation.fraction)))
    if table.n_arcs <= SMALL_ARCS:
        # Keep all the relaxation places whole; the split ones take their pool by moving
        # its cheapest-to-move occupants (better than guided rounding at mid sizes).
        kept = improve(
            table, fill(table, eject(table, round_down(table, relaxation.fraction), deadline))
        )
        choice = _cheaper(table, choice, kept)
    method = f"{relaxation.method}+round"
    # Left-out work the relaxation placed may fit once a few occupants move over.
    choice = improve(table, eject(table, choice, deadline))
    warm = warm_choice(table, current) if current is not None else None
    if warm is not None:
        choice = _cheaper(table, choice, improve(table, fill(table, warm)))
    if hint is not None:
        choice = _cheaper(table, choice, improve(table, fill(table, hint)))
    choice = _reflowed(table, choice, bound, config, latest=deadline - 2 * relax_s)
    objective = table.objective(choice)
    lp_bound = bound
    start = side.result() if side is not None else None
    lam = None if start is None else start.lam
    if start is not None:
        bound = max(bound, start.first.bound)
    # CP-SAT on a small whole table often proves optimality outright: the ascent waits.
    whole_first = config.method == "exact" or (
        config.method == "auto" and table.n_arcs <= min(config.exact_max_arcs, WHOLE_CPSAT_ARCS)
    )
    small_start = table.n_arcs <= config.exact_max_arcs or (
        table.must_place and lns.RESTRICTED_PAIRS_FEW * table.n_workloads <= config.exact_max_arcs
    )
    dives = config.method != "exact" and small_start and table.n_arcs <= DIVE_MAX_ARCS
    if not whole_first:
        bound, lam = _tighten(
            start, relaxation, objective, bound, config, deadline, dive_next=dives
        )
    optimal = relative_gap(objective, bound) <= config.relative_gap_limit
    if optimal or config.method == "relax-round" or table.n_arcs == 0:
        return _outcome(table, choice, bound, optimal, method, started)

    remaining = deadline - time.perf_counter()
    # The next model is the whole table, the restricted start (a few pairs per workload) or
    # two neighbourhoods, whichever is smallest.
    next_model = min(
        table.n_arcs,
        lns.RESTRICTED_PAIRS_FEW * table.n_workloads,
        2 * lns.MAX_FREE * lns.NEIGHBOUR_PAIRS,
    )
    if config.method != "exact" and remaining < CPSAT_S_PER_ARC * next_model:
        # Not even time to build a CP-SAT model: the rounded plan is the answer.
        return _outcome(table, choice, bound, optimal, method, started)
    reduced = lns.reduced_costs(table, relaxation.duals)
    if config.method == "exact" or table.n_arcs <= config.exact_max_arcs:
        # Small: CP-SAT on the whole table first; it may prove optimality.
        share = TINY_WHOLE_SHARE if table.n_arcs <= TINY_ARCS else WHOLE_SHARE
        whole = config.time_limit_s if config.method == "exact" else share * config.time_limit_s
        if config.method == "exact" or table.n_arcs <= WHOLE_CPSAT_ARCS:
            found, cp_bound, proven = solve_subset(
                table,
                choice,
                np.arange(table.n_workloads),
                time_limit_s=min(whole, deadline - time.perf_counter()),
                num_workers=config.num_workers,
                seed=config.seed,
            )
            if cp_bound is not None:
                bound = max(bound, cp_bound)
            if table.objective(found) < objective:
                choice = improve(table, found)
                objective = table.objective(choice)
            method = "cp-sat"
            if proven or relative_gap(objective, bound) <= config.relative_gap_limit:
                return _outcome(table, choice, bound, True, method, started)
            bound, lam = _tighten(
                start, relaxation, objective, bound, config, deadline, dive_next=dives
            )
            if relative_gap(objective, bound) <= config.relative_gap_limit:
                return _outcome(table, choice, bound, True, method, started)
    else:
        method = f"{relaxation.method}+lns"
    columns_used = ""
    if dives and lam is not None:
        # Columns near each pool's knapsack optimum at the Lagrangian prices, and a dive
        # on their LP (solver.columns): where the best plans fill every pool almost as
        # the Lagrangian would, which moves of a few workloads do not reach.
        dived = column_dive(
            table,
            lam,
            slack=max(objective - bound, DIVE_MIN_SLACK * abs(objective)),
            upper=objective,
            deadline=min(deadline, time.perf_counter() + DIVE_SHARE * config.time_limit_s),
            num_workers=config.num_workers,
            seed=config.seed,
        )
        if dived is not None and table.objective(dived) < objective:
            choice, objective = dived, table.objective(dived)
            columns_used = "+columns"
    if config.method != "exact" and small_start:
        # Few enough workloads for one CP-SAT model over each one's best pairs.
        choice = lns.restricted_start(
            table,
            choice,
            lns.ranks(table, reduced),
            time_limit_s=min(
                RESTRICTED_SHARE * config.time_limit_s, deadline - time.perf_counter()
            ),
            num_workers=config.num_workers,
            seed=config.seed,
        )
        method = f"{relaxation.method}{columns_used}+cp-sat+lns"
    if config.method != "exact":
        choice = lns.search(
            table,
            choice,
            bound=bound,
            room_bound=lp_bound,
            reduced=reduced,
            deadline=deadline,
            gap_limit=config.relative_gap_limit,
            workers=config.num_workers,
            seed=config.seed,
            sub_time_s=lns.SUB_TIME_S
            if table.n_arcs <= config.exact_max_arcs
            else min(LARGE_SUB_TIME_S, max(lns.SUB_TIME_S, LARGE_SUB_SHARE * config.time_limit_s)),
        )
        choice = improve(table, choice)
        choice = _reflowed(table, choice, bound, config, latest=deadline + reserve - relax_s)
    objective = table.objective(choice)
    optimal = relative_gap(objective, bound) <= config.relative_gap_limit
    return _outcome(table, choice, bound, optimal, method, started)


def _reflowed(
    table: Table, choice: IntArray, bound: float, config: SolverConfig, *, latest: float
) -> IntArray:
    """``choice`` with its smallest workloads re-placed optimally around the rest
    (:func:`solver.relax.reflow`), when that is cheaper. Only while the gap exceeds the
    limit and it is not yet ``latest`` (the flow costs about one relaxation)."""
    if (
        table.must_place
        or relative_gap(table.objective(choice), bound) <= config.relative_gap_limit
        or time.perf_counter() >= latest
    ):
        return choice
    flowed = reflow(table, choice)
    if flowed is None:
        return choice
    return _cheaper(table, choice, improve(table, fill(table, flowed)))


def _tighten(
    start: lagrange.Start | None,
    relaxation: Relaxation,
    objective: float,
    bound: float,
    config: SolverConfig,
    deadline: float,
    *,
    dive_next: bool = False,
) -> tuple[float, FloatArray | None]:
    """The bound after a subgradient ascent on the Lagrangian (at most ``ASCENT_SHARE`` of
    the time limit), when the gap still exceeds the limit, and the multipliers that gave
    the best Lagrangian bound (``None`` without a Lagrangian). Before a column dive
    (``dive_next``) the ascent gets ``DIVE_ASCENT_SHARE``: the dive's columns are only as
    good as the multipliers."""
    if start is None:
        return bound, None
    if relative_gap(objective, bound) <= config.relative_gap_limit:
        return bound, start.lam
    share = DIVE_ASCENT_SHARE if dive_next else ASCENT_SHARE
    ascent = lagrange.ascend(
        start,
        upper=objective,
        deadline=time.perf_counter() + share * config.time_limit_s,
        hard_deadline=deadline,
        classes=relaxation.classes,
    )
    return max(bound, ascent.bound), ascent.lam


def _lagrangian_beside(
    table: Table, relaxation: Relaxation, deadline: float
) -> Future[lagrange.Start] | None:
    """L at the relaxation's workload duals, computed in a thread, when there are prices
    and time for it."""
    if relaxation.duals is None or table.n_workloads == 0 or table.n_arcs == 0:
        return None
    if deadline - time.perf_counter() < LAGRANGE_S_PER_ARC * table.n_arcs:
        return None
    side = ThreadPoolExecutor(max_workers=1)
    try:
        return side.submit(lagrange.begin, table, relaxation)
    finally:
        side.shutdown(wait=False)  # the task runs on; the thread ends with it


def _cheaper(table: Table, choice: IntArray, other: IntArray) -> IntArray:
    """``other`` if it costs less than ``choice``, else ``choice``."""
    return other if table.objective(other) < table.objective(choice) else choice


def _outcome(
    table: Table, choice: IntArray, bound: float, optimal: bool, method: str, started: float
) -> Outcome:
    objective = table.objective(choice)
    return Outcome(
        table,
        choice,
        objective,
        min(bound, objective),
        optimal,
        method,
        time.perf_counter() - started,
    )


def staying_arcs(table: Table, current_pool_site: IntArray) -> IntArray:
    """The arcs on the site each workload runs on now, by workload, cheapest first (and
    within a price, in pool order: a shaped site's smaller node pools come first)."""
    site_of_arc = table.pool_site[table.arc_pool]
    idx = np.flatnonzero(site_of_arc == current_pool_site[table.arc_w])
    order = np.lexsort((table.arc_pool[idx], table.arc_cost[idx], table.arc_w[idx]))
    return idx[order]


def warm_choice(table: Table, current_pool_site: IntArray) -> IntArray | None:
    """The current plan as a warm start, if any workload is running."""
    if not np.any(current_pool_site >= 0):
        return None
    return warm_start(table, staying_arcs(table, current_pool_site))
