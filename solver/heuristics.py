"""Integral plans from a relaxation, and local improvement.

A *choice* is an array with one entry per workload: the index of its arc in the
:class:`~solver.table.Table`, or −1 for "left out".
"""

from __future__ import annotations

import bisect
import time

import numpy as np

from solver.arrays import EPS, INTEGRALITY_TOL, FloatArray, IntArray
from solver.table import Table


def empty_choice(table: Table) -> IntArray:
    """Every workload left out."""
    return np.full(table.n_workloads, -1, dtype=np.int64)


def round_down(table: Table, fraction: FloatArray) -> IntArray:
    """Keep the workloads the relaxation places whole; leave the split ones out.

    A relaxation that counts work in units other than its devices (the flow that counts
    each workload at its smallest need) may place more whole on a pool than it holds:
    there the dearest to leave out are kept, as long as the pool has room.
    """
    choice = empty_choice(table)
    whole = np.flatnonzero(fraction >= 1.0 - INTEGRALITY_TOL)
    whole = whole[np.lexsort((-table.penalty[table.arc_w[whole]], table.arc_pool[whole]))]
    pools = table.arc_pool[whole]
    used = np.cumsum(table.arc_dev[whole])
    start = np.searchsorted(pools, pools, side="left")
    before = np.r_[0, used][start]  # devices of the same pool ahead in the list
    whole = whole[used - before <= table.pool_cap[pools]]
    choice[table.arc_w[whole]] = whole
    return choice


def round_guided(table: Table, fraction: FloatArray) -> IntArray:
    """Workloads in order of penalty (dearest to leave out first), each on the pool the
    relaxation gives it most of, else its cheapest pool with room.

    Placing the heavy workloads first keeps the relaxation's split ones (typically the
    largest) from being squeezed out by small ones that fit anywhere. Workloads the
    relaxation leaves out are left for :func:`fill`.
    """
    choice = empty_choice(table)
    if table.n_arcs == 0:
        return choice
    room = table.pool_cap.tolist()
    # Each workload's largest share: arcs sorted by (workload, share), last one per workload.
    by_share = np.lexsort((fraction, table.arc_w))
    last = table.start[1:] - 1
    has = table.start[1:] > table.start[:-1]
    best = np.full(table.n_workloads, -1, dtype=np.int64)
    best[has] = by_share[last[has]]
    best_share = np.where(best >= 0, fraction[np.maximum(best, 0)], 0.0)
    order = np.argsort(-table.penalty, kind="stable")
    pools, devs = table.arc_pool.tolist(), table.arc_dev.tolist()
    best_l, share_l = best.tolist(), best_share.tolist()
    for w in order.tolist():
        a = best_l[w]
        if a < 0 or share_l[w] <= EPS:
            continue
        if room[pools[a]] >= devs[a]:
            room[pools[a]] -= devs[a]
            choice[w] = a
            continue
        s, e = int(table.start[w]), int(table.start[w + 1])
        for b in (s + np.lexsort((table.arc_cost[s:e], -fraction[s:e]))).tolist():
            if room[pools[b]] >= devs[b]:
                room[pools[b]] -= devs[b]
                choice[w] = b
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
    # Only arcs that fit now can ever be used (room only shrinks while filling).
    cand = np.flatnonzero((choice[table.arc_w] < 0) & (room[table.arc_pool] >= table.arc_dev))
    if not cand.size:
        return choice
    if order is None:
        density = table.penalty[table.arc_w[cand]] / table.arc_dev[cand]
        rank_of = np.zeros(table.n_workloads)
        np.maximum.at(rank_of, table.arc_w[cand], density)
        rank = -rank_of[table.arc_w[cand]]
    else:
        position = np.full(table.n_workloads, table.n_workloads, dtype=np.int64)
        position[order] = np.arange(order.shape[0])
        rank = position[table.arc_w[cand]].astype(np.float64)
    # By workload rank, then (within a workload) cheapest first.
    cand = cand[np.lexsort((table.arc_cost[cand], table.arc_w[cand], rank))]
    room_l = room.tolist()
    done = (choice >= 0).tolist()
    for a, w, p, d in zip(
        cand.tolist(),
        table.arc_w[cand].tolist(),
        table.arc_pool[cand].tolist(),
        table.arc_dev[cand].tolist(),
        strict=True,
    ):
        if done[w] or room_l[p] < d:
            continue
        room_l[p] -= d
        choice[w] = a
        done[w] = True
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
    """A choice keeping running work where it is: ``staying`` lists arcs on the sites the
    workloads run on now (−1: none), each workload's in order of preference; a workload
    takes the first of its arcs whose pool still has room (a site cut into node pools
    offers one arc per node)."""
    choice = empty_choice(table)
    room = table.pool_cap.copy()
    for a in staying[staying >= 0].tolist():
        w, p, d = int(table.arc_w[a]), int(table.arc_pool[a]), int(table.arc_dev[a])
        if choice[w] < 0 and room[p] >= d:
            room[p] -= d
            choice[w] = a
    return choice


def eject(table: Table, choice: IntArray, deadline: float, max_rounds: int = 20) -> IntArray:
    """Place left-out work by moving some of a pool's occupants to other pools with room.

    For a left-out workload ``u`` and a pool ``p`` it could use, the occupants of ``p`` that
    are cheapest to move (extra cost per device, to their cheapest other pool with room) leave
    until ``u`` fits; the move is taken when ``u``'s penalty exceeds its cost there plus the
    occupants' extra cost. Within a round a pool is emptied for at most one workload and room
    is tracked move by move, so the moves combine; then the state is recomputed.
    """
    if table.must_place:
        return choice
    choice = choice.copy()
    objective = table.objective(choice)
    for _ in range(max_rounds):
        if time.perf_counter() > deadline:
            break
        room = table.pool_cap - table.usage(choice)
        placed = choice >= 0
        cur_pool = np.full(table.n_workloads, -1, dtype=np.int64)
        cur_pool[placed] = table.arc_pool[choice[placed]]
        cost_now = current_cost(table, choice)
        # Each placed workload's cheapest arc to another pool with room now.
        open_arcs = np.flatnonzero(
            placed[table.arc_w]
            & (room[table.arc_pool] >= table.arc_dev)
            & (table.arc_pool != cur_pool[table.arc_w])
        )
        if not open_arcs.size:
            break
        open_arcs = open_arcs[np.lexsort((table.arc_cost[open_arcs], table.arc_w[open_arcs]))]
        head = np.r_[True, table.arc_w[open_arcs][1:] != table.arc_w[open_arcs][:-1]]
        alt_arc = np.full(table.n_workloads, -1, dtype=np.int64)
        alt_arc[table.arc_w[open_arcs[head]]] = open_arcs[head]
        movable = np.flatnonzero(alt_arc >= 0)
        extra = table.arc_cost[alt_arc[movable]] - cost_now[movable]
        devs = table.arc_dev[choice[movable]]
        pools = cur_pool[movable]
        order = np.lexsort((extra / devs, pools))
        movable, extra, devs, pools = movable[order], extra[order], devs[order], pools[order]
        first = np.searchsorted(pools, np.arange(table.n_pools), side="left")
        last = np.searchsorted(pools, np.arange(table.n_pools), side="right")
        cum_dev = np.cumsum(devs)
        cum_extra = np.cumsum(extra)
        cum_dev0 = np.r_[0, cum_dev]
        cum_extra0: FloatArray = np.r_[0.0, cum_extra]
        # Every (left-out workload, pair), priced at once against the round's start: the
        # occupants to move are a prefix of the pool's list (global cumulative sums are
        # increasing, so one search finds where each prefix covers the shortfall).
        cand = np.flatnonzero(~placed[table.arc_w])
        gain: FloatArray = table.penalty[table.arc_w[cand]] - table.arc_cost[cand]
        cand, gain = cand[gain > 0], gain[gain > 0]
        p_c = table.arc_pool[cand]
        short = table.arc_dev[cand] - room[p_c]
        hit = np.searchsorted(cum_dev, cum_dev0[first[p_c]] + np.maximum(short, 1), side="left")
        reach = (short <= 0) | (hit < last[p_c])
        moving: FloatArray = np.where(
            short > 0,
            cum_extra0[np.minimum(hit + 1, cum_extra.shape[0])] - cum_extra0[first[p_c]],
            0.0,
        )
        good = reach & (gain - moving > EPS * np.maximum(1.0, gain))
        cand = cand[good]
        # Workloads by penalty, each one's best pairs first.
        order = np.lexsort(((moving - gain)[good], -table.penalty[table.arc_w[cand]]))
        cand = cand[order]
        # Apply in order, re-pricing each against what this round already changed: a pool's
        # occupants leave cheapest first, never twice (``ptr``); room is tracked move by move.
        # (Python lists and bisect: tens of thousands of scalar steps.)
        ptr = first.tolist()
        last_l = last.tolist()
        cum_dev_l = cum_dev.tolist()
        cum_dev0_l = cum_dev0.tolist()
        cum_extra0_l = cum_extra0.tolist()
        room_l = room.tolist()
        movable_l = movable.tolist()
        alt_l = alt_arc.tolist()
        safe_alt = np.maximum(alt_arc, 0)
        alt_pool_l = table.arc_pool[safe_alt].tolist()
        alt_dev_l = table.arc_dev[safe_alt].tolist()
        cand_w = table.arc_w[cand].tolist()
        cand_p = table.arc_pool[cand].tolist()
        cand_d = table.arc_dev[cand].tolist()
        cand_gain = (table.penalty[table.arc_w[cand]] - table.arc_cost[cand]).tolist()
        done: set[int] = set()
        moved = 0
        for a, u, p, d, net_gain in zip(
            cand.tolist(), cand_w, cand_p, cand_d, cand_gain, strict=True
        ):
            if u in done:
                continue
            shortfall = d - room_l[p]
            lo = ptr[p]
            if shortfall > 0:
                upto = bisect.bisect_left(cum_dev_l, cum_dev0_l[lo] + shortfall)
                if upto >= last_l[p]:
                    continue
                if net_gain - (cum_extra0_l[upto + 1] - cum_extra0_l[lo]) <= EPS * max(
                    1.0, net_gain
                ):
                    continue
                evict = movable_l[lo : upto + 1]
            else:
                upto, evict = lo - 1, []
            need: dict[int, int] = {}
            for v in evict:
                q = alt_pool_l[v]
                need[q] = need.get(q, 0) + alt_dev_l[v]
            if any(n > room_l[q] for q, n in need.items()):
                continue
            freed = 0
            for v in evict:
                freed += int(table.arc_dev[choice[v]])
                choice[v] = alt_l[v]
            choice[u] = a
            for q, n in need.items():
                room_l[q] -= n
            room_l[p] += freed - d
            ptr[p] = upto + 1
            done.add(u)
            moved += 1
            if time.perf_counter() > deadline:
                break
        value = table.objective(choice)
        if not moved or value >= objective - EPS:
            break
        objective = value
    return choice
