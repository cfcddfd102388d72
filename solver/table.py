"""Price every (workload, site, accelerator model) pair at once, as flat arrays.

For workload ``w`` on site ``s`` with model ``m`` (``d`` devices of ``kW`` board power each)::

    energy_kwh   = d × kW × duration[w] × PUE[s]
    energy_cost  = d × kW × PUE[s] × ∫ price[s](t) dt over the run, from now
    carbon_cost  = energy_kwh × carbon[s] × carbon price
    transfer     = data_gb[w] × transfer price[s][origin region of w]   (not when staying)
    migration    = migration_cost[w]                  (running work that moves to another site)
    penalty[w]   = (1 + priority[w]) × unplaced price per kWh × least IT energy of w

A *pool* is one accelerator model at one site; its capacity is the free device count. The
table keeps only the pairs a plan may use (right accelerator, site up, residency, PUE caps,
SLO, enough free devices, cheaper than leaving the work out), grouped by workload (CSR).
No pair is dropped for being dear: any could carry the relaxation's optimum.
The same formulas, evaluated element-wise, price the chosen pairs and the explanations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.arrays import BoolArray, FloatArray, IntArray, UInt8Array
from solver.capacity import NodeShape, node_pools
from solver.model import HOURS_PER_DAY, REASON_KINDS, RESIDENCY_FIELDS, Problem

OK = 255
"""Reason code of a usable pair; any other code indexes :data:`REASON_KINDS`."""
CODE = {kind: i for i, kind in enumerate(REASON_KINDS)}

DEFAULT_KW_PER_DEVICE = 0.7
"""Reference board power for a model no site reports (only sizes that workload's penalty)."""

UNPLACED_PRICE_FACTOR = 2.0
"""Default unplaced price: this many times the dearest facility cost per IT kWh anywhere."""

MIN_UNPLACED_PRICE = 0.01
"""Floor of the default unplaced price, yuan per IT kWh: where energy is free everywhere,
leaving work out must still cost something."""


def unplaced_price(
    problem: Problem, pue: FloatArray, prices: FloatArray, carbon: FloatArray
) -> float:
    """Yuan per IT kWh of work left out: the problem's own, else a multiple of the dearest
    facility cost per IT kWh at any site (``prices``: sites × hours)."""
    if problem.unplaced_yuan_per_kwh is not None:
        return problem.unplaced_yuan_per_kwh
    cost_per_kwh = pue * (prices.max(axis=1) + problem.carbon_yuan_per_kg * carbon)
    dearest = float(cost_per_kwh.max()) if pue.shape[0] else 0.0
    return max(UNPLACED_PRICE_FACTOR * dearest, MIN_UNPLACED_PRICE)


def price_integrals(hourly: FloatArray, start_h: float, lengths_h: FloatArray) -> FloatArray:
    """∫ price dt (元/kWh × h) over each length, from ``start_h`` (0–1) into the schedule.

    ``hourly`` is (sites × 24); the result is (sites × lengths). The schedule repeats daily.
    """
    hourly = np.atleast_2d(hourly)
    days = np.floor(lengths_h / HOURS_PER_DAY)
    rest = lengths_h - days * HOURS_PER_DAY
    knots = np.arange(2 * HOURS_PER_DAY + 1, dtype=np.float64)
    out = np.empty((hourly.shape[0], lengths_h.shape[0]), dtype=np.float64)
    for i, row in enumerate(hourly):
        cum = np.concatenate(([0.0], np.cumsum(np.tile(row, 2))))
        base = np.interp(start_h, knots, cum)
        out[i] = days * row.sum() + np.interp(start_h + rest, knots, cum) - base
    return out


@dataclass(frozen=True, slots=True)
class Terms:
    """The cost terms of some (workload, site, model) pairs, element-wise."""

    energy_kwh: FloatArray
    energy_cost: FloatArray
    carbon_kg: FloatArray
    carbon_cost: FloatArray
    transfer: FloatArray
    migration: FloatArray

    @property
    def total(self) -> FloatArray:
        total: FloatArray = self.energy_cost + self.carbon_cost + self.transfer + self.migration
        return total


class Context:
    """The problem as arrays: one row per workload, one per site, one column per model."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        sites, work = problem.sites, problem.workloads
        self.models: tuple[str, ...] = tuple(
            sorted({m for s in sites for m in s.power_w} | {m for w in work for m in w.demands})
        )
        model_of = {m: i for i, m in enumerate(self.models)}
        regions = sorted({w.origin_region for w in work})
        region_of = {r: i for i, r in enumerate(regions)}
        site_of = {s.id: i for i, s in enumerate(sites)}
        n_s, n_m, n_r = len(sites), len(self.models), len(regions)

        # Sites.
        self.pue = np.array([s.pue for s in sites], dtype=np.float64)
        self.carbon = np.array([s.carbon_kg_per_kwh for s in sites], dtype=np.float64)
        self.latency = np.full((n_s, n_r), np.inf)
        self.transfer_price = np.zeros((n_s, n_r))
        self.power = np.full((n_s, n_m), np.nan)
        self.free = np.zeros((n_s, n_m), dtype=np.int64)
        for si, s in enumerate(sites):
            for r, ri in region_of.items():
                self.latency[si, ri] = s.latency_ms.get(r, np.inf)
                self.transfer_price[si, ri] = s.transfer_yuan_per_gb.get(r, 0.0)
            for m, watts in s.power_w.items():
                self.power[si, model_of[m]] = watts
                self.free[si, model_of[m]] = s.free.get(m, 0)
        hub_ok = np.array([problem.hub_pue_ok(s) for s in sites], dtype=bool)
        up = np.array([s.up for s in sites], dtype=bool)
        drained = np.array([s.drained for s in sites], dtype=bool)
        prices = np.array([s.hourly_price for s in sites], dtype=np.float64).reshape(
            n_s, HOURS_PER_DAY
        )

        # Workloads.
        self.duration = np.array([w.duration_h for w in work], dtype=np.float64)
        self.own_power = np.array(
            [np.nan if w.power_w_per_device is None else w.power_w_per_device for w in work],
            dtype=np.float64,
        )
        self.region = np.array([region_of[w.origin_region] for w in work], dtype=np.int64)
        self.data_gb = np.array([w.data_gb for w in work], dtype=np.float64)
        self.current = np.array(
            [site_of.get(w.current_site, -2) if w.current_site else -1 for w in work],
            dtype=np.int64,
        )
        self.migration = np.array([w.migration_cost_yuan for w in work], dtype=np.float64)
        max_pue = np.array([w.max_pue or np.inf for w in work], dtype=np.float64)
        slo = np.array(
            [np.inf if w.latency_slo_ms is None else w.latency_slo_ms for w in work],
            dtype=np.float64,
        )
        self.priority = np.array([w.priority for w in work], dtype=np.int64)
        self.one_domain = np.array([w.one_domain for w in work], dtype=bool)
        # Which workloads accept each model, with how many devices.
        by_model: list[tuple[list[int], list[int]]] = [([], []) for _ in self.models]
        for wi, w in enumerate(work):
            for m, d in w.demands.items():
                by_model[model_of[m]][0].append(wi)
                by_model[model_of[m]][1].append(d)
        self.takers = [
            (np.array(ws, dtype=np.int64), np.array(ds, dtype=np.int64)) for ws, ds in by_model
        ]

        # ∫ price over each run, per site (sites × workloads).
        self.price_integral = price_integrals(prices, problem.hour_elapsed, self.duration)

        # Site-level reasons (workloads × sites), the first that applies wins.
        code = np.full((len(work), n_s), OK, dtype=np.uint8)
        checks: list[tuple[str, BoolArray]] = [
            ("latency", slo[:, None] < self.latency[:, self.region].T),
            ("pue", self.pue[None, :] > max_pue[:, None]),
            ("hub-pue", np.broadcast_to(~hub_ok[None, :], code.shape)),
        ]
        residency = np.zeros(code.shape, dtype=bool)
        for wi, w in enumerate(work):
            if has_residency(w):
                residency[wi] = [not w.admits(s) for s in sites]
        checks += [
            ("residency", residency),
            ("drained", np.broadcast_to(drained[None, :], code.shape)),
            ("down", np.broadcast_to(~up[None, :], code.shape)),
        ]
        for kind, failed in checks:
            code[failed] = CODE[kind]
        self.site_code = code
        self.relaxed: Table | None = None
        """Set by :func:`build_table` when its table sets whole nodes aside (see there)."""
        self._blocks: dict[int, tuple[IntArray, IntArray, IntArray, FloatArray, UInt8Array]] = {}

        # Penalties: (1 + priority) × unplaced price × least IT energy.
        self.unplaced_price = unplaced_price(problem, self.pue, prices, self.carbon)
        ref_kw = np.full(len(work), np.inf)
        for mi, (ws, ds) in enumerate(self.takers):
            if not ws.size:
                continue
            col = self.power[:, mi]
            site_kw = float(np.nanmin(col)) / 1000 if np.any(~np.isnan(col)) else np.nan
            kw = np.where(np.isnan(self.own_power[ws]), site_kw, self.own_power[ws] / 1000)
            kw = np.where(np.isnan(kw), DEFAULT_KW_PER_DEVICE, kw)
            np.minimum.at(ref_kw, ws, ds * kw)
        self.penalty = (1 + self.priority) * self.unplaced_price * ref_kw * self.duration

    def terms(self, wi: IntArray, si: IntArray, mi: IntArray, devices: IntArray) -> Terms:
        """Cost terms of pairs; the index arrays broadcast against each other."""
        kw = np.where(np.isnan(self.own_power[wi]), self.power[si, mi], self.own_power[wi]) / 1000
        facility_kw = devices * kw * self.pue[si]
        energy_kwh = facility_kw * self.duration[wi]
        carbon_kg = energy_kwh * self.carbon[si]
        cur = self.current[wi]
        staying = cur == si
        moving = (cur != -1) & ~staying
        transfer = np.where(
            staying, 0.0, self.data_gb[wi] * self.transfer_price[si, self.region[wi]]
        )
        return Terms(
            energy_kwh=energy_kwh,
            energy_cost=facility_kw * self.price_integral[si, wi],
            carbon_kg=carbon_kg,
            carbon_cost=carbon_kg * self.problem.carbon_yuan_per_kg,
            transfer=transfer,
            migration=np.where(moving, self.migration[wi], 0.0),
        )

    def model_block(
        self, mi: int, rows: IntArray | None = None
    ) -> tuple[IntArray, IntArray, IntArray, FloatArray, UInt8Array]:
        """Every pair of model ``mi``: (workloads, sites, devices, total cost, reason code).

        ``rows`` restricts to those workload indices. Costs and codes are (workloads × sites).
        Blocks are computed once and kept: they are the full price list the relaxation's
        pricing step checks the pruned table against.
        """
        block = self._blocks.get(mi)
        if block is None:
            block = self._blocks[mi] = self._block(mi)
        if rows is None:
            return block
        ws, ss, ds, total, code = block
        keep = np.flatnonzero(np.isin(ws, rows))
        return ws[keep], ss, ds[keep], total[keep], code[keep]

    def _block(self, mi: int) -> tuple[IntArray, IntArray, IntArray, FloatArray, UInt8Array]:
        ws, ds = self.takers[mi]
        ss = np.flatnonzero(~np.isnan(self.power[:, mi]))
        own = self.own_power[ws]
        kw = np.where(np.isnan(own)[:, None], self.power[ss, mi][None, :], own[:, None]) / 1000
        facility_kw = (ds[:, None] * self.pue[ss][None, :]) * kw
        total = facility_kw * self.price_integral[np.ix_(ss, ws)].T
        cprice = self.problem.carbon_yuan_per_kg
        if cprice:
            total += facility_kw * (self.duration[ws][:, None] * self.carbon[ss][None, :] * cprice)
        if np.any(self.data_gb[ws] > 0):
            total += self.data_gb[ws][:, None] * self.transfer_price[np.ix_(ss, self.region[ws])].T
        running = np.flatnonzero(self.current[ws] != -1)
        if running.size:
            # Running work: staying is free of transfer, moving costs its migration too.
            exact = self.terms(
                ws[running][:, None],
                ss[None, :],
                np.array([mi], dtype=np.int64),
                ds[running][:, None],
            )
            total[running] = exact.total
        code = self.site_code[np.ix_(ws, ss)]
        # Running work staying on devices it already holds needs no free ones.
        held = self.held_here(ws)[:, None] == ss[None, :]
        ok = (code == OK) & ~held
        code[ok & (self.free[ss, mi][None, :] < ds[:, None])] = CODE["capacity"]
        for j, si in enumerate(ss.tolist()):
            shape = self.problem.sites[si].shape.get(self.models[mi])
            if shape is not None:
                column = code[:, j]
                misfit = ~shape.fits_each(ds, self.one_domain[ws])
                column[(column == OK) & ~held[:, j] & misfit] = CODE["node-shape"]
        ok = code == OK
        code[ok & (total >= self.penalty[ws][:, None])] = CODE["not-worth-it"]
        return ws, ss, ds, total, code

    def held_here(self, wi: IntArray) -> IntArray:
        """The site whose devices each of these workloads already holds (−1: none): its
        current site when the problem counts running work as held (see
        :attr:`Problem.running_held`)."""
        if not self.problem.running_held:
            return np.full(wi.shape, -1, dtype=np.int64)
        held: IntArray = np.where(self.current[wi] >= 0, self.current[wi], -1)
        return held

    def pool_index(self) -> IntArray:
        """Pool number of each (site, model), −1 where the site has no such model."""
        index = np.full(self.power.shape, -1, dtype=np.int64)
        site, model = np.nonzero(~np.isnan(self.power))
        index[site, model] = np.arange(site.shape[0])
        return index


def has_residency(w: object) -> bool:
    """Whether a workload restricts where its data may go."""
    return any(getattr(w, name) for name in RESIDENCY_FIELDS)


@dataclass(frozen=True, slots=True)
class Table:
    """The usable pairs as flat arrays, grouped by workload (in no particular order within
    a workload).

    ``arc_*[start[w]:start[w + 1]]`` are workload ``w``'s options; ``pool_*`` describe each
    (site, model) pool. Every method works on this, whatever built it (a :class:`Problem`,
    or a generalized-assignment instance).

    ``pool_held`` (``None``: no such pool) gives, for each pool, the running workload whose
    own devices it is, −1 for the pools of free capacity: running work whose devices are
    held where it runs (:attr:`Problem.running_held`) stays there on a pool of its own, as
    large as it needs, that no other workload can use.
    """

    n_workloads: int
    pool_site: IntArray
    pool_model: IntArray
    pool_cap: IntArray
    arc_w: IntArray
    arc_pool: IntArray
    arc_dev: IntArray
    arc_cost: FloatArray
    start: IntArray
    penalty: FloatArray
    priority: IntArray
    must_place: bool = False  # every workload must be placed (penalties only bound)
    pool_held: IntArray | None = None

    @property
    def n_pools(self) -> int:
        return int(self.pool_cap.shape[0])

    @property
    def n_arcs(self) -> int:
        return int(self.arc_w.shape[0])

    def objective(self, choice: IntArray) -> float:
        """Cost of a choice (arc index per workload, −1 = unplaced), penalties included."""
        placed = choice >= 0
        return float(self.arc_cost[choice[placed]].sum() + self.penalty[~placed].sum())

    def usage(self, choice: IntArray) -> IntArray:
        """Devices each pool gives to a choice."""
        arcs = choice[choice >= 0]
        return np.bincount(
            self.arc_pool[arcs], weights=self.arc_dev[arcs], minlength=self.n_pools
        ).astype(np.int64)

    def fits(self, choice: IntArray) -> bool:
        """Whether a choice respects every pool's capacity."""
        return bool(np.all(self.usage(choice) <= self.pool_cap))


def from_arcs(
    *,
    n_workloads: int,
    pool_site: IntArray,
    pool_model: IntArray,
    pool_cap: IntArray,
    arc_w: IntArray,
    arc_pool: IntArray,
    arc_dev: IntArray,
    arc_cost: FloatArray,
    penalty: FloatArray,
    priority: IntArray | None = None,
    must_place: bool = False,
    pool_held: IntArray | None = None,
) -> Table:
    """A :class:`Table` from arcs in any order (grouped here by workload, stably: arcs
    arriving as a few runs sorted by workload, as :func:`build_table` makes them, merge in
    linear time)."""
    order = np.argsort(arc_w, kind="stable")
    counts = np.bincount(arc_w, minlength=n_workloads)
    start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return Table(
        n_workloads=n_workloads,
        pool_site=np.asarray(pool_site, dtype=np.int64),
        pool_model=np.asarray(pool_model, dtype=np.int64),
        pool_cap=np.asarray(pool_cap, dtype=np.int64),
        arc_w=np.asarray(arc_w, dtype=np.int64)[order],
        arc_pool=np.asarray(arc_pool, dtype=np.int64)[order],
        arc_dev=np.asarray(arc_dev, dtype=np.int64)[order],
        arc_cost=np.asarray(arc_cost, dtype=np.float64)[order],
        start=start,
        penalty=np.asarray(penalty, dtype=np.float64),
        priority=(np.zeros(n_workloads, dtype=np.int64) if priority is None else priority),
        must_place=must_place,
        pool_held=None if pool_held is None else np.asarray(pool_held, dtype=np.int64),
    )


def build_table(
    problem: Problem,
    ctx: Context | None = None,
) -> tuple[Table, Context]:
    """Every usable pair of ``problem``, priced, grouped by workload.

    A (site, model) counted in devices is one pool. A shaped one (:attr:`Site.shape`) is cut
    into node pools (:func:`solver.capacity.node_pools`): a workload's pair becomes one arc
    per node that could hold it, or one arc to the whole nodes set aside for work larger
    than a node, using their devices whole. When that setting aside may keep small work off
    whole nodes it could have used, ``ctx.relaxed`` is the same table with the whole nodes
    counted for both, whose relaxation bounds the problem itself.

    Running work whose devices are held where it runs (:attr:`Problem.running_held`) stays
    there on a pool of its own (see :attr:`Table.pool_held`), after the others: it takes
    none of the free devices or nodes.
    """
    ctx = ctx or Context(problem)
    index = ctx.pool_index()
    group_site, group_model = np.nonzero(index >= 0)
    parts: list[tuple[IntArray, IntArray, IntArray, FloatArray]] = []
    for mi in range(len(ctx.models)):
        if not ctx.takers[mi][0].size or not np.any(index[:, mi] >= 0):
            continue
        ws, ss, ds, total, code = ctx.model_block(mi)
        i, j = np.nonzero(code == OK)
        parts.append((ws[i], index[ss[j], mi], ds[i], total[i, j]))
    if parts:
        arc_w, arc_group, arc_dev, arc_cost = (
            np.concatenate(col) for col in zip(*parts, strict=True)
        )
    else:
        arc_w = arc_group = arc_dev = np.zeros(0, dtype=np.int64)
        arc_cost = np.zeros(0, dtype=np.float64)
    staying = ctx.held_here(arc_w) == group_site[arc_group]
    held = _Arcs(arc_w[staying], arc_group[staying], arc_dev[staying], arc_cost[staying])
    arc_w, arc_group, arc_dev, arc_cost = (
        arc_w[~staying],
        arc_group[~staying],
        arc_dev[~staying],
        arc_cost[~staying],
    )
    shapes = [
        ctx.problem.sites[int(si)].shape.get(ctx.models[int(mi)])
        for si, mi in zip(group_site.tolist(), group_model.tolist(), strict=True)
    ]
    ctx.relaxed = None
    if not any(shapes):
        table = from_arcs(
            n_workloads=len(problem.workloads),
            pool_site=group_site,
            pool_model=group_model,
            pool_cap=ctx.free[group_site, group_model],
            arc_w=arc_w,
            arc_pool=arc_group,
            arc_dev=arc_dev,
            arc_cost=arc_cost,
            penalty=ctx.penalty,
            priority=ctx.priority,
        )
        return _with_held(table, held, group_site, group_model), ctx
    arcs = _Arcs(arc_w, arc_group, arc_dev, arc_cost)
    table, competing = _node_table(ctx, arcs, group_site, group_model, shapes, set_aside=True)
    table = _with_held(table, held, group_site, group_model)
    if competing:
        loose, _ = _node_table(ctx, arcs, group_site, group_model, shapes, set_aside=False)
        ctx.relaxed = _with_held(loose, held, group_site, group_model)
    return table, ctx


def _with_held(table: Table, held: _Arcs, group_site: IntArray, group_model: IntArray) -> Table:
    """``table`` with a pool of its own for each arc of running work staying on the devices
    it holds (as large as the arc needs), after the other pools."""
    if not held.w.size:
        return table
    n_held = held.w.shape[0]
    first = table.n_pools
    cat = np.concatenate
    return from_arcs(
        n_workloads=table.n_workloads,
        pool_site=cat((table.pool_site, group_site[held.group])),
        pool_model=cat((table.pool_model, group_model[held.group])),
        pool_cap=cat((table.pool_cap, held.dev)),
        arc_w=cat((table.arc_w, held.w)),
        arc_pool=cat((table.arc_pool, first + np.arange(n_held, dtype=np.int64))),
        arc_dev=cat((table.arc_dev, held.dev)),
        arc_cost=cat((table.arc_cost, held.cost)),
        penalty=table.penalty,
        priority=table.priority,
        must_place=table.must_place,
        pool_held=cat((np.full(first, -1, dtype=np.int64), held.w)),
    )


def _fitting_arcs(
    arcs: _Arcs, mine: IntArray, which: IntArray, dev: IntArray, caps: IntArray, first: int
) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """Arcs from the pairs ``mine[which]``, using ``dev`` devices each, to every pool of
    ``caps`` (ascending, numbered from ``first``) that holds them."""
    fit_from = np.searchsorted(caps, dev, side="left")
    count = caps.shape[0] - fit_from
    rep = np.repeat(which, count)
    offset = np.arange(rep.shape[0]) - np.repeat(np.cumsum(count) - count, count)
    pool = first + np.repeat(fit_from, count) + offset
    return arcs.w[mine[rep]], pool, np.repeat(dev, count), arcs.cost[mine[rep]]


@dataclass(frozen=True, slots=True)
class _Arcs:
    """Usable pairs by (site, model) group, before a shaped group is cut into nodes."""

    w: IntArray
    group: IntArray
    dev: IntArray
    cost: FloatArray


def _node_table(
    ctx: Context,
    arcs: _Arcs,
    group_site: IntArray,
    group_model: IntArray,
    shapes: list[NodeShape | None],
    *,
    set_aside: bool,
) -> tuple[Table, bool]:
    """The table with every shaped group cut into node pools, and whether setting whole
    nodes aside for large work may have kept small work off them."""
    order = np.argsort(arcs.group, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(arcs.group, minlength=len(shapes)))))
    pool_site: list[IntArray] = []
    pool_model: list[IntArray] = []
    pool_cap: list[IntArray] = []
    out: list[tuple[IntArray, IntArray, IntArray, FloatArray]] = []
    competing = False
    first = 0
    for g, shape in enumerate(shapes):
        mine = order[bounds[g] : bounds[g + 1]]
        if shape is None:
            caps = ctx.free[group_site[g : g + 1], group_model[g : g + 1]]
            out.append(
                (arcs.w[mine], np.full(mine.shape[0], first), arcs.dev[mine], arcs.cost[mine])
            )
        else:
            sizes = arcs.dev[mine]
            asks = ctx.one_domain[arcs.w[mine]]
            pools = node_pools(shape, sizes, asks, set_aside=set_aside)
            caps = pools.caps
            # One arc per node that could hold the work (nodes are in ascending size).
            small = np.flatnonzero(sizes <= shape.node_size)
            out.append(_fitting_arcs(arcs, mine, small, sizes[small], caps[: pools.nodes], first))
            whole_nodes = np.ceil(sizes / shape.node_size).astype(np.int64)
            big = sizes > shape.node_size
            in_domain = big & asks if pools.domains else np.zeros(sizes.shape, dtype=bool)
            # One arc per domain that could hold the work's whole nodes.
            out.append(
                _fitting_arcs(
                    arcs,
                    mine,
                    np.flatnonzero(in_domain),
                    whole_nodes[in_domain] * shape.node_size,
                    caps[pools.nodes : pools.nodes + pools.domains],
                    first + pools.nodes,
                )
            )
            plain = np.flatnonzero(big & ~in_domain)
            if pools.gang:
                out.append(
                    (
                        arcs.w[mine[plain]],
                        np.full(plain.shape[0], first + caps.shape[0] - 1),
                        whole_nodes[plain] * shape.node_size,
                        arcs.cost[mine[plain]],
                    )
                )
            competing = competing or (
                set_aside and (pools.domains > 0 or (pools.gang and bool(small.size)))
            )
        pool_site.append(np.full(caps.shape[0], group_site[g]))
        pool_model.append(np.full(caps.shape[0], group_model[g]))
        pool_cap.append(caps)
        first += caps.shape[0]
    cat = np.concatenate
    table = from_arcs(
        n_workloads=len(ctx.problem.workloads),
        pool_site=cat(pool_site),
        pool_model=cat(pool_model),
        pool_cap=cat(pool_cap),
        arc_w=cat([o[0] for o in out]),
        arc_pool=cat([o[1] for o in out]),
        arc_dev=cat([o[2] for o in out]),
        arc_cost=cat([o[3] for o in out]),
        penalty=ctx.penalty,
        priority=ctx.priority,
    )
    return table, competing
