"""Solve a problem whose sites report node shapes: in devices first, on nodes only when the
plan in devices does not fit the nodes.

Counting devices relaxes the node shape (every plan that fits the nodes fits the counts),
so the counted solve's bound holds for the problem itself, and a counted plan that fits
the nodes is as good as any. It usually does, and then the node table (one pool per node,
:func:`solver.table.build_table`), many times larger, is never built. When it does not, the
node table is solved with the counted plan, laid on the nodes, as a start; the bound is
the better of the two.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from solver.arrays import IntArray
from solver.model import Problem
from solver.pipeline import Outcome, SolverConfig, optimize, relative_gap
from solver.table import Context, Table, build_table

COUNTED_SHARE = 0.3
"""Share of the time limit the solve in devices may take."""


def counted(problem: Problem) -> Problem:
    """``problem`` with every site counted in devices only."""
    return replace(problem, sites=tuple(replace(s, shape={}) for s in problem.sites))


def solve_shaped(
    problem: Problem, config: SolverConfig, current: IntArray, started: float
) -> tuple[Context, Outcome]:
    """The plan for a shaped ``problem`` and the context to explain it in."""
    shaped_ctx = Context(problem)
    table, _ = build_table(counted(problem))
    first = optimize(
        table,
        replace(config, time_limit_s=COUNTED_SHARE * config.time_limit_s),
        current=current,
        started=started,
    )
    if fits_nodes(problem, shaped_ctx, table, first.choice):
        # Explained against the shapes: the groups and pairs are the same.
        return shaped_ctx, first
    nodes, ctx = build_table(problem, shaped_ctx, relaxed=False)
    start = laid_on_nodes(table, first.choice, nodes)
    outcome = optimize(nodes, config, current=current, started=started, hint=start)
    # The node table's own bound holds for the problem only when nothing was set aside
    # that small work could have used; the counted bound always does.
    bound = first.bound if ctx.set_aside else max(first.bound, outcome.bound)
    bound = min(bound, outcome.objective)
    optimal = relative_gap(outcome.objective, bound) <= config.relative_gap_limit
    return ctx, replace(outcome, bound=bound, optimal=optimal)


def fits_nodes(problem: Problem, ctx: Context, table: Table, choice: IntArray) -> bool:
    """Whether the counted ``choice`` fits every shaped site's nodes (as
    :meth:`~solver.capacity.NodeShape.packs` lays it)."""
    placed = np.flatnonzero(choice >= 0)
    pools = table.arc_pool[choice[placed]]
    sizes: dict[tuple[int, int], list[int]] = {}
    for p, d in zip(pools.tolist(), table.arc_dev[choice[placed]].tolist(), strict=True):
        sizes.setdefault((int(table.pool_site[p]), int(table.pool_model[p])), []).append(d)
    for (si, mi), held in sizes.items():
        shape = problem.sites[si].shape.get(ctx.models[mi])
        if shape is not None and not all(shape.packs(held)):
            return False
    return True


def laid_on_nodes(table: Table, choice: IntArray, nodes: Table) -> IntArray:
    """The counted ``choice`` as a choice of the node table: the largest work first, each
    on the (site, model)'s node with the least room that holds it; what no node holds is
    left out (the search that follows places it if it can)."""
    out = np.full(nodes.n_workloads, -1, dtype=np.int64)
    room = nodes.pool_cap.copy()
    placed = np.flatnonzero(choice >= 0)
    site = table.pool_site[table.arc_pool[choice[placed]]]
    model = table.pool_model[table.arc_pool[choice[placed]]]
    devices = table.arc_dev[choice[placed]]
    for k in np.argsort(-devices, kind="stable").tolist():
        w = int(placed[k])
        arcs = np.arange(nodes.start[w], nodes.start[w + 1])
        pools = nodes.arc_pool[arcs]
        mine = (nodes.pool_site[pools] == site[k]) & (nodes.pool_model[pools] == model[k])
        fit = mine & (room[pools] >= nodes.arc_dev[arcs])
        if not np.any(fit):
            continue
        arcs, pools = arcs[fit], pools[fit]
        best = int(np.argmin(room[pools] - nodes.arc_dev[arcs]))
        out[w] = arcs[best]
        room[pools[best]] -= nodes.arc_dev[arcs[best]]
    return out
