"""Integral plans from a relaxation, and local improvement.

A *choice* is an array with one entry per workload: the index of its arc in the
:class:`~solver.table.Table`, or −1 for "left out".
"""

from __future__ import annotations

import numpy as np

from solver.table import FloatArray, IntArray, Table

EPS = 1e-9


def empty_choice(table: Table) -> IntArray:
    """Every workload left out."""
    return np.full(table.n_workloads, -1, dtype=np.int64)


def round_down(table: Table, fraction: FloatArray) -> IntArray:
    """Keep the workloads the relaxation places whole; leave the split ones out."""
    choice = empty_choice(table)
    whole = np.flatnonzero(fraction >= 1.0 - 1e-6)
    choice[table.arc_w[whole]] = whole
    return choice


def round_guided(table: Table, fraction: FloatArray) -> IntArray:
    """Workloads in order of their penalty (dearest to leave out first), each on the arc the
    relaxation gives it most of, else its cheapest arc with room.

    Placing the heavy workloads first keeps the relaxation's split ones (typically the
    largest) from being squeezed out by the small ones that fit anywhere.
    """
    choice = empty_choice(table)
    room = table.pool_cap.tolist()
    pools, devs, start = table.arc_pool.tolist(), table.arc_dev.tolist(), table.start.tolist()
    order = np.argsort(-table.penalty, kind="stable")
    frac = fraction.tolist()
    for w in order.tolist():
        s, e = start[w], start[w + 1]
        if s == e:
            continue
        # Arcs are sorted by cost: prefer the relaxation's largest share, then cheapest.
        arcs = sorted(range(s, e), key=lambda a: -frac[a]) if max(frac[s:e]) > 0 else range(s, e)
        if max(frac[s:e], default=0.0) <= 1e-9:
            continue  # the relaxation leaves it out: fill() may still place it
        for a in arcs:
            p = pools[a]
            if room[p] >= devs[a]:
                room[p] -= devs[a]
                choice[w] = a
                break
    return choice


def current_cost(table: Table, choice: IntArray) -> FloatArray:
    """What each workload costs in a choice (its penalty when left out)."""
    cost = table.penalty.copy()
    placed = choice >= 0
    cost[placed] = table.arc_cost[choice[placed]]
    return cost


def fill(table: Table, choice: IntArray, order: IntArray | None = None) -> IntArray:
    """Put left-out workloads on their cheapest pool that still has room.

    Default order: largest penalty per device first (what is dearest to leave out).
    """
    choice = choice.copy()
    room = table.pool_cap - table.usage(choice)
    left = np.flatnonzero(choice < 0)
    left = left[table.start[left + 1] > table.start[left]]
    if order is None:
        first = table.start[left]
        order = left[np.argsort(-table.penalty[left] / table.arc_dev[first], kind="stable")]
    pools, devs, start = table.arc_pool.tolist(), table.arc_dev.tolist(), table.start.tolist()
    room_l = room.tolist()
    for w in order.tolist():
        if choice[w] >= 0:
            continue
        for a in range(start[w], start[w + 1]):  # arcs are sorted by cost
            p = pools[a]
            if room_l[p] >= devs[a]:
                room_l[p] -= devs[a]
                choice[w] = a
                break
    return choice


def improve(table: Table, choice: IntArray, max_passes: int = 50) -> IntArray:
    """Move single workloads to cheaper pools with room until no such move is left.

    Afterwards, for every workload, each cheaper option is blocked by capacity: the property
    the explanations rely on.
    """
    choice = choice.copy()
    for _ in range(max_passes):
        cost = current_cost(table, choice)
        room = table.pool_cap - table.usage(choice)
        saving = cost[table.arc_w] - table.arc_cost
        cand = np.flatnonzero(
            (saving > EPS * np.maximum(1.0, cost[table.arc_w]))
            & (room[table.arc_pool] >= table.arc_dev)
        )
        if not cand.size:
            break
        cand = cand[np.argsort(-saving[cand], kind="stable")]
        moved = 0
        room_l = room.tolist()
        cost_l = cost.tolist()
        pools, devs, ws, costs = table.arc_pool, table.arc_dev, table.arc_w, table.arc_cost
        for a in cand.tolist():
            w, p, d = int(ws[a]), int(pools[a]), int(devs[a])
            if room_l[p] < d or costs[a] >= cost_l[w] - EPS * max(1.0, cost_l[w]):
                continue
            old = int(choice[w])
            if old >= 0:
                room_l[int(pools[old])] += int(devs[old])
            room_l[p] -= d
            choice[w] = a
            cost_l[w] = float(costs[a])
            moved += 1
        if not moved:
            break
    return choice


def warm_start(table: Table, staying: IntArray) -> IntArray:
    """A choice keeping running work where it is (``staying[w]``: its cheapest arc there)."""
    choice = empty_choice(table)
    room = table.pool_cap.copy()
    for w in np.flatnonzero(staying >= 0).tolist():
        a = int(staying[w])
        p, d = int(table.arc_pool[a]), int(table.arc_dev[a])
        if room[p] >= d:
            room[p] -= d
            choice[w] = a
    return choice
