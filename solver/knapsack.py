"""Exact 0-1 knapsacks, one per pool, solved together by dynamic programming.

The Lagrangian bound (:mod:`solver.lagrange`) and the column dive (:mod:`solver.columns`)
both need, for given profits, the most profitable item set of every pool that fits its
capacity; :func:`solve_knapsacks` returns it for all pools at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.arrays import BoolArray, FloatArray, Int32Array, IntArray

DIRECT_ITEMS = 4
"""Groups with at most this many items are added by a direct maximum over their count."""

MAX_STATES = 20_000_000
"""Capacity states (capacities × distinct sizes, summed over pools) the dynamic programme
may take on; pools beyond it get the LP bound of their knapsack (weaker, still valid)."""

STATE_S, STEP_S, CELL_S = 2.5e-7, 1.5e-5, 2.5e-9
"""Estimated seconds per capacity state of the grouped programme, and per step and per
cell of a step of the item-by-item one (:func:`_dense_programme`), measured on 2 cores;
the cheaper one runs."""

DENSE_CELLS = 40_000_000
"""Largest (steps × pools × cells) table of the item-by-item programme."""


@dataclass(frozen=True, slots=True)
class Knapsacks:
    """0-1 knapsacks, one per pool: the best profit (for a pool beyond the state budget, an
    upper bound on it) and a feasible item set earning it (there, the LP's whole items)."""

    value: FloatArray
    chosen: BoolArray


def solve_knapsacks(
    item_pool: IntArray,
    item_size: IntArray,
    item_profit: FloatArray,
    cap: IntArray,
    *,
    by_item: bool | None = None,
) -> Knapsacks:
    """max Σ profit·x s.t. Σ size·x ≤ cap[pool], x ∈ {0, 1}, for every pool at once.

    Items with a non-positive profit are never taken; size-0 items with a positive profit
    always are. The rest are grouped by (pool, size): within a group the best k items are
    the k most profitable, so the group contributes a concave function Q(k) of its item
    count. The dynamic programme over capacities f(c) (best profit using at most c devices)
    then adds one group at a time::

        f'(c) = max_{0 ≤ k ≤ K} f(c − k·d) + Q(k)

    a max-plus convolution with a concave sequence along each residue class c mod d. Its
    argmax (the source index c − k·d) is monotone in c, so divide and conquer finds every
    row's maximum in O(M log M) for M rows, with the rows of all pools handled together.
    Groups with few items take the direct maximum over their k instead.

    Where sizes are many and items per pool few (site-dependent demand), a programme that
    adds one item of every pool per step (:func:`_dense_programme`) costs less; it runs
    when its estimated cost is lower (``by_item=None``), or as ``by_item`` says, within
    ``DENSE_CELLS``.

    A pool whose capacity range is too large for the state budget gets its LP (Dantzig)
    bound instead: an upper bound on its profit, so bounds built on it stay valid.
    """
    n_pools = int(cap.shape[0])
    n_items = int(item_pool.shape[0])
    value = np.zeros(n_pools)
    chosen = np.zeros(n_items, dtype=bool)
    usable = (item_profit > 0) & (item_size <= cap[item_pool])
    free = usable & (item_size <= 0)
    if free.any():
        chosen[free] = True
        value += np.bincount(item_pool[free], weights=item_profit[free], minlength=n_pools)
    idx = np.flatnonzero(usable & ~free)
    if not idx.size:
        return Knapsacks(value, chosen)
    pool, size, profit = item_pool[idx], item_size[idx], item_profit[idx]
    # Pools whose items all fit need no programme: take them all.
    total = np.bincount(pool, weights=size, minlength=n_pools)
    loose = total[pool] <= cap[pool]
    if loose.any():
        chosen[idx[loose]] = True
        value += np.bincount(pool[loose], weights=profit[loose], minlength=n_pools)
    tight = ~loose
    idx, pool, size, profit = idx[tight], pool[tight], size[tight], profit[tight]
    if not idx.size:
        return Knapsacks(value, chosen)
    span = np.minimum(cap, total.astype(np.int64))  # capacity range each pool needs
    tight_pools = np.flatnonzero(np.bincount(pool, minlength=n_pools))
    # Work and memory: every capacity of a pool, once per distinct size it holds. The
    # costliest pools leave the programme first when that exceeds the budget.
    top = int(size.max()) + 1
    n_sizes = np.bincount(np.unique(pool * top + size) // top, minlength=n_pools)
    states = (span[tight_pools] + 1) * n_sizes[tight_pools]
    order = np.argsort(states, kind="stable")
    fits = np.zeros(n_pools, dtype=bool)
    fits[tight_pools[order[np.cumsum(states[order]) <= MAX_STATES]]] = True
    big = ~fits[pool]
    counts = np.bincount(pool, minlength=n_pools)
    steps = int(counts.max())
    cells = n_pools * (2 * int(span.max()) + 1)
    if by_item is None:
        by_item = steps * (STEP_S + CELL_S * cells) < STATE_S * int(states.sum())
    if by_item and not big.any() and steps * cells <= DENSE_CELLS:
        # Many distinct sizes (site-dependent demand): one item of every pool per step
        # over all capacities costs less than a stage per (pool, size) group.
        dp_value, dp_chosen = _dense_programme(pool, size, profit, span, counts)
        value += dp_value
        chosen[idx[dp_chosen]] = True
        return Knapsacks(value, chosen)
    if big.any():
        bound, whole = _dantzig(pool[big], size[big], profit[big], cap, n_pools)
        value += bound
        chosen[idx[big][whole]] = True
    keep = ~big
    idx, pool, size, profit = idx[keep], pool[keep], size[keep], profit[keep]
    if idx.size:
        dp_value, dp_chosen = _programme(pool, size, profit, span, n_pools)
        value += dp_value
        chosen[idx[dp_chosen]] = True
    return Knapsacks(value, chosen)


def _dense_programme(
    pool: IntArray, size: IntArray, profit: FloatArray, span: IntArray, counts: IntArray
) -> tuple[FloatArray, BoolArray]:
    """The exact 0-1 programme over capacities 0..span[p], items one by one: step r adds
    the r-th item of every pool at once (sizes here are ≥ 1 and profits > 0).

    Row p holds f(c) at column ``c + top − span[p]`` behind ``top`` columns of −inf: every
    pool's full capacity is the last column, and a source below capacity 0 reads −inf, so
    one shifted read serves every pool without a mask.
    """
    n_pools = int(span.shape[0])
    order = np.argsort(pool, kind="stable")
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(order.shape[0]) - first[pool[order]]
    steps = int(counts.max())
    top = int(span.max())
    width = 2 * top + 1
    item = np.full((steps, n_pools), -1, dtype=np.int64)
    item[rank, pool[order]] = order
    has = item >= 0
    shift = np.where(has, size[np.maximum(item, 0)], 0)
    gain = np.where(has, profit[np.maximum(item, 0)], -np.inf)
    column = np.arange(top + 1)
    table = np.full((n_pools, width), -np.inf)
    f = table[:, top:]
    f[column[None, :] >= (top - span)[:, None]] = 0.0
    flat = table.ravel()
    at = (np.arange(n_pools) * width + top)[:, None] + column[None, :]
    took = np.zeros((steps, n_pools, top + 1), dtype=bool)
    for r in range(steps):
        cand = flat.take(at - shift[r][:, None])
        cand += gain[r][:, None]
        np.greater(cand, f, out=took[r])
        np.maximum(f, cand, out=f)
    best = np.argmax(f, axis=1)
    rows = np.arange(n_pools)
    value = np.maximum(f[rows, best], 0.0)
    chosen = np.zeros(pool.shape[0], dtype=bool)
    for r in range(steps - 1, -1, -1):
        t = took[r, rows, best]
        chosen[item[r, t]] = True
        best[t] -= shift[r, t]
    return value, chosen


def _dantzig(
    pool: IntArray, size: IntArray, profit: FloatArray, cap: IntArray, n_pools: int
) -> tuple[FloatArray, BoolArray]:
    """The LP bound of each pool's knapsack (the densest items whole, then a fraction of
    the first that does not fit; sizes here are ≥ 1), and the items taken whole."""
    order = np.lexsort((-profit / size, pool))
    pool, size, profit = pool[order], size[order], profit[order]
    cum_size = np.cumsum(size)
    first = np.searchsorted(pool, np.arange(n_pools), side="left")
    base_size = np.r_[0, cum_size][first]
    used_before = cum_size - size - base_size[pool]  # room taken by denser items
    part = np.clip((cap[pool] - used_before) / size, 0.0, 1.0)
    bound: FloatArray = np.bincount(pool, weights=part * profit, minlength=n_pools).astype(
        np.float64
    )
    whole = np.zeros(pool.shape[0], dtype=bool)
    whole[order] = part >= 1.0
    return bound, whole


def _programme(
    pool: IntArray, size: IntArray, profit: FloatArray, span: IntArray, n_pools: int
) -> tuple[FloatArray, BoolArray]:
    """The exact dynamic programme over capacities 0..span[p] of every pool with items.

    Groups enter largest size first; a pool's last group (its smallest size, usually the
    one with the most items) is only needed at the full capacity, so it is a single
    maximum over its item count rather than a whole stage.
    """
    n = int(pool.shape[0])
    top = int(size.max()) + 1
    order = np.lexsort((-profit, pool * top + (top - 1 - size)))
    pool, size, profit = pool[order], size[order], profit[order]
    # Groups: runs of equal (pool, size), items by decreasing profit inside each.
    head = np.r_[True, (pool[1:] != pool[:-1]) | (size[1:] != size[:-1])]
    g_start = np.flatnonzero(head)
    g_count = np.diff(np.r_[g_start, n])
    g_pool = pool[g_start]
    g_size = size[g_start]
    n_groups = int(g_start.shape[0])
    # Prefix sums Q(k) of each group, with a leading 0: group g's Q(k) sits at q_base[g] + k.
    q_base = g_start + np.arange(n_groups)
    q = np.zeros(n + n_groups)
    ranks = np.arange(n) - np.repeat(g_start, g_count)
    gid = np.repeat(np.arange(n_groups), g_count)
    q[q_base[gid] + ranks + 1] = profit
    # Cumulative sum restarted at each group's leading 0.
    cq = np.cumsum(q)
    q = cq - np.repeat(cq[q_base], g_count + 1)
    # Stage s handles the s-th group of every pool, all but each pool's last group.
    first_group = np.r_[True, g_pool[1:] != g_pool[:-1]]
    last_group = np.r_[g_pool[1:] != g_pool[:-1], True]
    stage = np.arange(n_groups) - np.maximum.accumulate(
        np.where(first_group, np.arange(n_groups), 0)
    )
    stage[last_group] = -1
    pools = g_pool[last_group]  # each pool with items, once, in order
    length = np.zeros(n_pools, dtype=np.int64)
    length[pools] = span[pools] + 1
    base = np.concatenate(([0], np.cumsum(length)))[:-1]
    f = np.zeros(int(length.sum()))
    takes: list[tuple[IntArray, IntArray, Int32Array]] = []
    for s in range(int(stage.max(initial=-1)) + 1):
        gs = np.flatnonzero(stage == s)
        take = _stage(f, g_pool[gs], g_size[gs], g_count[gs], q_base[gs], q, base, length)
        takes.append((gs, g_pool[gs], take))
    # The last group at full capacity: max over k of f(span − k·d) + Q(k).
    lg = np.flatnonzero(last_group)
    d_last = g_size[lg]
    k_top = np.minimum(g_count[lg], span[pools] // d_last)
    n_cand = k_top + 1
    ends = np.cumsum(n_cand)
    starts = ends - n_cand
    owner = np.repeat(np.arange(lg.shape[0]), n_cand)
    k = np.arange(int(ends[-1])) - starts[owner]
    val = f[(base[pools] + span[pools])[owner] - k * d_last[owner]] + q[q_base[lg][owner] + k]
    best = np.maximum.reduceat(val, starts)
    hit = np.where(val >= best[owner], np.arange(val.shape[0]), val.shape[0])
    k_last = k[np.minimum.reduceat(hit, starts)]
    value = np.zeros(n_pools)
    value[pools] = best
    # Walk back from each pool's full capacity: how many items of each group were taken.
    k_of_group = np.zeros(n_groups, dtype=np.int64)
    k_of_group[lg] = k_last
    c = span.copy()
    c[pools] -= k_last * d_last
    for gs, gp, take in reversed(takes):
        local = _stage_offsets(gp, length)
        kk = take[local + c[gp]]
        k_of_group[gs] = kk
        c[gp] -= kk * g_size[gs]
    picked = ranks < k_of_group[gid]
    chosen = np.zeros(n, dtype=bool)
    chosen[order[picked]] = True
    return value, chosen


def _stage_offsets(gp: IntArray, length: IntArray) -> IntArray:
    """Start of each of these pools' rows in a stage's take array (pools in order)."""
    sizes = length[gp]
    return np.concatenate(([0], np.cumsum(sizes)))[:-1]


def _stage(
    f: FloatArray,
    gp: IntArray,
    gd: IntArray,
    gk: IntArray,
    gq: IntArray,
    q: FloatArray,
    base: IntArray,
    length: IntArray,
) -> Int32Array:
    """Add one group (size ``gd``, ``gk`` items, prefix sums at ``q[gq:]``) to each of the
    pools ``gp`` (in place on ``f``); returns, for every capacity of those pools, how many
    of the group's items the best value takes."""
    lengths = length[gp]
    local = np.concatenate(([0], np.cumsum(lengths)))[:-1]
    total = int(lengths.sum())
    owner = np.repeat(np.arange(gp.shape[0]), lengths)
    cap_of = np.arange(total) - local[owner]
    f_at = base[gp][owner] + cap_of
    out = f[f_at]  # no item of the group
    take = np.zeros(total, dtype=np.int32)
    direct = gk <= DIRECT_ITEMS
    if direct.any():
        # Few items: the maximum over k directly, one shifted copy per k.
        size_of, items_of = gd[owner], gk[owner]
        on = direct[owner]
        for k in range(1, int(gk[direct].max()) + 1):
            at = np.flatnonzero(on & (items_of >= k) & (cap_of >= k * size_of))
            cand = f[f_at[at] - k * size_of[at]] + q[gq[owner[at]] + k]
            better = cand > out[at]
            out[at[better]] = cand[better]
            take[at[better]] = k
    many = np.flatnonzero(~direct)
    if many.size:
        _convolve(
            f,
            out,
            take,
            gd[many],
            gk[many],
            gq[many],
            q,
            base[gp[many]],
            local[many],
            lengths[many],
        )
    f[f_at] = out
    return take


def _convolve(
    f: FloatArray,
    out: FloatArray,
    take: Int32Array,
    gd: IntArray,
    gk: IntArray,
    gq: IntArray,
    q: FloatArray,
    f_base: IntArray,
    t_base: IntArray,
    lengths: IntArray,
) -> None:
    """out[c] = max_k f[c − k·d] + Q(k) for groups with many items, by divide and conquer.

    Along one residue class r of c mod d, row m (capacity r + m·d) takes its best source
    j = m − k. For concave Q a best source of a later row is never before one of an
    earlier row (exchange: for j' < j and m < m', Q(m − j') + Q(m' − j) ≥ Q(m − j) +
    Q(m' − j') by concavity), so solving the middle row of a block of rows splits the
    sources for the rows above and below it. All blocks of all groups advance together.
    """
    # Sequences (group, residue r): rows m = 0..last with capacity r + m·d.
    n_res = np.minimum(gd, lengths)
    seq_g = np.repeat(np.arange(gd.shape[0]), n_res)
    seq_r = np.arange(int(n_res.sum())) - np.repeat(np.cumsum(n_res) - n_res, n_res)
    seq_d = gd[seq_g]
    last = (lengths[seq_g] - 1 - seq_r) // seq_d
    seq_k = gk[seq_g]
    seq_f = f_base[seq_g] + seq_r
    seq_t = t_base[seq_g] + seq_r
    seq_q = gq[seq_g]
    # Blocks: sequence, rows lo..hi, sources clo..chi.
    seg = np.arange(seq_g.shape[0])
    lo = np.zeros(seg.shape[0], dtype=np.int64)
    hi = last
    clo = np.zeros(seg.shape[0], dtype=np.int64)
    chi = last.copy()
    while seg.size:
        mid = (lo + hi) // 2
        a = np.maximum(clo, mid - seq_k[seg])
        b = np.minimum(chi, mid)
        n_cand = b - a + 1
        ends = np.cumsum(n_cand)
        starts = ends - n_cand
        owner = np.repeat(np.arange(seg.shape[0]), n_cand)
        j = np.arange(int(ends[-1])) - np.repeat(starts - a, n_cand)
        d = seq_d[seg]
        val = f[seq_f[seg][owner] + j * d[owner]] + q[seq_q[seg][owner] + mid[owner] - j]
        best = np.maximum.reduceat(val, starts)
        hit = np.where(val >= best[owner], np.arange(val.shape[0]), val.shape[0])
        arg = j[np.minimum.reduceat(hit, starts)]
        row = seq_t[seg] + mid * d
        out[row] = best
        take[row] = mid - arg
        up, down = lo < mid, mid < hi
        seg = np.concatenate((seg[up], seg[down]))
        lo = np.concatenate((lo[up], mid[down] + 1))
        hi = np.concatenate((mid[up] - 1, hi[down]))
        clo, chi = np.concatenate((clo[up], arg[down])), np.concatenate((arg[up], chi[down]))
