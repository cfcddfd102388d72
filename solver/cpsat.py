"""Exact placement with CP-SAT, on a whole table or on a neighbourhood of it.

Formulation (``A`` = usable arcs: (workload, pool) pairs after pruning)::

    x[a] ∈ {0, 1}                           workload w(a) runs on pool p(a)
    Σ_{a ∈ A(w)} x[a] ≤ 1                   ∀ w      whole on one pool, or left out
    Σ_{a ∈ A(p)} d[a] · x[a] ≤ cap[p]       ∀ p      devices fit the free capacity

    min Σ_a (c[a] − pen[w(a)]) · x[a]  + Σ_w pen[w]

Coefficients are scaled to integers (:func:`scale_for`); the proven bound is widened by the
rounding so it stays a true bound.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.sat.python import cp_model

from solver.arrays import BoolArray, IntArray
from solver.table import Table

MAX_SCALE = 10_000.0
"""Objective units per 元 at most (a resolution of 0.0001 元)."""


def scale_for(table: Table) -> float:
    """Units per 元 so that the whole objective stays well inside CP-SAT's integers."""
    total = float(table.penalty.sum()) + 1.0
    return min(MAX_SCALE, 2.0**50 / total)


def solve_subset(
    table: Table,
    choice: IntArray,
    free: IntArray,
    *,
    time_limit_s: float,
    num_workers: int,
    seed: int = 0,
    hint: bool = True,
    allowed: BoolArray | None = None,
) -> tuple[IntArray, float | None, bool]:
    """Re-solve the workloads ``free`` with every other workload fixed as in ``choice``.

    ``time_limit_s`` counts from the call, building the model included. Returns the new
    choice, a proven lower bound on the whole objective when ``free`` is every workload
    (else ``None``) and ``allowed`` is not given, and whether the subproblem was solved to
    optimality. ``allowed`` limits the pairs freed workloads may use (their current pair
    should be among them). With ``table.must_place`` every free workload gets exactly one
    pool and the objective is the pairs' cost alone; if no such assignment exists at all,
    the choice comes back as is, marked optimal, with its own objective as the bound.
    """
    began = time.perf_counter()
    scale = scale_for(table)
    room = table.pool_cap - table.usage(
        np.where(np.isin(np.arange(table.n_workloads), free), -1, choice)
    )
    model = cp_model.CpModel()
    by_pool: dict[int, list[tuple[int, cp_model.IntVar]]] = {}
    variables: list[tuple[int, cp_model.IntVar]] = []
    objective = []
    must = table.must_place
    if must:
        scale = min(MAX_SCALE, 2.0**50 / (float(np.abs(table.arc_cost).sum()) + 1.0))
    # The pairs the free workloads may use, picked out vectorized.
    counts = table.start[free + 1] - table.start[free]
    arcs = np.repeat(table.start[free], counts) + (
        np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    )
    keep = table.arc_dev[arcs] <= room[table.arc_pool[arcs]]
    if allowed is not None:
        keep &= allowed[arcs]
    arcs = arcs[keep]
    by_workload: dict[int, list[cp_model.IntVar]] = {w: [] for w in free.tolist()}
    for a, w, p, d, c in zip(
        arcs.tolist(),
        table.arc_w[arcs].tolist(),
        table.arc_pool[arcs].tolist(),
        table.arc_dev[arcs].tolist(),
        table.arc_cost[arcs].tolist(),
        strict=True,
    ):
        x = model.new_bool_var("")
        by_workload[w].append(x)
        variables.append((a, x))
        by_pool.setdefault(p, []).append((d, x))
        pen = 0.0 if must else float(table.penalty[w])
        objective.append(round((c - pen) * scale) * x)
        if hint:
            model.add_hint(x, int(choice[w]) == a)
    for mine in by_workload.values():
        if must:
            if not mine:  # nowhere to go: no full assignment (if whole), else keep as is
                whole = free.shape[0] == table.n_workloads and allowed is None
                return choice.copy(), (table.objective(choice) if whole else None), whole
            model.add_exactly_one(mine)
        elif len(mine) > 1:
            model.add_at_most_one(mine)
    for p, terms in by_pool.items():
        if sum(d for d, _ in terms) > room[p]:
            model.add(sum(d * x for d, x in terms) <= int(room[p]))
    model.minimize(sum(objective))
    solver = cp_model.CpSolver()
    # The limit covers building the model too.
    solver.parameters.max_time_in_seconds = max(time_limit_s - (time.perf_counter() - began), 0.01)
    solver.parameters.num_workers = num_workers
    solver.parameters.random_seed = seed
    status = solver.solve(model)
    out = choice.copy()
    whole = free.shape[0] == table.n_workloads and allowed is None
    if status == cp_model.INFEASIBLE and must and whole:
        # No assignment places every workload: nothing can beat what we have on that count.
        return out, table.objective(out), True
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return out, None, False
    out[free] = -1
    for a, x in variables:
        if solver.value(x):
            out[int(table.arc_w[a])] = a
    bound = None
    if whole:
        slack = 0.5 * table.n_workloads / scale
        base = 0.0 if must else float(table.penalty.sum())
        bound = solver.best_objective_bound / scale + base - slack
    return out, bound, status == cp_model.OPTIMAL
