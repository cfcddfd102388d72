"""A Lagrangian bound with one integer knapsack per pool.

Relaxing the assignment rows of the placement model ("each workload on at most one pool, or
left out") with multipliers λ_w splits it into independent pieces::

    L(λ) = Σ_w λ_w + Σ_w min(0, pen_w − λ_w) − Σ_p K_p(λ)
    K_p(λ) = max { Σ_{a ∈ A(p)} (λ_{w(a)} − c_a)·x_a  :  Σ_{a ∈ A(p)} d_a·x_a ≤ cap_p,
                   x ∈ {0, 1} }

For every λ, L(λ) ≤ the optimum: a plan (x, u) satisfies every knapsack and its
assignment rows hold with equality, so the Lagrangian objective at (x, u) is the plan's own
cost, and L(λ) minimises that objective over a larger set. When every workload must be
placed there is no "left out" option and the middle sum is dropped (λ is then free in sign).

Each K_p is a 0-1 knapsack, solved exactly (:mod:`solver.knapsack`). For pool prices π ≥ 0 and
λ_w = min(pen_w, min_a c_a + d_a·π_{p(a)}), every profit is at most d_a·π_p, so
K_p ≤ π_p·cap_p and L(λ) ≥ Σ_w λ_w − Σ_p π_p·cap_p: the relaxation's own Lagrangian bound
at π (:func:`solver.relax.lagrangian_bound`), the LP bound when π are the LP's duals. Where
replicas of 8 or 16 devices cannot fill a pool exactly, the integer knapsack sees the
packing loss the LP spreads away, and L rises above the LP.

λ is then improved by a deflected subgradient ascent (:func:`ascend`); every λ it visits
gives a valid bound, so the best one found is kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from solver.arrays import EPS, FloatArray, Int16Array, IntArray
from solver.knapsack import solve_knapsacks
from solver.relax import Relaxation
from solver.table import Table

SAFETY = 1e-9
"""Margin taken off every bound, relative to the magnitudes it sums (Σ|min(λ, pen)| and
the knapsack values). A profit λ − c is rounded once, so its error is relative to the
profit itself; a knapsack value then sums at most a few million such profits, and the
programme only compares and adds them: all the error together stays below n·2⁻⁵³ ≈ 1e-10
of those magnitudes for n up to a million terms."""

STEP, SHRINK, PATIENCE, DEFLECT = 0.5, 0.5, 3, 0.4
"""Subgradient ascent: Polyak step factor, its shrink factor after ``PATIENCE`` steps
without a better bound, and the weight of the previous direction."""

TIE = 1e-9
"""Relative profit tilt toward the relaxation's pairs (breaks knapsack ties)."""

TILT_MAX_ARCS = 2_000_000
"""Above this many pairs no tilt is computed (one evaluation is all the time allows)."""

CHUNK = 1 << 20
"""Pairs per chunk of a pass over the table (temporaries stay far below its size)."""

OCTAVES, MANTISSA_BITS = 48, 3
"""Profit bins: this many binary octaves below the largest possible profit (anything
lower shares the bottom bin), each split by its leading mantissa bits."""

HISTOGRAM_CELLS = 1 << 23
"""Largest (group × bin) count table; beyond it every positive pair is a candidate."""

DENSE_KEYS = 1 << 20
"""Up to this many (pool, device count) combinations, groups are numbered arithmetically;
beyond it only the combinations present are, through one sort of the pairs."""

LOOKUP_SIZES = 1 << 16
"""Device counts up to this are numbered through a lookup table rather than a search."""


def workload_prices(table: Table, pool_prices: FloatArray) -> FloatArray:
    """The LP's workload duals recovered from its pool prices π:
    λ_w = min(pen_w, min_a c_a + d_a·π_{p(a)}); without the penalty cap when every workload
    must be placed (a workload with no pair then keeps its penalty)."""
    lam = table.penalty.copy()
    has = table.start[1:] > table.start[:-1]
    if table.n_arcs:
        reduced = table.arc_cost + table.arc_dev * pool_prices[table.arc_pool]
        least = np.minimum.reduceat(reduced, table.start[:-1][has])
        lam[has] = least if table.must_place else np.minimum(lam[has], least)
    return lam


@dataclass(frozen=True, slots=True)
class Evaluation:
    """L(λ), already less its safety margin, and a subgradient: 1 − (times the relaxed
    optimum places the workload) − (whether it leaves it out)."""

    bound: float
    subgradient: FloatArray


class Lagrangian:
    """L(λ) for one table.

    Pairs are grouped by (pool, device count). Within such a group only the ``cap // d``
    most profitable items can matter: a knapsack solution holding a less profitable one
    leaves out one at least as profitable of the same size, and swapping them keeps it
    feasible without losing profit. Each evaluation therefore hands the knapsacks only
    the top ``cap // d`` positive items of each group (ties broken arbitrarily), found
    without sorting all pairs: a first pass counts each group's items per profit bin, bins
    that never decrease as the profit grows, which fixes the bin at or above which at
    least ``cap // d`` items lie (every item below it is beaten by that many); a second
    pass collects the items from that bin up, and a partial sort per group trims them to
    exactly the top. Passes run over chunks of pairs, so no temporary array is as large as
    the table.
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        dev = table.arc_dev
        top = int(dev.max(initial=0))
        if top <= LOOKUP_SIZES:
            present = np.bincount(dev, minlength=top + 1) > 0
            sizes = np.flatnonzero(present)
            self._size_of: IntArray | None = np.cumsum(present) - 1
        else:
            sizes = np.unique(dev)
            self._size_of = None
        self._sizes = sizes
        self._n_sizes = max(1, int(sizes.shape[0]))
        n_dense = table.n_pools * self._n_sizes
        # Groups numbered pool·n_sizes + size index, or (when that space is too large)
        # only those present, by one sort of the pairs.
        self._stored: IntArray | None = None
        if n_dense <= DENSE_KEYS:
            self.n_keys = max(1, n_dense)
            keys = np.arange(self.n_keys)
            k_pool, k_size = keys // self._n_sizes, self._sizes_at(keys % self._n_sizes)
        else:
            present_keys, self._stored = np.unique(
                self._dense(0, table.n_arcs), return_inverse=True
            )
            self.n_keys = int(present_keys.shape[0])
            k_pool = present_keys // self._n_sizes
            k_size = self._sizes_at(present_keys % self._n_sizes)
        cap = table.pool_cap[k_pool] if table.n_pools else np.zeros(self.n_keys, np.int64)
        # How many items of a group fit at once (no limit for size 0; none beyond cap).
        self.k_limit = np.where(
            k_size > 0, cap // np.maximum(k_size, 1), np.iinfo(np.int64).max
        ).astype(np.int64)
        self._key_type = np.int16 if self.n_keys <= np.iinfo(np.int16).max else np.int64
        self._least_cost = float(table.arc_cost.min(initial=0.0))
        self._tilt: FloatArray | None = None

    def _sizes_at(self, index: IntArray) -> IntArray:
        if not self._sizes.size:
            return np.zeros(index.shape[0], dtype=np.int64)
        out: IntArray = self._sizes[index]
        return out

    def _dense(self, lo: int, hi: int) -> IntArray:
        """pool·n_sizes + size index of each pair in ``lo:hi``."""
        table = self.table
        dev = table.arc_dev[lo:hi]
        if self._size_of is not None:
            size_idx = self._size_of[dev]
        else:
            size_idx = np.searchsorted(self._sizes, dev)
        out: IntArray = table.arc_pool[lo:hi] * self._n_sizes + size_idx
        return out

    def _keys(self, lo: int, hi: int) -> npt.NDArray[Any]:
        """Group of each pair in ``lo:hi``."""
        keys = self._dense(lo, hi) if self._stored is None else self._stored[lo:hi]
        return keys.astype(self._key_type)

    def prefer(self, tilt: FloatArray | None) -> None:
        """Add ``tilt[a]`` ≥ 0 to every pair's profit from now on, to break ties toward
        chosen pairs (e.g. those the LP uses). Knapsack optima only grow with profits, so
        the bound stays valid; it weakens by at most the tilt the knapsacks take."""
        self._tilt = None if tilt is None else np.maximum(tilt, 0.0)

    def _profit(self, lam: FloatArray, lo: int, hi: int) -> FloatArray:
        """λ_w − c_a (+ tilt) of each pair in ``lo:hi``."""
        table = self.table
        profit: FloatArray = np.take(lam, table.arc_w[lo:hi])
        profit -= table.arc_cost[lo:hi]
        if self._tilt is not None:
            profit += self._tilt[lo:hi]
        return profit

    def candidates(self, lam: FloatArray) -> tuple[IntArray, FloatArray]:
        """The top ``cap // d`` positive-profit pairs of every group at multipliers ``lam``,
        and their profits (tilt included)."""
        table = self.table
        n = table.n_arcs
        top = float(np.max(lam, initial=0.0)) - self._least_cost
        if self._tilt is not None:
            top += float(self._tilt.max(initial=0.0))
        if n == 0 or not top > 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        # Profit bins: for positive doubles the bit pattern read as an integer grows with
        # the value, so its top bits (exponent, then MANTISSA_BITS of the mantissa) are a
        # bin that never decreases as the profit grows. No profit exceeds ``top`` (the
        # rounded differences are monotone too), so none lies above its bin; anything
        # OCTAVES below shares the bottom bin.
        shift = 52 - MANTISSA_BITS
        top_bin = int(np.array([top], dtype=np.float64).view(np.int64)[0] >> shift)
        n_bins = (OCTAVES + 1) << MANTISSA_BITS
        low_bin = top_bin - n_bins + 1
        counted = self.n_keys * n_bins <= HISTOGRAM_CELLS
        hist = np.zeros(self.n_keys * n_bins if counted else 0, dtype=np.int64)
        passes: list[tuple[int, npt.NDArray[Any], Int16Array]] = []
        for lo in range(0, n, CHUNK):
            hi = min(n, lo + CHUNK)
            p = self._profit(lam, lo, hi)
            bits = p.view(np.int64) >> shift
            bits -= low_bin
            np.clip(bits, 0, n_bins - 1, out=bits)
            b = bits.astype(np.int16)
            b[p <= 0] = -1  # not positive: never a candidate
            key = self._keys(lo, hi)
            if counted:
                pos = b >= 0
                hist += np.bincount(
                    key[pos].astype(np.int64) * n_bins + b[pos], minlength=hist.shape[0]
                )
            passes.append((lo, key, b))
        # Per group, the highest bin with at least the limit's worth of items at or above.
        cut = np.zeros(self.n_keys, dtype=np.int64)
        if counted:
            above = np.cumsum(hist.reshape(self.n_keys, n_bins)[:, ::-1], axis=1)[:, ::-1]
            enough = above >= self.k_limit[:, None]
            cut = np.where(enough.any(axis=1), n_bins - 1 - np.argmax(enough[:, ::-1], axis=1), 0)
        cut[self.k_limit == 0] = n_bins
        cut16 = cut.astype(np.int16)
        arcs: list[IntArray] = []
        keys: list[npt.NDArray[Any]] = []
        for lo, key, b in passes:
            keep = np.flatnonzero(b >= cut16[key])
            arcs.append(keep + lo)
            keys.append(key[keep])
        cand, key = np.concatenate(arcs), np.concatenate(keys)
        profit = np.take(lam, table.arc_w[cand]) - table.arc_cost[cand]
        if self._tilt is not None:
            profit += self._tilt[cand]
        # Exactly the top items per group (ties broken arbitrarily).
        order = np.argsort(key, kind="stable")
        cand, profit, key = cand[order], profit[order], key[order]
        bounds = np.searchsorted(key, np.arange(self.n_keys + 1), side="left")
        count = np.diff(bounds)
        drop = np.zeros(cand.shape[0], dtype=bool)
        for k in np.flatnonzero(count > self.k_limit).tolist():
            s, e, limit = int(bounds[k]), int(bounds[k + 1]), int(self.k_limit[k])
            below = np.argpartition(profit[s:e], e - s - limit)[: e - s - limit]
            drop[s + below] = True
        return cand[~drop], profit[~drop]

    def evaluate(self, lam: FloatArray) -> Evaluation:
        """L(λ) with every pool's knapsack solved exactly."""
        table = self.table
        cand, profit = self.candidates(lam)
        sacks = solve_knapsacks(table.arc_pool[cand], table.arc_dev[cand], profit, table.pool_cap)
        placed = np.bincount(table.arc_w[cand[sacks.chosen]], minlength=table.n_workloads)
        if table.must_place:
            own = lam
            left_out = np.zeros(table.n_workloads)
        else:
            own = np.minimum(lam, table.penalty)
            left_out = (lam > table.penalty).astype(np.float64)
        knap = float(sacks.value.sum())
        raw = float(own.sum()) - knap
        margin = SAFETY * (float(np.abs(own).sum()) + knap)
        return Evaluation(raw - margin, 1.0 - placed - left_out)


@dataclass(frozen=True, slots=True)
class Start:
    """The Lagrangian of a table, the LP's workload duals, L at them and the seconds that
    evaluation took."""

    lagrangian: Lagrangian
    lam: FloatArray
    first: Evaluation
    seconds: float


def begin(table: Table, relaxation: Relaxation) -> Start:
    """L at the relaxation's own workload duals (at least the LP bound).

    Ties between knapsack items are broken toward the pairs the relaxation uses (a profit
    tilt of ``TIE`` relative), so the first subgradients follow the LP's plan rather than
    an arbitrary one; above ``TILT_MAX_ARCS`` pairs (where no ascent follows) there is no
    tilt.
    """
    if relaxation.duals is None:
        raise ValueError("the relaxation has no pool prices")
    lagrangian = Lagrangian(table)
    lam = workload_prices(table, relaxation.duals)
    if not table.must_place:
        lam = np.minimum(lam, table.penalty)
    if table.n_arcs <= TILT_MAX_ARCS and relaxation.fraction.size == table.n_arcs:
        scale = np.abs(lam[table.arc_w]) + np.abs(table.arc_cost)
        lagrangian.prefer(TIE * relaxation.fraction * scale)
    started = time.perf_counter()
    first = lagrangian.evaluate(lam)
    return Start(lagrangian, lam, first, time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class Ascent:
    """The best bound found, the multipliers that gave it, and the evaluations made."""

    bound: float
    lam: FloatArray
    steps: int


def ascend(
    start: Start,
    *,
    upper: float,
    deadline: float,
    hard_deadline: float | None = None,
    max_steps: int = 200,
    step: float = STEP,
    shrink: float = SHRINK,
    patience: int = PATIENCE,
    deflect: float = DEFLECT,
    classes: IntArray | None = None,
) -> Ascent:
    """Subgradient ascent on L from ``start`` for ``max_steps`` evaluations at most (the
    start's own counts as the first), none begun after ``deadline``, nor unless twice the
    last one's duration still fits before ``hard_deadline``.

    Polyak steps toward ``upper`` (the best plan's objective): λ ← λ + t·s with
    t = step·(upper − L(λ)) / ‖s‖², where the direction s is the subgradient deflected by
    the previous direction; ``step`` shrinks after ``patience`` steps without a new best.
    With ``classes`` (workloads with identical options), each class moves by its members'
    mean subgradient: symmetric workloads keep equal multipliers, which by concavity of L
    loses nothing. Every λ visited gives a valid bound; the best is returned.
    """
    lagrangian = start.lagrangian
    table = lagrangian.table
    must = table.must_place
    size = None if classes is None else np.bincount(classes).astype(np.float64)
    lam, ev = start.lam, start.first
    best_lam, best, stall, steps = lam, ev.bound, 0, 1
    took = start.seconds
    direction = np.zeros(table.n_workloads)
    while True:
        g = ev.subgradient
        if classes is not None and size is not None:
            g = (np.bincount(classes, weights=g) / size)[classes]
        if not must:
            # Above the penalty λ gains nothing: never push it further up there.
            g = np.where((lam >= table.penalty) & (g > 0), 0.0, g)
        direction = g + deflect * direction
        norm = float(direction @ direction)
        room = upper - ev.bound
        if norm <= 0 or room <= EPS * max(1.0, abs(upper)):
            break
        now = time.perf_counter()
        if steps >= max_steps or now >= deadline:
            break
        if hard_deadline is not None and now + 2.0 * took > hard_deadline:
            break
        lam = lam + (step * room / norm) * direction
        if not must:
            lam = np.minimum(lam, table.penalty)
        ev = lagrangian.evaluate(lam)
        steps += 1
        took = time.perf_counter() - now
        if ev.bound > best:
            best, best_lam, stall = ev.bound, lam, 0
        else:
            stall += 1
            if stall >= patience:
                step *= shrink
                stall = 0
    return Ascent(best, best_lam, steps)


def strengthen(
    table: Table,
    relaxation: Relaxation,
    *,
    upper: float,
    deadline: float,
    max_steps: int = 200,
) -> Ascent:
    """The Lagrangian bound from the relaxation's pool prices (:func:`begin`), raised by
    subgradient ascent (:func:`ascend`) until ``deadline``."""
    return ascend(
        begin(table, relaxation),
        upper=upper,
        deadline=deadline,
        max_steps=max_steps,
        classes=relaxation.classes,
    )
