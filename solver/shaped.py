"""Problems whose sites report node shapes: solved in devices first, on nodes only where
the plan in devices does not fit them.

Counting devices relaxes the node shape (every plan that fits the nodes fits the counts),
so the counted solve's bound holds for the problem itself, and a counted plan that fits
the nodes is as good as any. It usually does; then the node table (one pool per node,
:func:`solver.table.build_table`), many times larger, is never built. When it does not:

* a node table of at most :data:`NODE_TABLE_MAX_PAIRS` pairs is solved whole, with the
  counted plan laid on the nodes as a start;
* a larger one would cost more than it can gain, so the work that fits stays where the
  counted plan put it, and only the work that does not is placed again, on the nodes left
  (:func:`split`), a problem small enough for its own node table.

Either way the bound reported holds for the problem: the counted one, or the node table's
where that table is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from solver.arrays import IntArray
from solver.capacity import NodeShape
from solver.model import Problem, Site
from solver.table import Context, Table

COUNTED_SHARE = 0.3
"""Share of the time limit the solve in devices may take."""

NODE_TABLE_MAX_PAIRS = 300_000
"""Above this many pairs (estimated before building) the node table is not solved whole:
measured, a 941,000-pair table took 2.3 s at a 1 s limit, and 18.9 million pairs 700 s
and 5 GB."""


def counted(problem: Problem) -> Problem:
    """``problem`` with every site counted in devices only."""
    return replace(problem, sites=tuple(replace(s, shape={}) for s in problem.sites))


def node_pairs(problem: Problem, ctx: Context, table: Table) -> int:
    """About how many pairs the node table of ``problem`` has: each counted pair of a
    shaped (site, model) once per node that could hold it."""
    nodes = np.ones(table.n_arcs, dtype=np.int64)
    group = table.arc_pool
    shared = table.n_pools if table.pool_held is None else int(np.sum(table.pool_held < 0))
    for p in range(shared):  # a pool of held devices is one pool on nodes too
        shape = problem.sites[int(table.pool_site[p])].shape.get(
            ctx.models[int(table.pool_model[p])]
        )
        if shape is None:
            continue
        at_least = np.cumsum(shape.nodes_by_free[::-1])[::-1]  # nodes with ≥ k free
        mine = np.flatnonzero(group == p)
        sizes = np.minimum(table.arc_dev[mine], shape.node_size)
        nodes[mine] = np.maximum(1, at_least[sizes])
    return int(nodes.sum())


@dataclass(frozen=True, slots=True)
class Split:
    """A counted plan cut in two: what fits the nodes, and the rest on the nodes left."""

    kept: IntArray
    """Workloads (indices) whose counted placement fits the nodes."""
    rest: IntArray
    """Workloads (indices) to place again: those the counted plan put on no node."""
    sites: tuple[Site, ...]
    """The sites with what ``kept`` leaves: free devices, and shapes where they have them."""


def split(problem: Problem, ctx: Context, table: Table, choice: IntArray) -> Split:
    """Lay the counted ``choice`` on the nodes (:meth:`NodeShape.lay`): the work that fits,
    the work that does not, and the sites as the first leaves them. Running work staying on
    the devices it holds (:attr:`Table.pool_held`) fits as it is and takes none."""
    placed = np.flatnonzero(choice >= 0)
    pools = table.arc_pool[choice[placed]]
    if table.pool_held is not None:
        pools = np.where(table.pool_held[pools] >= 0, -1, pools)
    devices = table.arc_dev[choice[placed]]
    fits = np.ones(placed.shape[0], dtype=bool)
    used: dict[tuple[int, int], int] = {}
    left: dict[tuple[int, int], NodeShape] = {}
    for p in np.unique(pools[pools >= 0]).tolist():
        key = (int(table.pool_site[p]), int(table.pool_model[p]))
        mine = np.flatnonzero(pools == p)
        shape = problem.sites[key[0]].shape.get(ctx.models[key[1]])
        if shape is None:
            used[key] = int(devices[mine].sum())
            continue
        ok, left[key] = shape.lay(devices[mine].tolist(), ctx.one_domain[placed[mine]].tolist())
        fits[mine] = ok
    sites = []
    for si, site in enumerate(problem.sites):
        free, shapes = dict(site.free), dict(site.shape)
        for model in site.power_w:
            key = (si, ctx.models.index(model))
            if key in left:
                shapes[model] = left[key]
                free[model] = left[key].free
            elif key in used:
                free[model] = max(0, free.get(model, 0) - used[key])
        sites.append(replace(site, free=free, shape=shapes))
    rest = np.concatenate((placed[~fits], np.flatnonzero(choice < 0)))
    return Split(kept=placed[fits], rest=np.sort(rest), sites=tuple(sites))


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
