"""Baseline placement policies, run on the same cost table as the optimizer.

They answer "what would a simpler scheduler have done with this batch?": each places
workloads one at a time in arrival order, never revisiting a choice, and only on pairs the
optimizer could use too.

* ``nearest-site``: the lowest-latency site from the workload's origin (cost breaks ties).
* ``cheapest-first``: the cheapest pool that still has room (a per-task optimizer).
* ``spread``: the pool with the most free devices left (a multi-cluster scheduler's dynamic
  weighting by available capacity).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from solver.arrays import FloatArray, IntArray
from solver.assembly import assemble_plan
from solver.model import Plan, Problem
from solver.pipeline import Outcome
from solver.table import Context, Table, build_table

BASELINES = ("nearest-site", "cheapest-first", "spread")


def greedy(table: Table, key: FloatArray | None) -> IntArray:
    """Arrival order; each workload on its first fitting arc by ``key`` (None: by room)."""
    choice = np.full(table.n_workloads, -1, dtype=np.int64)
    room = (table.pool_cap - 0).tolist()
    pools, devs, start = table.arc_pool.tolist(), table.arc_dev.tolist(), table.start.tolist()
    for w in range(table.n_workloads):
        s, e = start[w], start[w + 1]
        if s == e:
            continue
        if key is None:
            fits = [a for a in range(s, e) if room[pools[a]] >= devs[a]]
            best = max(fits, key=lambda a: room[pools[a]] - devs[a], default=-1)
        else:
            best = -1
            for a in (s + np.argsort(key[s:e], kind="stable")).tolist():
                if room[pools[a]] >= devs[a]:
                    best = a
                    break
        if best >= 0:
            room[pools[best]] -= devs[best]
            choice[w] = best
    return choice


def nearest_key(table: Table, ctx: Context) -> FloatArray:
    """Latency from the workload's origin to the arc's site, cost breaking ties."""
    sites = table.pool_site[table.arc_pool]
    latency = ctx.latency[sites, ctx.region[table.arc_w]]
    # Ties in latency (to a thousandth of a millisecond) go to the cheaper arc.
    top = float(table.arc_cost.max(initial=0.0)) + 1.0
    key: FloatArray = np.where(np.isfinite(latency), latency, 1e9) + 1e-3 * table.arc_cost / top
    return key


POLICIES: dict[str, Callable[[Table, Context], FloatArray | None]] = {
    "nearest-site": nearest_key,
    "cheapest-first": lambda table, ctx: table.arc_cost,
    "spread": lambda table, ctx: None,
}


def run_baseline(name: str, problem: Problem, *, explain: bool = False) -> Plan:
    """Run the named baseline (one of :data:`BASELINES`) on ``problem``."""
    started = time.perf_counter()
    table, ctx = build_table(problem)
    return baseline_plan(name, table, ctx, started=started, explain=explain)


def baseline_plan(
    name: str, table: Table, ctx: Context, *, started: float, explain: bool = False
) -> Plan:
    """A baseline's plan on an already built table."""
    choice = greedy(table, POLICIES[name](table, ctx))
    outcome = Outcome(table, choice, table.objective(choice), 0.0, False, name)
    return assemble_plan(ctx, outcome, wall_s=time.perf_counter() - started, explain=explain)


def nearest_site(problem: Problem) -> Plan:
    """Every workload to the lowest-latency site from its origin that can take it."""
    return run_baseline("nearest-site", problem)


def cheapest_first(problem: Problem) -> Plan:
    """Every workload, in arrival order, to the cheapest site that can still take it."""
    return run_baseline("cheapest-first", problem)


def spread(problem: Problem) -> Plan:
    """Every workload, in arrival order, to the pool with the most free devices left."""
    return run_baseline("spread", problem)
