"""The continuous relaxation of a :class:`~solver.table.Table`: the plan's lower bound.

Relaxing "each workload whole on one pool" to "any fraction on each pool" gives a linear
program whose optimum bounds every plan from below::

    min Σ_a c[a]·x[a] + Σ_w pen[w]·u[w]
    s.t. Σ_{a ∈ A(w)} x[a] + u[w] = 1        ∀ w
         Σ_{a ∈ A(p)} d[a]·x[a] ≤ cap[p]      ∀ p
         x, u ≥ 0

Two ways to solve it:

* **Flow.** When a workload's device count differs between models only by fixed exchange
  rates (8 H100 = 16 A100 = 16 Ascend910B, so 2 : 1 : 1 "units" per device), the LP is a
  transportation problem in units: each workload supplies k units; arcs to pools cost
  c / k per unit; pools take cap × units-per-device. OR-Tools' min-cost flow solves it
  exactly, and identical workloads are merged into one supply node first.
* **LP.** Otherwise (the generalized assignment problem: the count depends on the site) GLOP
  solves the LP over the same merged classes, and its pool duals λ give the Lagrangian bound
  ``Σ_w min(pen[w], min_a c[a] + d[a]·λ[p(a)]) − Σ_p λ[p]·cap[p]``, valid for any λ ≥ 0 and
  so immune to the LP's floating-point tolerances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from ortools.graph.python import min_cost_flow
from ortools.linear_solver import pywraplp

from solver.arrays import EPS, INTEGRALITY_TOL, BoolArray, FloatArray, IntArray
from solver.table import Table, from_arcs

MAX_UNIT_COST = 2**31
"""The largest scaled unit cost handed to min-cost flow (it scales costs by the node count)."""


@dataclass(frozen=True, slots=True)
class Relaxation:
    """The relaxation's proven lower bound and its fractional solution.

    ``fraction[a]`` is the share of arc ``a``'s workload on that arc; ``duals`` the pool
    prices, used to rank moves and to start the Lagrangian bound (:mod:`solver.lagrange`);
    ``classes`` the class of each workload (workloads with identical options share one).
    """

    bound: float
    fraction: FloatArray
    method: str
    duals: FloatArray | None = None
    classes: IntArray | None = None


def classes(table: Table) -> tuple[IntArray, IntArray]:
    """Merge workloads with identical options: (class of each workload, representative)."""
    seen: dict[bytes, int] = {}
    cls = np.empty(table.n_workloads, dtype=np.int64)
    reps: list[int] = []
    pools, costs, devs, pen = table.arc_pool, table.arc_cost, table.arc_dev, table.penalty
    start = table.start
    for w in range(table.n_workloads):
        s, e = start[w], start[w + 1]
        key = b"".join(
            (pools[s:e].tobytes(), devs[s:e].tobytes(), costs[s:e].tobytes(), pen[w].tobytes())
        )
        c = seen.get(key)
        if c is None:
            c = seen[key] = len(reps)
            reps.append(w)
        cls[w] = c
    return cls, np.array(reps, dtype=np.int64)


def exchange_rates(table: Table, *, majority: bool = False) -> IntArray | None:
    """Integer units per device of each model, if every workload's needs agree with them.

    Returns ``None`` when some workload's device counts on two models contradict another's
    (site-dependent demand: the relaxation is then not a flow). With ``majority``, the most
    common ratio between two models wins and contradicting ones are ignored.
    """
    n_models = int(table.pool_model.max()) + 1 if table.n_pools else 0
    arc_model = table.pool_model[table.arc_pool]
    first = table.start[table.arc_w]
    # Only arcs on another model than the workload's first say anything; encode each
    # (model, model, devices, devices) relation as one integer to deduplicate fast.
    other = arc_model != arc_model[first]
    m0, m1 = arc_model[first][other], arc_model[other]
    d0, d1 = table.arc_dev[first][other], table.arc_dev[other]
    top = int(table.arc_dev.max(initial=0)) + 1
    keys, inverse = np.unique(((m0 * n_models + m1) * top + d0) * top + d1, return_inverse=True)
    # The ratio that the most devices follow wins (a count would favour many small jobs).
    weight = np.bincount(inverse, weights=(d0 + d1).astype(np.float64), minlength=keys.shape[0])
    keys = keys[np.argsort(-weight, kind="stable")]
    d1u, rest = keys % top, keys // top
    d0u, rest = rest % top, rest // top
    # Union-find with each model's rate relative to its root: u[m] = ratio[m] · u[root].
    parent = list(range(n_models))
    ratio = [Fraction(1)] * n_models

    def find(m: int) -> tuple[int, Fraction]:
        r = Fraction(1)
        while parent[m] != m:
            r *= ratio[m]
            m = parent[m]
        return m, r

    for a, b, da, db in zip(
        (rest // n_models).tolist(),
        (rest % n_models).tolist(),
        d0u.tolist(),
        d1u.tolist(),
        strict=True,
    ):
        # da devices of a = db devices of b  ⇒  u[b] = u[a] · da / db
        ra, fa = find(a)
        rb, fb = find(b)
        want = fa * Fraction(da, db)  # u[b] relative to ra
        if ra == rb:
            if fb != want and not majority:
                return None
            continue
        parent[rb] = ra
        ratio[rb] = want / fb
    rates = [find(m)[1] for m in range(n_models)]
    scale = math.lcm(*(r.denominator for r in rates)) if n_models else 1
    return np.array([int(r * scale) for r in rates], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class NestedCuts:
    """Rounding cuts on each pool's capacity, nested so that a flow can carry them.

    When every size of at least ``d`` devices using a pool is a multiple of ``d``, those
    workloads together take a multiple of ``d``: at most ``d·⌊cap/d⌋`` devices (a
    Chvátal–Gomory cut, valid for every whole plan). With 8- and 16-device jobs only, a pool
    of 44 free devices holds 40 of them, where the plain relaxation packs 5.5 jobs. The sets
    ``{size ≥ d}`` of one pool are nested, so each becomes one node between its arcs and the
    pool, and the relaxation stays a min-cost flow.

    ``pool_cap``: each pool's capacity after the cut on all its sizes; ``pool``, ``cap``,
    ``parent``: one row per inner cut (its pool, its capacity in devices, the next wider cut,
    −1 for the pool itself); ``arc_node``: the innermost cut each given arc enters (−1: the
    pool).
    """

    pool_cap: IntArray
    pool: IntArray
    cap: IntArray
    parent: IntArray
    arc_node: IntArray


def nested_caps(table: Table, arcs: IntArray) -> NestedCuts:
    """The nested rounding cuts of every pool, for the sizes among ``arcs``."""
    pool_cap = table.pool_cap.copy()
    top = int(table.arc_dev.max(initial=0)) + 1
    keys, inverse = np.unique(table.arc_pool[arcs] * top + table.arc_dev[arcs], return_inverse=True)
    node_of_key = np.full(keys.shape[0], -1, dtype=np.int64)
    pools: list[int] = []
    caps: list[int] = []
    parents: list[int] = []
    bounds = np.searchsorted(keys // top, np.arange(table.n_pools + 1))
    for p in range(table.n_pools):
        lo, hi = int(bounds[p]), int(bounds[p + 1])
        if lo == hi:
            continue
        sizes = (keys[lo:hi] % top).tolist()  # ascending
        valid = [all(s % d == 0 for s in sizes[i:]) and d > 0 for i, d in enumerate(sizes)]
        outer = int(pool_cap[p])
        if valid[0]:
            outer = pool_cap[p] = sizes[0] * (outer // sizes[0])
        node = -1
        for i, d in enumerate(sizes):
            if i > 0 and valid[i] and d * (outer // d) < outer:
                outer = d * (outer // d)
                pools.append(p)
                caps.append(outer)
                parents.append(node)
                node = len(pools) - 1
            node_of_key[lo + i] = node
    return NestedCuts(
        pool_cap=pool_cap,
        pool=np.array(pools, dtype=np.int64),
        cap=np.array(caps, dtype=np.int64),
        parent=np.array(parents, dtype=np.int64),
        arc_node=node_of_key[inverse.reshape(-1)],
    )


def least_units(table: Table, rates: IntArray) -> tuple[IntArray, BoolArray]:
    """Each workload's fewest units over its pairs (in ``rates``), and whether it has any
    pair at all (the units of one without are meaningless)."""
    arc_units = table.arc_dev * rates[table.pool_model[table.arc_pool]]
    units = np.full(table.n_workloads, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(units, table.arc_w, arc_units)
    return units, np.diff(table.start) > 0


LP_MAX_ARCS = 150_000
"""Above this many pairs, site-dependent demand is relaxed by a flow, not solved by GLOP."""


def relax(table: Table, time_limit_s: float | None = None) -> Relaxation:
    """Solve the relaxation by flow when the demands allow it, else by LP (or, when the
    table is too large for GLOP, by a flow that under-counts devices: a weaker bound)."""
    if table.n_arcs == 0:
        return Relaxation(bound=float(table.penalty.sum()), fraction=np.zeros(0), method="trivial")
    rates = exchange_rates(table)
    if rates is not None:
        return _flow(table, rates, exact=True)
    if table.n_arcs <= LP_MAX_ARCS:
        return _lp(table, time_limit_s)
    majority = exchange_rates(table, majority=True)
    assert majority is not None
    return _flow(table, majority, exact=False)


def _flow(table: Table, rates: IntArray, *, exact: bool) -> Relaxation:
    """The transportation relaxation in units of ``rates``.

    Each workload supplies the fewest units any of its pairs uses. When the rates fit every
    workload (``exact``) that is the LP itself; otherwise pairs needing more units are
    under-counted, which only relaxes capacity further: still a valid lower bound.
    """
    cls, reps = classes(table)
    count = np.bincount(cls, minlength=reps.shape[0]).astype(np.int64)
    units, has_arcs = least_units(table, rates)
    # Workloads with no option at all are simply unplaced.
    units[~has_arcs] = 1
    n_cls, n_pools = reps.shape[0], table.n_pools
    sink = n_cls + n_pools
    supply = count * units[reps]

    rep_arcs = np.concatenate(
        [np.arange(table.start[r], table.start[r + 1]) for r in reps] or [np.zeros(0, np.int64)]
    ).astype(np.int64)
    rep_cls = cls[table.arc_w[rep_arcs]]
    unit_cost = table.arc_cost[rep_arcs] / units[table.arc_w[rep_arcs]]
    pen_unit = table.penalty[reps] / units[reps]
    top = max(float(unit_cost.max(initial=0.0)), float(pen_unit.max(initial=0.0)), 1e-12)
    scale = MAX_UNIT_COST / top

    rate = rates[table.pool_model]
    nest = nested_caps(table, rep_arcs)
    # Nodes: classes, pools, the sink, then one per nested cut; each arc enters the
    # innermost cut holding its size (or its pool when none does).
    inner = n_cls + n_pools + 1 + np.arange(nest.pool.shape[0])
    outer = np.where(nest.parent >= 0, n_cls + n_pools + 1 + nest.parent, n_cls + nest.pool)
    heads_rep = np.where(
        nest.arc_node >= 0, n_cls + n_pools + 1 + nest.arc_node, n_cls + table.arc_pool[rep_arcs]
    )
    pool_units = nest.pool_cap * rate
    tails = np.concatenate((rep_cls, np.arange(n_cls), n_cls + np.arange(n_pools), inner))
    heads = np.concatenate((heads_rep, np.full(n_cls, sink), np.full(n_pools, sink), outer))
    caps = np.concatenate((supply[rep_cls], supply, pool_units, nest.cap * rate[nest.pool]))
    costs = np.concatenate(
        (
            np.rint(unit_cost * scale),
            np.rint(pen_unit * scale),
            np.zeros(n_pools + inner.shape[0]),
        )
    ).astype(np.int64)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    n_nodes = sink + 1 + inner.shape[0]
    node_supply = np.zeros(n_nodes, dtype=np.int64)
    node_supply[:n_cls] = supply
    node_supply[sink] = -supply.sum()
    flow.set_nodes_supplies(np.arange(n_nodes), node_supply)
    status = flow.solve()
    if status != flow.OPTIMAL:  # pragma: no cover - costs are scaled to fit
        raise RuntimeError(f"min-cost flow failed with status {status}")
    # Any fractional plan costs at least the scaled optimum less half a unit of rounding
    # per unit of flow: that, in 元, is the proven bound.
    bound = (flow.optimal_cost() - 0.5 * float(supply.sum())) / scale
    n_arcs_rep = rep_arcs.shape[0]
    arc_flow = flow.flows(np.arange(n_arcs_rep))
    pool_flow = flow.flows(np.arange(n_arcs_rep + n_cls, n_arcs_rep + n_cls + n_pools))
    per_rep = np.zeros(table.n_arcs)
    per_rep[rep_arcs] = arc_flow / units[table.arc_w[rep_arcs]]
    share = _spread(table, cls, reps, per_rep)
    unit_of_arc = np.zeros(table.n_arcs)
    unit_of_arc[rep_arcs] = unit_cost
    mu = _potentials(
        table,
        rep_arcs[arc_flow > 0],
        unit_of_arc,
        pen_unit_of=pen_unit,
        cls_of_rep=cls,
        saturated=pool_flow >= pool_units,
    )
    duals = mu * rates[table.pool_model]
    bound = max(bound, lagrangian_bound(table, duals))
    method = "flow" if exact else "flow-relaxed"
    return Relaxation(
        bound=max(bound, 0.0), fraction=share, method=method, duals=duals, classes=cls
    )


def _lp(table: Table, time_limit_s: float | None = None) -> Relaxation:
    cls, reps = classes(table)
    count = np.bincount(cls, minlength=reps.shape[0]).astype(np.float64)
    nest = nested_caps(table, np.arange(table.n_arcs))
    lp = pywraplp.Solver.CreateSolver("GLOP")
    if lp is None:  # pragma: no cover - GLOP ships with OR-Tools
        raise RuntimeError("GLOP is not available")
    inf = lp.infinity()
    pool_rows = [lp.Constraint(-inf, float(cap)) for cap in nest.pool_cap]
    cut_rows = [lp.Constraint(-inf, float(cap)) for cap in nest.cap]
    chains = [_chain(nest.parent, k) for k in range(nest.cap.shape[0])]
    objective = lp.Objective()
    xs: list[tuple[int, pywraplp.Variable]] = []
    for c, r in enumerate(reps.tolist()):
        row = lp.Constraint(float(count[c]), float(count[c]))
        u = lp.NumVar(0.0, inf, "")
        row.SetCoefficient(u, 1.0)
        objective.SetCoefficient(u, float(table.penalty[r]))
        for a in range(int(table.start[r]), int(table.start[r + 1])):
            x = lp.NumVar(0.0, inf, "")
            row.SetCoefficient(x, 1.0)
            dev = float(table.arc_dev[a])
            pool_rows[int(table.arc_pool[a])].SetCoefficient(x, dev)
            node = int(nest.arc_node[a])
            if node >= 0:
                for k in chains[node]:
                    cut_rows[k].SetCoefficient(x, dev)
            objective.SetCoefficient(x, float(table.arc_cost[a]))
            xs.append((a, x))
    objective.SetMinimization()
    if time_limit_s is not None:
        lp.SetTimeLimit(max(1, int(time_limit_s * 1000)))
    lp.Solve()
    duals = np.array([max(0.0, -row.dual_value()) for row in pool_rows], dtype=np.float64)
    cut_duals = np.array([max(0.0, -row.dual_value()) for row in cut_rows], dtype=np.float64)
    per_rep = np.zeros(table.n_arcs)
    for a, x in xs:
        per_rep[a] = x.solution_value()
    share = _spread(table, cls, reps, per_rep)
    bound = lagrangian_bound(table, duals, nest, cut_duals)
    return Relaxation(bound=bound, fraction=share, method="lp", duals=duals, classes=cls)


def _chain(parent: IntArray, node: int) -> list[int]:
    """A nested cut and every wider one around it."""
    out = []
    while node >= 0:
        out.append(node)
        node = int(parent[node])
    return out


def _potentials(
    table: Table,
    flow_arcs: IntArray,
    unit_of_arc: FloatArray,
    *,
    pen_unit_of: FloatArray,
    cls_of_rep: IntArray,
    saturated: BoolArray,
) -> FloatArray:
    """Pool prices per unit from an optimal flow (complementary slackness).

    With μ the pool prices: a pool with room has μ = 0; a class using pool p pays no more
    there than at any other pool q of its own, ĉ_p + μ_p ≤ ĉ_q + μ_q, nor more than its
    penalty, ĉ_p + μ_p ≤ π. These are difference constraints; their largest solution is a
    shortest-path distance on the pools, found by Bellman–Ford.
    """
    n_pools = table.n_pools
    pools_at = table.arc_pool[flow_arcs]
    reps = table.arc_w[flow_arcs]
    # A full pool's price never needs to exceed the largest penalty per unit (no class would
    # use it above that); a pool with room is free.
    root = np.where(saturated, float(pen_unit_of.max(initial=0.0)), 0.0)
    pen = pen_unit_of[cls_of_rep[reps]]
    np.minimum.at(root, pools_at, pen - unit_of_arc[flow_arcs])
    # Edges q → p: ĉ_q − ĉ_p for every sibling arc q of a class using p.
    counts = (table.start[reps + 1] - table.start[reps]).astype(np.int64)
    first = np.repeat(table.start[reps], counts)
    offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    sib = first + offset
    used = np.repeat(flow_arcs, counts)
    weight = np.full((n_pools, n_pools), np.inf)
    np.minimum.at(
        weight, (table.arc_pool[sib], table.arc_pool[used]), unit_of_arc[sib] - unit_of_arc[used]
    )
    dist = root
    for _ in range(n_pools + 1):
        nxt = np.minimum(dist, (dist[:, None] + weight).min(axis=0, initial=np.inf))
        if np.array_equal(nxt, dist):
            break
        dist = nxt
    return np.where(np.isfinite(dist), np.maximum(dist, 0.0), 0.0)


def _spread(table: Table, cls: IntArray, reps: IntArray, per_rep: FloatArray) -> FloatArray:
    """Hand a class's workload counts per arc (``per_rep``, on its representative's arcs)
    to its members: whole workloads first, in arc order; the remainder split evenly among
    the members left over."""
    share = np.zeros(table.n_arcs)
    members: dict[int, list[int]] = {}
    for w, c in enumerate(cls.tolist()):
        members.setdefault(c, []).append(w)
    start = table.start
    for c, group in members.items():
        r = int(reps[c])
        s, e = int(start[r]), int(start[r + 1])
        counts = per_rep[s:e]
        whole = np.floor(counts + INTEGRALITY_TOL).astype(np.int64)
        rest = np.clip(counts - whole, 0.0, None)
        k = 0
        for offset, n in enumerate(whole.tolist()):
            for w in group[k : k + n]:
                share[start[w] + offset] = 1.0
            k += n
        left = group[k:]
        if left and rest.sum() > EPS:
            for w in left:
                share[start[w] : start[w] + (e - s)] = rest / len(left)
    return share


def lagrangian_bound(
    table: Table,
    prices: FloatArray,
    nest: NestedCuts | None = None,
    cut_prices: FloatArray | None = None,
) -> float:
    """The Lagrangian bound for pool prices ``prices`` ≥ 0 (a lower bound for any such).

    With ``nest`` (the nested cuts of every arc of the table) the pools' capacities are the
    cut ones, and ``cut_prices`` ≥ 0 price each inner cut: an arc pays, per device, its
    pool's price and that of every cut it enters. Valid for any such prices, because every
    whole plan satisfies every cut.
    """
    per_device = prices[table.arc_pool]
    rent = float(prices @ table.pool_cap)
    if nest is not None:
        rent = float(prices @ nest.pool_cap)
        if cut_prices is not None and cut_prices.size:
            # Parents come before their children: one pass sums each chain.
            total = cut_prices.astype(np.float64).copy()
            for k in range(total.shape[0]):
                if nest.parent[k] >= 0:
                    total[k] += total[nest.parent[k]]
            per_device = per_device + np.where(
                nest.arc_node >= 0, total[np.maximum(nest.arc_node, 0)], 0.0
            )
            rent += float(cut_prices @ nest.cap)
    reduced = table.arc_cost + table.arc_dev * per_device
    best = table.penalty.copy()
    np.minimum.at(best, table.arc_w, reduced)
    return float(best.sum() - rent)


def reflow(table: Table, choice: IntArray) -> IntArray | None:
    """The best placement of the smallest workloads with every other one kept as in
    ``choice``; ``None`` when the demands do not make the relaxation a flow.

    The workloads needing the fewest units (one device, mostly) are re-placed by the
    min-cost flow on the room the others leave. With the nested rounding cuts every pool
    then takes a whole number of them, so the flow is integral: their placement is optimal
    given the rest. Rounding splits few workloads but then fixes the small ones badly
    around them; this puts them back.
    """
    if table.n_arcs == 0:
        return None
    rates = exchange_rates(table)
    if rates is None:
        return None
    units, has = least_units(table, rates)
    if not has.any():
        return None
    small = np.flatnonzero(has & (units == units[has].min()))
    fixed = choice.copy()
    fixed[small] = -1
    sub, arcs = subtable(table, small, table.pool_cap - table.usage(fixed))
    flow = _flow(sub, rates, exact=True)
    whole = np.flatnonzero(flow.fraction >= 1.0 - INTEGRALITY_TOL)
    fixed[small[sub.arc_w[whole]]] = arcs[whole]
    return fixed


def subtable(table: Table, workloads: IntArray, cap: IntArray) -> tuple[Table, IntArray]:
    """The table of ``workloads`` (ascending) alone on pools of capacity ``cap``, and the
    original index of each of its arcs."""
    index = np.full(table.n_workloads, -1, dtype=np.int64)
    index[workloads] = np.arange(workloads.shape[0])
    arcs = np.flatnonzero(index[table.arc_w] >= 0)  # still grouped by workload, in order
    sub = from_arcs(
        n_workloads=int(workloads.shape[0]),
        pool_site=table.pool_site,
        pool_model=table.pool_model,
        pool_cap=np.maximum(cap, 0),
        arc_w=index[table.arc_w[arcs]],
        arc_pool=table.arc_pool[arcs],
        arc_dev=table.arc_dev[arcs],
        arc_cost=table.arc_cost[arcs],
        penalty=table.penalty[workloads],
        priority=table.priority[workloads],
        must_place=table.must_place,
        pool_held=None
        if table.pool_held is None
        else np.where(table.pool_held >= 0, index[table.pool_held], -1),
    )
    return sub, arcs
