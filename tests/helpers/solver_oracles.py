"""Brute-force optima of tiny solver instances, the strategies that draw them, and the full
check of a plan against the model: what the solver's tests compare against."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume
from hypothesis import strategies as st

from benchmarks.orlib import GapInstance, gap_table
from solver import NodeShape, Plan, Problem, build_table
from solver.table import Table, from_arcs

BRUTE_FORCE_CHOICES = 50_000
"""The most choices a generated table may offer the brute force (each costs a fit check)."""


@st.composite
def rate_tables(draw: st.DrawFn) -> Table:
    """Random tables whose demands follow one exchange rate per model (2 : 1), small
    enough for :func:`table_optimum` to enumerate (at most 50,000 choices)."""
    n_w = draw(st.integers(1, 9))
    n_pools = draw(st.integers(1, 5))
    models = [draw(st.integers(0, 1)) for _ in range(n_pools)]
    rate = {0: 2, 1: 1}  # model 0 devices count double
    ws, ps, ds, cs = [], [], [], []
    for w in range(n_w):
        k = draw(st.integers(1, 4))  # units
        for p in draw(st.sets(st.integers(0, n_pools - 1), max_size=n_pools)):
            if k % rate[models[p]] == 0:
                ws.append(w)
                ps.append(p)
                ds.append(k // rate[models[p]])
                cs.append(draw(st.floats(0.1, 100.0)))
    per_workload = np.bincount(np.array(ws, dtype=np.int64), minlength=n_w)
    assume(math.prod(int(n) + 1 for n in per_workload) <= BRUTE_FORCE_CHOICES)
    return from_arcs(
        n_workloads=n_w,
        pool_site=np.arange(n_pools),
        pool_model=np.array(models),
        pool_cap=np.array([draw(st.integers(0, 8)) for _ in range(n_pools)]),
        arc_w=np.array(ws, dtype=np.int64),
        arc_pool=np.array(ps, dtype=np.int64),
        arc_dev=np.array(ds, dtype=np.int64),
        arc_cost=np.array(cs, dtype=np.float64),
        penalty=np.array([draw(st.floats(1.0, 300.0)) for _ in range(n_w)]),
    )


def least_fitting(table: Table, options: list[list[int]]) -> float:
    """Least objective over every choice (one option per workload) that fits the table."""
    best = math.inf
    for combo in itertools.product(*options):
        choice = np.array(combo, dtype=np.int64)
        if table.fits(choice):
            best = min(best, table.objective(choice))
    return best


def table_optimum(table: Table) -> float:
    """Least objective over every choice of the table's pairs that fits."""
    options = [
        ([] if table.must_place else [-1])
        + list(range(int(table.start[w]), int(table.start[w + 1])))
        for w in range(table.n_workloads)
    ]
    return least_fitting(table, options)


@st.composite
def tiny_gaps(draw: st.DrawFn) -> GapInstance:
    """Tiny OR-Library-style GAP instances (up to 3 agents, 6 items)."""
    m, n = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    ints = st.integers(1, 20)
    return GapInstance(
        cost=np.array([[draw(ints) for _ in range(n)] for _ in range(m)]),
        weight=np.array([[draw(st.integers(1, 10)) for _ in range(n)] for _ in range(m)]),
        capacity=np.array([draw(st.integers(0, 30)) for _ in range(m)]),
    )


def brute_force(problem: Problem) -> float:
    """The least objective over every assignment of the usable pairs that fits (with
    running work held where it runs: :func:`shaped_brute_force`)."""
    if problem.running_held:
        return shaped_brute_force(problem)
    table, _ = build_table(problem)
    options = [
        [-1, *range(int(table.start[w]), int(table.start[w + 1]))] for w in range(table.n_workloads)
    ]
    return least_fitting(table, options)


def packs(shape: NodeShape, sizes: list[int], one_domain: list[bool] | None = None) -> bool:
    """Whether work of these device counts fits the nodes, by enumeration: each on one node,
    or on whole free nodes (⌈size / node size⌉ of them) when larger than a node, all in one
    interconnect domain when it asks for ``one_domain`` and the domains are known."""
    n = shape.node_size
    asks = one_domain or [False] * len(sizes)
    in_domain = [-(-d // n) for d, a in zip(sizes, asks, strict=True) if shape.in_domain(d, a)]
    domains = [k for k, count in enumerate(shape.domains_by_whole) for _ in range(count)]
    if not _fits_in_bins(sorted(in_domain, reverse=True), domains):
        return False
    nodes = [k for k, count in enumerate(shape.nodes_by_free) for _ in range(count)]
    whole = sum(-(-d // n) for d in sizes if d > n)
    for _ in range(whole):  # whole nodes are alike: which ones the large work takes is moot
        if n not in nodes:
            return False
        nodes.remove(n)
    return _fits_in_bins(sorted((d for d in sizes if d <= n), reverse=True), nodes)


def _fits_in_bins(items: list[int], room: list[int]) -> bool:
    """Whether these items go into bins of this room, each item in one bin (enumerated)."""

    def place(i: int) -> bool:
        if i == len(items):
            return True
        tried: set[int] = set()
        for j, k in enumerate(room):
            if k >= items[i] and k not in tried:
                tried.add(k)
                room[j] -= items[i]
                if place(i + 1):
                    return True
                room[j] += items[i]
        return False

    return place(0)


def shaped_brute_force(problem: Problem) -> float:
    """The least objective over every assignment whose work packs onto each shaped site's
    nodes (:func:`packs`), priced by the count-only table: independent of the node pools
    the solver cuts shaped sites into.

    With :attr:`Problem.running_held`, running work that stays takes neither free devices
    nor room on the nodes; work that moves takes them at its new site. The pairs are then
    those of a table with no capacity limit, the capacity checked here."""
    held = problem.running_held
    unlimited = 1 + sum(max(w.demands.values()) for w in problem.workloads)
    counted = replace(
        problem,
        sites=tuple(
            replace(s, shape={}, free=dict.fromkeys(s.power_w, unlimited) if held else s.free)
            for s in problem.sites
        ),
        running_held=False,
    )
    table, ctx = build_table(counted)
    shapes = {
        (si, ctx.models.index(m)): shape
        for si, site in enumerate(problem.sites)
        for m, shape in site.shape.items()
    }
    best = math.inf
    options = [
        [-1, *range(int(table.start[w]), int(table.start[w + 1]))] for w in range(table.n_workloads)
    ]
    free = {
        (si, ctx.models.index(m)): n
        for si, site in enumerate(problem.sites)
        for m, n in site.free.items()
    }
    for combo in itertools.product(*options):
        choice = np.array(combo, dtype=np.int64)
        if not table.fits(choice):
            continue
        sizes: dict[tuple[int, int], list[int]] = {}
        asks: dict[tuple[int, int], list[bool]] = {}
        for a in choice[choice >= 0].tolist():
            p = int(table.arc_pool[a])
            key = (int(table.pool_site[p]), int(table.pool_model[p]))
            w = int(table.arc_w[a])
            if held and ctx.current[w] == key[0]:
                continue  # staying on the devices it holds
            sizes.setdefault(key, []).append(int(table.arc_dev[a]))
            asks.setdefault(key, []).append(problem.workloads[w].one_domain)
        if held and any(sum(v) > free.get(k, 0) for k, v in sizes.items()):
            continue
        if all(packs(shapes[k], v, asks[k]) for k, v in sizes.items() if k in shapes):
            best = min(best, table.objective(choice))
    return best


def tolerance(value: float) -> float:
    """How far two objectives of the same plan may differ by rounding."""
    return 1e-6 * max(1.0, abs(value))


def check_plan(problem: Problem, plan: Plan) -> None:
    """Every constraint of the model, checked from the plan's own values."""
    sites = {s.id: s for s in problem.sites}
    work = {w.id: w for w in problem.workloads}
    used: dict[tuple[str, str], int] = {}
    taking = []  # the assignments that take free devices
    for a in plan.assignments:
        w, s = work[a.workload_id], sites[a.site_id]
        assert s.up
        assert a.devices == w.demands[a.model]
        assert a.model in s.power_w
        assert w.admits(s)
        if w.latency_slo_ms is not None:
            assert s.latency_ms[w.origin_region] <= w.latency_slo_ms
        if w.max_pue is not None:
            assert s.pue <= w.max_pue
        assert problem.hub_pue_ok(s)
        cap = problem.hub_max_pue.get(s.hub, math.inf)
        assert s.capped_pue <= cap - s.pue_cap_margin + 1e-9
        assert a.moved == (w.current_site is not None and w.current_site != s.id)
        if not a.moved:
            assert a.migration_cost_yuan == 0.0
        if w.current_site == s.id:
            assert a.transfer_cost_yuan == 0.0
            if problem.running_held:
                continue  # its devices are held already, out of the site's free ones
        taking.append(a)
        used[(a.site_id, a.model)] = used.get((a.site_id, a.model), 0) + a.devices
    for (sid, m), n in used.items():
        assert n <= sites[sid].free[m]
        shape = sites[sid].shape.get(m)
        if shape is not None:
            mine = [a for a in taking if (a.site_id, a.model) == (sid, m)]
            held = [a.devices for a in mine]
            asks = [work[a.workload_id].one_domain for a in mine]
            assert packs(shape, held, asks), f"{held} do not fit the nodes of {sid} {m}"
    placed = {a.workload_id for a in plan.assignments}
    assert placed.isdisjoint(u.workload_id for u in plan.unplaced)
    assert len(plan.assignments) + len(plan.unplaced) == len(problem.workloads)
    total = plan.cost_yuan + plan.penalty_yuan
    assert plan.objective == pytest.approx(total, rel=1e-9, abs=1e-9)
    assert plan.bound <= plan.objective + tolerance(plan.objective)


def type_d_table(seed: int, m: int, n: int, *, top: int = 100, fill: float = 0.8) -> Table:
    """A generated type-d-like instance: cost falls as the need (1..``top``) rises, and each
    agent's capacity is ``fill`` of its average need."""
    rng = np.random.default_rng(seed)
    weight = rng.integers(1, top + 1, (m, n))
    cost = top + 11 - weight + rng.integers(-10, 11, (m, n))
    capacity = (fill * weight.sum(axis=1) / m).astype(np.int64)
    return gap_table(GapInstance(cost=cost, weight=weight, capacity=capacity))
