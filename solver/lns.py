"""Large-neighbourhood search: CP-SAT re-solves the work of a few pools at a time.

What makes it work on the hard, site-dependent (generalized assignment) case, measured on
OR-Library's chu1997 instances on 2 cores:

* **Restricted start.** A first CP-SAT solve where each workload may only use its 2 best
  pools by the relaxation's reduced cost (4 when there are few workloads per pool), plus
  wherever it is now. This alone beats CP-SAT on the full model by a wide margin at 10 s.
* **Neighbourhoods of related pools.** Free every workload on k pools (a random seed pool,
  then pools where its workloads have nearly-as-cheap alternatives), keep everything else
  fixed, and re-solve with one CP-SAT worker for a fraction of a second. Freed workloads may
  only move among the chosen pools, to pairs with a small reduced cost.
* **Two at once.** Two neighbourhoods on disjoint pools run in threads (CP-SAT releases the
  GIL); their results always combine. k grows while sub-solves finish proven and shrinks
  when none does.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from solver.arrays import EPS, BoolArray, FloatArray, IntArray
from solver.cpsat import solve_subset
from solver.table import Table

RESTRICTED_PAIRS = 2
RESTRICTED_PAIRS_FEW = 4
NEIGHBOUR_PAIRS = 4
K_MIN, K_MAX = 2, 10
SUB_TIME_S = 0.1
MAX_FREE = 1_500


def reduced_costs(table: Table, duals: FloatArray | None) -> FloatArray:
    """c + d·λ per pair, less the workload's best: 0 for its best pair."""
    red = table.arc_cost.copy()
    if duals is not None:
        red += table.arc_dev * duals[table.arc_pool]
    best = np.full(table.n_workloads, np.inf)
    np.minimum.at(best, table.arc_w, red)
    out: FloatArray = red - best[table.arc_w]
    return out


def ranks(table: Table, key: FloatArray) -> IntArray:
    """Each pair's position among its workload's pairs by ``key`` (0 = best)."""
    order = np.lexsort((table.arc_cost, key, table.arc_w))
    rank = np.empty(table.n_arcs, dtype=np.int64)
    rank[order] = np.arange(table.n_arcs) - table.start[table.arc_w[order]]
    return rank


def restricted_start(
    table: Table,
    choice: IntArray,
    rank: IntArray,
    *,
    time_limit_s: float,
    num_workers: int,
    seed: int,
) -> IntArray:
    """CP-SAT over each workload's best few pairs (and its current one)."""
    per_pool = table.n_workloads / max(1, table.n_pools)
    k = RESTRICTED_PAIRS if per_pool >= 8 else RESTRICTED_PAIRS_FEW
    allowed = rank < k
    allowed[choice[choice >= 0]] = True
    found, _, _ = solve_subset(
        table,
        choice,
        np.arange(table.n_workloads),
        time_limit_s=time_limit_s,
        num_workers=num_workers,
        seed=seed,
        allowed=allowed,
    )
    return found if table.objective(found) <= table.objective(choice) else choice


def search(
    table: Table,
    choice: IntArray,
    *,
    bound: float,
    reduced: FloatArray,
    deadline: float,
    gap_limit: float,
    workers: int,
    seed: int,
    sub_time_s: float = SUB_TIME_S,
    room_bound: float | None = None,
) -> IntArray:
    """Improve ``choice`` until the deadline or the gap limit (measured against ``bound``).

    Freed workloads may only take pairs whose reduced cost is within the gap to
    ``room_bound`` (default ``bound``): the bound the reduced costs come from.
    """
    rng = np.random.default_rng(seed)
    objective = table.objective(choice)
    k = min(table.n_pools, K_MIN + 1)
    scale = 0.05 * max(EPS, float(np.mean(table.arc_cost))) if table.n_arcs else 1.0
    pool_count = table.n_pools
    with ThreadPoolExecutor(max_workers=max(1, workers)) as threads:
        while True:
            left = deadline - time.perf_counter()
            # Building the models is not covered by CP-SAT's own limit: leave room for it.
            if left < 2 * sub_time_s or pool_count == 0:
                break
            if objective - bound <= gap_limit * objective:
                break
            used: set[int] = set()
            jobs = []
            taken = np.zeros(table.n_workloads, dtype=bool)
            for _ in range(max(1, workers)):
                group = _related_pools(table, choice, used, k, rng, scale)
                if not group:
                    break
                used.update(group)
                room = objective - (bound if room_bound is None else room_bound)
                free, allowed = _neighbourhood(table, choice, group, reduced, room, taken, rng)
                taken[free] = True
                if free.size:
                    jobs.append((free, allowed, int(rng.integers(1 << 30))))
            if not jobs:
                break
            budget = min(sub_time_s, deadline - time.perf_counter())
            if budget < 0.01:
                break
            snapshot = choice.copy()
            results = list(
                threads.map(
                    lambda job, snap=snapshot, limit=budget: solve_subset(
                        table,
                        snap,
                        job[0],
                        time_limit_s=limit,
                        num_workers=1,
                        seed=job[2],
                        allowed=job[1],
                    ),
                    jobs,
                )
            )
            proven = 0
            merged = choice.copy()
            for (free, _, _), (found, _, optimal) in zip(jobs, results, strict=True):
                merged[free] = found[free]
                proven += int(optimal)
            if table.fits(merged) and table.objective(merged) <= objective:
                choice, objective = merged, table.objective(merged)
            if proven == len(jobs):
                k = min(K_MAX, pool_count, k + 1)
            elif proven == 0:
                k = max(K_MIN, k - 1)
    return choice


def _related_pools(
    table: Table,
    choice: IntArray,
    excluded: set[int],
    size: int,
    rng: np.random.Generator,
    scale: float,
) -> list[int]:
    """A random pool, then pools where its workloads have nearly-as-cheap pairs."""
    cand = np.array([p for p in range(table.n_pools) if p not in excluded], dtype=np.int64)
    if not cand.size:
        return []
    size = min(size, cand.size)
    if rng.random() < 0.3:
        return [int(p) for p in rng.choice(cand, size=size, replace=False)]
    chosen = [int(rng.choice(cand))]
    placed = choice >= 0
    pool_of = np.full(table.n_workloads, -1, dtype=np.int64)
    pool_of[placed] = table.arc_pool[choice[placed]]
    cost_now = np.where(placed, table.arc_cost[np.maximum(choice, 0)], table.penalty)
    while len(chosen) < size:
        on = np.isin(pool_of[table.arc_w], chosen)
        delta = np.maximum(table.arc_cost[on] - cost_now[table.arc_w[on]], 0.0)
        score: FloatArray = (
            np.bincount(
                table.arc_pool[on], weights=np.exp(-delta / scale), minlength=table.n_pools
            ).astype(np.float64)
            + 1e-3
        )
        score[list(excluded)] = 0.0
        score[chosen] = 0.0
        if score.sum() <= 0:
            break
        chosen.append(int(rng.choice(table.n_pools, p=score / score.sum())))
    return chosen


def _neighbourhood(
    table: Table,
    choice: IntArray,
    group: list[int],
    reduced: FloatArray,
    gap_room: float,
    taken: BoolArray,
    rng: np.random.Generator,
) -> tuple[IntArray, BoolArray]:
    """The workloads to free (on the group's pools, or left out and able to use them) and
    the pairs they may use (the group's pools, promising pairs only, plus their own)."""
    in_group = np.isin(table.arc_pool, group)
    placed = choice >= 0
    on_group = np.zeros(table.n_workloads, dtype=bool)
    on_group[placed] = in_group[choice[placed]]
    could = np.zeros(table.n_workloads, dtype=bool)
    if not table.must_place:
        could[table.arc_w[in_group]] = True
        could &= ~placed
    free = np.flatnonzero((on_group | could) & ~taken)
    if free.size > MAX_FREE:
        free = np.sort(rng.choice(free, size=MAX_FREE, replace=False))
    # Among the group's pools, each freed workload keeps its few best pairs.
    mine = np.zeros(table.n_workloads, dtype=bool)
    mine[free] = True
    sub = np.flatnonzero(in_group & mine[table.arc_w] & (reduced <= gap_room + EPS))
    order = sub[np.lexsort((reduced[sub], table.arc_w[sub]))]
    ws = table.arc_w[order]
    first = np.r_[True, ws[1:] != ws[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(ws.shape[0]), 0))
    local_rank = np.arange(ws.shape[0]) - group_start
    allowed = np.zeros(table.n_arcs, dtype=bool)
    allowed[order[local_rank < NEIGHBOUR_PAIRS]] = True
    allowed[choice[placed]] = True
    return free, allowed
