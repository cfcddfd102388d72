"""Lagrangian columns: near-optimal knapsack fills per pool, and a dive on their LP.

For multipliers λ (:mod:`solver.lagrange`), pool ``p`` filled with the pairs ``S`` earns
the profit Σ_{a∈S} (λ_w(a) − c_a). With K_p the pool's best profit, a must-place plan that
fills each pool p with S_p costs exactly::

    cost = L(λ) + Σ_p rc_p(S_p),      rc_p(S) = K_p − profit(S) ≥ 0

so a plan within ``slack`` of L(λ) fills every pool with a *column* of reduced cost at most
``slack``. On the hard site-dependent case (generalized assignment with tight capacity,
OR-Library type d) the best plans are spread thin over all pools: every pool within a
few units of its knapsack optimum, where a plan from local moves sits at 4 on average.

:func:`enumerate_columns` lists, per pool, every fill within ``slack`` (a breadth-first
enumeration over the pool's pairs by profit per device, pruned by the LP bound of the
pairs still to decide). :func:`column_dive` then solves the set-partitioning LP over those
columns (each pool at most one column, each workload exactly once) with GLOP, prices new
columns from each open pool's knapsack (smoothed toward the duals of the best Lagrangian
bound, which also bounds every node of the dive), fixes the columns the LP takes whole and
one fractional column, and re-solves (warm) until few workloads are left; CP-SAT places
those on every pool's remaining room. A fix whose node bound reaches the plan to beat is
taken back and its column banned. Later dives search around the best one so far: each
retraces it up to a random step, bans that step's fractional column and dives on greedily
(one discrepancy from the best path, cheaper than a dive from the root the later the step).
Measured on chu1997 d20200 (20 pools × 200 workloads): the first dive's plan is within
0.2–0.4% of the best known in 1.5 s, where local search from a rounding stalls near 1%;
the dives around it reach 0.05–0.15% within 7 s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from solver.arrays import EPS, INTEGRALITY_TOL, BoolArray, FloatArray, IntArray
from solver.cpsat import solve_subset
from solver.heuristics import improve
from solver.knapsack import solve_knapsacks
from solver.table import Table

PRICING_ROUNDS = 4
"""Pricing rounds at most per LP of the dive (``ROOT_ROUNDS`` for the first)."""
ROOT_ROUNDS = 30
PARTIAL_PER_COLUMN = 10
"""The enumeration gives up once partial fills outnumber its column limit this many times."""
OUT_FACTOR = 4
"""In the dive's LP, must-place work left out costs this many times its dearest pair."""
BACKTRACKS = 5
"""Times a dive takes back a fractional fix that lifted its node bound to the plan to beat
and bans that column instead."""
SMOOTHING = 0.7
"""Weight of the best-bound duals in the smoothed pricing point."""
CONVERGED = 1e-4
"""Pricing stops once the LP is within this (relative) of the Lagrangian bound."""
RESIDUAL_WORK, RESIDUAL_POOLS, RESIDUAL_MAX = 30, 3.0, 80
"""A dive ends once at most this many workloads are left for CP-SAT: ``RESIDUAL_POOLS``
pools' worth of workloads on average, at least ``RESIDUAL_WORK`` and at most
``RESIDUAL_MAX``."""
MAX_DIVES, STALL_DIVES = 40, 8
"""Dives at most per call, and in a row without a cheaper plan."""
RESIDUAL_S = 1.0
"""Seconds at most for CP-SAT on a dive's residual."""
PRICE_EPS = 1e-9
"""A column enters when it prices below zero by more than this, relative to its profit."""


@dataclass(frozen=True, slots=True)
class Columns:
    """Column ``k`` fills pool ``pool[k]`` with the pairs ``arcs[ptr[k]:ptr[k + 1]]`` at
    cost ``cost[k]`` and reduced cost ``rc[k]``."""

    pool: IntArray
    cost: FloatArray
    rc: FloatArray
    ptr: IntArray
    arcs: IntArray

    @property
    def count(self) -> int:
        return int(self.pool.shape[0])


def _fills(
    size: IntArray, profit: FloatArray, cap: int, floor: float, limit: int
) -> BoolArray | None:
    """Every subset of the items with Σ size ≤ ``cap`` and Σ profit ≥ ``floor``, as rows
    of a (subsets × items) mask; ``None`` once more than ``limit`` partial subsets are
    alive. Items must come ordered by profit per unit size, non-positive profits last."""
    n = int(size.shape[0])
    positive = int(np.count_nonzero(profit > 0))
    cw = np.concatenate(([0], np.cumsum(size[:positive])))
    cp = np.concatenate(([0.0], np.cumsum(profit[:positive])))
    s_cap = np.array([cap], dtype=np.int64)
    s_prof = np.zeros(1)
    parents: list[IntArray] = []
    took: list[BoolArray] = []
    for d in range(n):
        inc = np.flatnonzero(s_cap >= size[d])
        alive = s_cap.shape[0]
        new_cap = np.concatenate((s_cap, s_cap[inc] - size[d]))
        new_prof = np.concatenate((s_prof, s_prof[inc] + profit[d]))
        parent = np.concatenate((np.arange(alive), inc))
        take = np.zeros(new_cap.shape[0], dtype=bool)
        take[alive:] = True
        # The LP (Dantzig) bound of the positive items after d, at each state's room.
        upper = new_prof.copy()
        s = d + 1
        if s < positive:
            target = cw[s] + new_cap
            k = np.searchsorted(cw, target, side="right") - 1
            upper += cp[k] - cp[s]
            partial = k < positive
            kk = k[partial]
            upper[partial] += profit[kk] * (target[partial] - cw[kk]) / size[kk]
        keep = np.flatnonzero(upper >= floor - EPS * max(1.0, abs(floor)))
        if keep.shape[0] > PARTIAL_PER_COLUMN * limit:
            return None
        s_cap, s_prof = new_cap[keep], new_prof[keep]
        parents.append(parent[keep])
        took.append(take[keep])
    rows = s_cap.shape[0]
    if rows > limit:
        return None
    mask = np.zeros((rows, n), dtype=bool)
    idx = np.arange(rows)
    for d in range(n - 1, -1, -1):
        mask[:, d] = took[d][idx]
        idx = parents[d][idx]
    return mask


def enumerate_columns(table: Table, lam: FloatArray, slack: float, limit: int) -> Columns | None:
    """Every pool's fills whose reduced cost at ``lam`` is at most ``slack`` (plus the
    empty fill), or ``None`` when they number more than ``limit``."""
    profit_all = lam[table.arc_w] - table.arc_cost
    fits = table.arc_dev <= table.pool_cap[table.arc_pool]
    best = solve_knapsacks(
        table.arc_pool[fits], table.arc_dev[fits], profit_all[fits], table.pool_cap
    ).value
    pools: list[IntArray] = []
    costs: list[FloatArray] = []
    rcs: list[FloatArray] = []
    sizes: list[IntArray] = []
    members: list[IntArray] = []
    total = 0
    # A pair can only be in a fill within slack if dropping it loses at most slack (a fill
    # exactly at the slack counts, as in ``_fills``).
    usable = np.flatnonzero(fits & (profit_all >= -slack - EPS * max(1.0, slack)))
    by_pool = np.argsort(table.arc_pool[usable], kind="stable")
    usable = usable[by_pool]
    bounds = np.searchsorted(table.arc_pool[usable], np.arange(table.n_pools + 1))
    for p in range(table.n_pools):
        arcs = usable[bounds[p] : bounds[p + 1]]
        size, profit = table.arc_dev[arcs], profit_all[arcs]
        ratio = np.where(profit > 0, profit / np.maximum(size, EPS), -np.inf)
        order = np.lexsort((-profit, -ratio))
        arcs, size, profit = arcs[order], size[order], profit[order]
        mask = _fills(size, profit, int(table.pool_cap[p]), float(best[p]) - slack, limit - total)
        if mask is None:
            return None
        mask = mask[mask.any(axis=1)]  # the empty fill comes once, below
        rows = mask.shape[0]
        total += rows + 1
        if total > limit:
            return None
        # The empty fill as well (row 0): a pool may stay unused.
        mask = np.vstack((np.zeros((1, arcs.shape[0]), dtype=bool), mask))
        pools.append(np.full(rows + 1, p, dtype=np.int64))
        costs.append(mask @ table.arc_cost[arcs])
        rcs.append(float(best[p]) - mask @ profit)
        sizes.append(mask.sum(axis=1))
        members.append(np.broadcast_to(arcs, mask.shape)[mask])
    if not pools:
        return None
    count = np.concatenate(sizes).astype(np.int64)
    return Columns(
        pool=np.concatenate(pools),
        cost=np.concatenate(costs),
        rc=np.concatenate(rcs),
        ptr=np.concatenate(([0], np.cumsum(count))).astype(np.int64),
        arcs=np.concatenate(members).astype(np.int64),
    )


def column_dive(
    table: Table,
    lam: FloatArray,
    *,
    slack: float,
    deadline: float,
    upper: float = np.inf,
    limit: int = 4_000,
    open_work: int | None = None,
    num_workers: int = 2,
    seed: int = 0,
) -> IntArray | None:
    """The cheapest plan of repeated dives on the set-partitioning LP over the pools'
    columns within ``slack`` of their knapsack optimum, or ``None`` when there are too many
    columns, no time, or no dive ends in a plan. ``slack`` halves until at most ``limit``
    columns remain. The first dive is greedy; each later one leaves the best dive's path at
    one step (:meth:`_Master.redive`), or, while no dive has ended in a plan, draws its
    fractional columns at random. A dive leaves ``open_work`` workloads to CP-SAT (by
    default ``RESIDUAL_POOLS`` pools' worth), and takes back fixes whose node bound reaches
    the cost of the plan to beat (:meth:`_Master.dive`): ``upper``, then the best dive's."""
    columns = None
    took = 0.0
    while slack > EPS and time.perf_counter() + took < deadline:
        began = time.perf_counter()
        columns = enumerate_columns(table, lam, slack, limit)
        if columns is not None:
            break
        slack *= 0.5
        took = time.perf_counter() - began  # the next try takes about as long
    if columns is None:
        return None
    if open_work is None:
        per_pool = table.n_workloads / max(1, table.n_pools)
        open_work = int(min(RESIDUAL_MAX, max(RESIDUAL_WORK, RESIDUAL_POOLS * per_pool)))
    master = _Master(table, columns)
    master.center = lam  # the dive's pricing starts from the ascent's multipliers
    if not master.solve(deadline, ROOT_ROUNDS):
        return None
    root = master.objective.Value()
    rng = np.random.default_rng(seed)
    best: IntArray | None = None
    best_cost = np.inf
    best_path: _Path | None = None
    dives = stall = 0
    while dives < MAX_DIVES and stall < STALL_DIVES and time.perf_counter() < deadline:
        # The first dive follows the LP's largest fractional column; later ones leave the
        # best dive's path at one step (at random while there is none).
        center = master.center
        beat = min(upper, best_cost)
        if best_path is None:
            path = master.dive(deadline, open_work, beat, rng if dives else None)
        else:
            path = master.redive(best_path, deadline, open_work, beat, rng)
        dives += 1
        plan = _complete(master, deadline, num_workers, seed + dives)
        master.undo(path.made)
        master.center = center
        stall += 1
        if plan is not None and table.objective(plan) < best_cost:
            best, best_cost, stall, best_path = plan, table.objective(plan), 0, path
        if best_cost <= root + EPS * max(1.0, abs(root)):
            break  # as cheap as the LP over the columns: no dive can do better
    return best


def _complete(master: _Master, deadline: float, num_workers: int, seed: int) -> IntArray | None:
    """The plan of the master's fixed columns, CP-SAT placing the rest on every pool's
    remaining room for at most ``RESIDUAL_S``; ``None`` if that fails."""
    table = master.table
    choice = np.full(table.n_workloads, -1, dtype=np.int64)
    for k in np.flatnonzero(np.array(master.fixed, dtype=bool)).tolist():
        arcs = master.arcs[k]
        choice[table.arc_w[arcs]] = arcs
    rest = np.flatnonzero(choice < 0)
    if rest.size:
        remaining = min(RESIDUAL_S, deadline - time.perf_counter())
        if remaining <= 0:
            return None
        choice, _, _ = solve_subset(
            table, choice, rest, time_limit_s=remaining, num_workers=num_workers, seed=seed
        )
        if table.must_place and np.any(choice < 0):
            return None
    if not table.fits(choice):
        return None
    out: IntArray = improve(table, choice)
    return out


@dataclass(slots=True)
class _Path:
    """A dive's fixes in order (each column with the columns its fix excluded, or
    ``None`` for a ban), and where each step's fixes begin in them, with the step's
    fractional column (−1 if none)."""

    made: list[tuple[int, list[int] | None]]
    steps: list[tuple[int, int]]


class _Master:
    """The set-partitioning LP over columns, grown by pricing (column generation).

    Rows: each pool at most one column; each workload exactly once, by a column or by its
    "out" variable at its penalty (for must-place tables, ``OUT_FACTOR`` times the
    workload's dearest pair: the LP leaves work out only when the columns cannot cover it,
    and its duals stay on the scale of the costs). New columns come from each open pool's
    knapsack (:func:`solver.knapsack.solve_knapsacks`) when they price below zero
    (:meth:`solve`).
    """

    def __init__(self, table: Table, columns: Columns) -> None:
        self.table = table
        penalty = table.penalty
        if table.must_place and table.n_arcs:
            dearest = np.maximum.reduceat(
                table.arc_cost, np.minimum(table.start[:-1], table.n_arcs - 1)
            )
            penalty = np.minimum(penalty, OUT_FACTOR * np.abs(dearest) + 1.0)
        self.penalty = penalty
        self.bound = -np.inf
        self.center: FloatArray | None = None
        self.cost: list[float] = []
        self.fixed_cost = 0.0  # of the fixed columns
        self.pool: list[int] = []
        self.arcs: list[IntArray] = []
        self.alive: list[bool] = []
        self.fixed: list[bool] = []
        self.covered = np.zeros(table.n_workloads, dtype=bool)
        self.pool_open = np.ones(table.n_pools, dtype=bool)
        self.by_pool: list[list[int]] = [[] for _ in range(table.n_pools)]
        self.by_work: list[list[int]] = [[] for _ in range(table.n_workloads)]
        self.seen: set[tuple[int, bytes]] = set()
        self.banned: set[int] = set()
        self._build()
        for k in range(columns.count):
            self.add(int(columns.pool[k]), columns.arcs[columns.ptr[k] : columns.ptr[k + 1]])

    def _build(self) -> None:
        """A new LP with every column so far, each bounded as its state says."""
        table = self.table
        self.lp = lp = pywraplp.Solver.CreateSolver("GLOP")
        # GLOP's presolve gave up (ABNORMAL) on some warm re-solves after pricing.
        lp.SetSolverSpecificParametersAsString("use_preprocessing:false")
        self.objective = lp.Objective()
        self.objective.SetMinimization()
        self.pool_rows = [lp.RowConstraint(0.0, 1.0, "") for _ in range(table.n_pools)]
        self.work_rows = [lp.RowConstraint(1.0, 1.0, "") for _ in range(table.n_workloads)]
        for w, pen in enumerate(self.penalty.tolist()):
            out = lp.NumVar(0.0, 1.0, "")
            self.objective.SetCoefficient(out, pen)
            self.work_rows[w].SetCoefficient(out, 1.0)
        self.xs: list[pywraplp.Variable] = []
        for k in range(len(self.cost)):
            self._variable(k)

    def _variable(self, k: int) -> None:
        """Column ``k``'s variable in the LP."""
        fixed, alive = self.fixed[k], self.alive[k]
        x = self.lp.NumVar(1.0 if fixed else 0.0, 1.0 if alive or fixed else 0.0, "")
        self.objective.SetCoefficient(x, self.cost[k])
        self.pool_rows[self.pool[k]].SetCoefficient(x, 1.0)
        for w in self.table.arc_w[self.arcs[k]].tolist():
            self.work_rows[w].SetCoefficient(x, 1.0)
        self.xs.append(x)

    def add(self, pool: int, arcs: IntArray) -> None:
        key = (pool, np.sort(arcs).tobytes())
        if key in self.seen:
            return
        self.seen.add(key)
        k = len(self.cost)
        self.cost.append(float(self.table.arc_cost[arcs].sum()))
        self.pool.append(pool)
        self.arcs.append(arcs)
        self.alive.append(True)
        self.fixed.append(False)
        for w in self.table.arc_w[arcs].tolist():
            self.by_work[w].append(k)
        self.by_pool[pool].append(k)
        self._variable(k)

    def solve(self, deadline: float, rounds: int = PRICING_ROUNDS) -> bool:
        """Solve the LP, pricing new columns in, until none prices below zero, the LP meets
        the Lagrangian bound, or ``rounds`` LPs are solved; ``False`` if out of time.

        Pricing is smoothed (Wentges): the knapsacks run at ``SMOOTHING``·π̂ + (1 − that)·π,
        π the LP's workload duals and π̂ the stability center (:attr:`center`): the
        multipliers of the best Lagrangian bound found, carried from node to node (the
        caller sets the root's, and restores it when a dive is undone). Their fills enter
        when they price below zero at π (else the knapsacks run at π itself). The first
        round of a node also runs them at π̂ itself. Every knapsack round gives a Lagrangian
        bound on the LP with the current fixes (:attr:`bound`), valid whatever columns the
        LP has.

        GLOP sometimes fails a warm re-solve (ABNORMAL) and stays failed: the LP is then
        rebuilt from the columns (:meth:`_build`) and solved afresh.
        """
        table = self.table
        self.bound = -np.inf
        at_center = self.center is not None
        for last in range(rounds, 0, -1):
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self.lp.set_time_limit(max(1, int(1000 * left)))
            status = self.lp.Solve()
            if status == pywraplp.Solver.ABNORMAL:
                self._build()
                self.lp.set_time_limit(max(1, int(1000 * (deadline - time.perf_counter()))))
                status = self.lp.Solve()
            if status != pywraplp.Solver.OPTIMAL:
                return False
            value = self.objective.Value()
            if last == 1 or value - self.bound <= CONVERGED * max(1.0, abs(value)):
                break
            pi = np.array([r.dual_value() for r in self.work_rows])
            mu = np.array([r.dual_value() for r in self.pool_rows])
            arcs = np.flatnonzero(self.pool_open[table.arc_pool] & ~self.covered[table.arc_w])
            center = self.center
            points = [pi] if center is None else [SMOOTHING * center + (1 - SMOOTHING) * pi, pi]
            if at_center and center is not None:
                points.insert(0, center)
                at_center = False
            added = False
            for i, point in enumerate(points):
                new, bound = self._price(arcs, point, pi, mu)
                added |= new
                if bound > self.bound:
                    self.bound, self.center = bound, point
                if added and i >= len(points) - 2:
                    break
            if not added:
                return True
        return True

    def _price(
        self, arcs: IntArray, point: FloatArray, pi: FloatArray, mu: FloatArray
    ) -> tuple[bool, float]:
        """Each open pool's best fill at workload prices ``point``, added when it prices
        below zero at the LP's duals (``pi``, ``mu``). Returns whether a column was added,
        and the Lagrangian bound at ``point``."""
        table = self.table
        w = table.arc_w[arcs]
        sacks = solve_knapsacks(
            table.arc_pool[arcs],
            table.arc_dev[arcs],
            point[w] - table.arc_cost[arcs],
            table.pool_cap,
        )
        open_work = ~self.covered
        bound = (
            self.fixed_cost
            + float(np.minimum(point, self.penalty)[open_work].sum())
            - float(sacks.value[self.pool_open].sum())
        )
        chosen = arcs[sacks.chosen]
        gain = (
            np.bincount(
                table.arc_pool[chosen],
                weights=pi[table.arc_w[chosen]] - table.arc_cost[chosen],
                minlength=table.n_pools,
            )
            + mu
        )
        pricing = np.flatnonzero(self.pool_open & (gain > PRICE_EPS * (1.0 + np.abs(gain))))
        for p in pricing.tolist():
            self.add(p, chosen[table.arc_pool[chosen] == p])
        return bool(pricing.size), bound

    def dive(
        self,
        deadline: float,
        open_work: int,
        upper: float,
        rng: np.random.Generator | None,
        path: _Path | None = None,
    ) -> _Path:
        """Fix columns until at most ``open_work`` workloads are left uncovered (or the LP is
        integral), going on from ``path`` (the fixes already made, if any); returns the path
        with the fixes and steps made (:class:`_Path`; ``path.made`` is for :meth:`undo`).

        Each step fixes the columns the LP takes whole and one fractional column: the
        largest, or (with ``rng``) one drawn among the fractional ones by weight value². A
        fix that lifts the node's Lagrangian bound to ``upper`` (the plan to beat) is taken
        back and its fractional column banned, ``BACKTRACKS`` times at most; then the dive
        ends.
        """
        path = _Path([], []) if path is None else path
        made, steps = path.made, path.steps
        batch = 0  # fixes of the last step, at the end of ``made``
        guess = -1  # its fractional column
        backtracks = BACKTRACKS
        while time.perf_counter() < deadline:
            if not self.solve(deadline):
                break
            if self.bound >= upper:
                self.undo(made[len(made) - batch :])
                del made[len(made) - batch :]
                if batch:
                    steps.pop()
                batch = 0
                if guess < 0 or backtracks == 0:
                    break
                backtracks -= 1
                self.ban(guess)
                made.append((guess, None))
                guess = -1
                continue
            live = [k for k in range(len(self.xs)) if self.alive[k] and not self.fixed[k]]
            value = np.array([self.xs[k].solution_value() for k in live])
            live_a = np.array(live, dtype=np.int64)
            take = live_a[value >= 1.0 - INTEGRALITY_TOL]
            frac = np.flatnonzero((value > INTEGRALITY_TOL) & (value < 1.0 - INTEGRALITY_TOL))
            guess = -1
            if frac.size:
                if rng is None:
                    pick = int(np.argmax(value[frac]))
                else:
                    weight = value[frac] ** 2
                    pick = int(rng.choice(frac.shape[0], p=weight / weight.sum()))
                guess = int(live_a[frac[pick]])
                take = np.append(take, guess)
            if not take.size:
                break
            support = {int(k) for k in live_a[value > INTEGRALITY_TOL]}
            fixes = [(k, self.fix(k, support)) for k in take.tolist() if self.alive[k]]
            steps.append((len(made), guess))
            made.extend(fixes)
            batch = len(fixes)
            if not frac.size or int(np.count_nonzero(~self.covered)) <= open_work:
                break
        return path

    def redive(
        self,
        best: _Path,
        deadline: float,
        open_work: int,
        upper: float,
        rng: np.random.Generator,
    ) -> _Path:
        """The dive ``best`` up to one of its steps (drawn at random), that step's
        fractional column banned, then a greedy dive on from there (:meth:`dive`)."""
        turns = [i for i, (_, guess) in enumerate(best.steps) if guess >= 0]
        if not turns:
            return self.dive(deadline, open_work, upper, None)
        turn = turns[int(rng.integers(len(turns)))]
        start, guess = best.steps[turn]
        begins = dict(best.steps[:turn])
        path = _Path([], [])
        for i, (k, killed) in enumerate(best.made[:start]):
            if i in begins:  # where the step begins in the replay
                path.steps.append((len(path.made), begins[i]))
            if killed is None:
                self.ban(k)
                path.made.append((k, None))
            elif self.alive[k]:
                path.made.append((k, self.fix(k, set())))
        self.ban(guess)
        path.made.append((guess, None))
        return self.dive(deadline, open_work, upper, None, path)

    def undo(self, made: list[tuple[int, list[int] | None]]) -> None:
        """Take back a dive's fixes and bans, last first."""
        for k, killed in reversed(made):
            if killed is None:
                self.unban(k)
            else:
                self.unfix(k, killed)

    def fix(self, k: int, support: set[int]) -> list[int]:
        """Fix column ``k`` to 1; every column of its pool or sharing a workload to 0.
        Returns the columns it excluded.

        A column the LP used (in ``support``) that only shares workloads with ``k`` comes
        back without them, so the LP keeps most of its cover instead of paying penalties
        until pricing finds it again."""
        self.fixed[k] = True
        self.fixed_cost += self.cost[k]
        self.xs[k].SetLb(1.0)
        pool = self.pool[k]
        self.pool_open[pool] = False
        work = self.table.arc_w[self.arcs[k]]
        self.covered[work] = True
        clash = list(self.by_pool[pool])
        for w in work.tolist():
            clash.extend(self.by_work[w])
        killed = []
        for c in clash:
            if c != k and self.alive[c]:
                self.alive[c] = False
                self.xs[c].SetUb(0.0)
                killed.append(c)
        for c in killed:
            if c in support and self.pool_open[self.pool[c]]:
                arcs = self.arcs[c]
                rest = arcs[~self.covered[self.table.arc_w[arcs]]]
                if rest.size:
                    self.add(self.pool[c], rest)
        return killed

    def unfix(self, k: int, killed: list[int]) -> None:
        """Take back :meth:`fix` of column ``k``."""
        self.fixed[k] = False
        self.fixed_cost -= self.cost[k]
        self.xs[k].SetLb(0.0)
        self.pool_open[self.pool[k]] = True
        self.covered[self.table.arc_w[self.arcs[k]]] = False
        for c in killed:
            if c not in self.banned:
                self.alive[c] = True
                self.xs[c].SetUb(1.0)

    def ban(self, k: int) -> None:
        """Column ``k`` stays at 0 until :meth:`unban`."""
        self.banned.add(k)
        self.alive[k] = False
        self.xs[k].SetUb(0.0)

    def unban(self, k: int) -> None:
        self.banned.discard(k)
        self.alive[k] = True
        self.xs[k].SetUb(1.0)
