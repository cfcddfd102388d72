"""Solve a :class:`Problem` and turn the chosen arcs into a :class:`Plan` with explanations.

An explanation gives a workload's cost breakdown at its site and, for every site that would
have been cheaper, the reason it did not get it (one of :data:`~solver.model.REASON_KINDS`).
Reasons are checked against the plan itself: "taken" and "displaced-by-priority" are only
given when the cheaper pool has too few devices left in this plan.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from solver.arrays import EPS, IntArray
from solver.model import (
    REASON_KINDS,
    SITE_REASON_KINDS,
    Alternative,
    Assignment,
    Plan,
    Problem,
    Unplaced,
    explanation,
    reason_detail,
    ruled_out,
    unoffered_reason,
)
from solver.pipeline import Outcome, SolverConfig, optimize, relative_gap
from solver.relax import relax
from solver.shaped import (
    COUNTED_SHARE,
    NODE_TABLE_MAX_PAIRS,
    counted,
    laid_on_nodes,
    node_pairs,
    split,
)
from solver.table import OK, Context, Table, build_table

MIN_REST_S = 0.05
"""Least time the work left over by a counted plan gets, however late it is."""


def solve(problem: Problem, config: SolverConfig | None = None) -> Plan:
    """The least-cost plan the time limit allows, with its proven bound."""
    started = time.perf_counter()
    config = config or SolverConfig()
    explain = len(problem.workloads) <= config.explain_max_workloads
    if any(s.shape for s in problem.sites):
        return _solve_shaped(problem, config, started, explain=explain)
    table, ctx = build_table(problem)
    outcome = optimize(table, config, current=_current(ctx), started=started)
    return assemble_plan(ctx, outcome, wall_s=time.perf_counter() - started, explain=explain)


def _current(ctx: Context) -> IntArray:
    current: IntArray = np.where(ctx.current >= 0, ctx.current, -1)
    return current


def _solve_shaped(problem: Problem, config: SolverConfig, started: float, *, explain: bool) -> Plan:
    """A shaped problem, in devices first (see :mod:`solver.shaped`)."""
    ctx = Context(problem)
    table, _ = build_table(counted(problem))
    first = optimize(
        table,
        replace(config, time_limit_s=COUNTED_SHARE * config.time_limit_s),
        current=_current(ctx),
        started=started,
    )
    parts = split(problem, ctx, table, first.choice)
    if not parts.rest.size or not np.any(first.choice[parts.rest] >= 0):
        # It fits the nodes; explained against the shapes (the same groups and pairs).
        return assemble_plan(ctx, first, wall_s=time.perf_counter() - started, explain=explain)
    if not parts.kept.size or node_pairs(problem, ctx, table) <= NODE_TABLE_MAX_PAIRS:
        # (With nothing kept, splitting again would not get smaller.)
        nodes, ctx = build_table(problem, ctx)
        hint = laid_on_nodes(table, first.choice, nodes)
        outcome = optimize(nodes, config, current=_current(ctx), started=started, hint=hint)
        # The node table's bound holds for the problem only when it set no whole nodes
        # aside that small work could have used; else the relaxation that counts those
        # nodes for both does. The counted bound always holds: the better of the two.
        bound = outcome.bound
        if ctx.relaxed is not None:
            bound = min(bound, relax(ctx.relaxed).bound)
        bound = min(max(first.bound, bound), outcome.objective)
        optimal = relative_gap(outcome.objective, bound) <= config.relative_gap_limit
        outcome = replace(outcome, bound=bound, optimal=optimal)
        return assemble_plan(ctx, outcome, wall_s=time.perf_counter() - started, explain=explain)
    # Too large to solve on nodes whole: keep what fits, place the rest on what is left.
    kept = assemble_plan(ctx, first, wall_s=0.0, explain=explain)
    rest = replace(
        problem,
        sites=parts.sites,
        workloads=tuple(problem.workloads[i] for i in parts.rest.tolist()),
        unplaced_yuan_per_kwh=ctx.unplaced_price,  # the penalties stay what they were
    )
    left = max(MIN_REST_S, config.time_limit_s - (time.perf_counter() - started))
    again = _solve_shaped(
        rest, replace(config, time_limit_s=left), time.perf_counter(), explain=explain
    )
    ids = {problem.workloads[i].id for i in parts.kept.tolist()}
    assignments = tuple(a for a in kept.assignments if a.workload_id in ids)
    assignments += again.assignments
    # Every workload the counted plan left out is in ``rest``: placed again or left out.
    objective = sum(a.cost_yuan for a in assignments) + again.penalty_yuan
    unplaced = again.unplaced
    bound = min(first.bound, objective)
    gap = relative_gap(objective, bound)
    return Plan(
        assignments=assignments,
        unplaced=unplaced,
        objective=objective,
        bound=bound,
        gap=gap,
        status="OPTIMAL" if gap <= config.relative_gap_limit else "FEASIBLE",
        wall_s=time.perf_counter() - started,
        method=f"{first.method}+nodes",
    )


def assemble_plan(ctx: Context, outcome: Outcome, *, wall_s: float, explain: bool = True) -> Plan:
    """A plan from a choice: priced assignments, unplaced work, objective, bound and gap."""
    problem = ctx.problem
    table = outcome.table
    choice = outcome.choice
    placed = np.flatnonzero(choice >= 0)
    arcs = choice[placed]
    si = table.pool_site[table.arc_pool[arcs]]
    mi = table.pool_model[table.arc_pool[arcs]]
    # A workload on whole nodes uses their devices whole; it runs (and is priced) on its own.
    devices = np.array(
        [problem.workloads[w].demands[ctx.models[m]] for w, m in zip(placed, mi, strict=True)],
        dtype=np.int64,
    )
    terms = ctx.terms(placed, si, mi, devices)
    totals = terms.total
    notes = _Explainer(table, ctx, choice) if explain else None
    assignments = []
    for k, w in enumerate(placed.tolist()):
        wl, site = problem.workloads[w], problem.sites[int(si[k])]
        alternatives, text = notes.assignment(w, int(arcs[k])) if notes else ((), "")
        latency = site.latency_ms.get(wl.origin_region)
        assignments.append(
            Assignment(
                workload_id=wl.id,
                site_id=site.id,
                model=ctx.models[int(mi[k])],
                devices=int(devices[k]),
                energy_kwh=float(terms.energy_kwh[k]),
                energy_cost_yuan=float(terms.energy_cost[k]),
                transfer_cost_yuan=float(terms.transfer[k]),
                migration_cost_yuan=float(terms.migration[k]),
                carbon_cost_yuan=float(terms.carbon_cost[k]),
                cost_per_hour_yuan=float(totals[k]) / wl.duration_h,
                carbon_kg=float(terms.carbon_kg[k]),
                latency_ms=latency,
                moved=wl.current_site is not None and wl.current_site != site.id,
                explanation=text,
                alternatives=alternatives,
            )
        )
    unplaced = tuple(
        Unplaced(
            workload_id=problem.workloads[w].id,
            reason=notes.unplaced(w) if notes else "",
            penalty_yuan=float(table.penalty[w]),
        )
        for w in np.flatnonzero(choice < 0).tolist()
    )
    objective = table.objective(choice)
    bound = min(outcome.bound, objective)
    return Plan(
        assignments=tuple(assignments),
        unplaced=unplaced,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        status="OPTIMAL" if outcome.optimal else "FEASIBLE",
        wall_s=wall_s,
        method=outcome.method,
    )


class _Explainer:
    """Per-(site, model) prices and reasons for the workloads of one plan.

    A site whose model is cut into node pools is one group here, as it is to its users.
    """

    def __init__(self, table: Table, ctx: Context, choice: IntArray) -> None:
        self.table, self.ctx, self.choice = table, ctx, choice
        index = ctx.pool_index()
        self.group_site, self.group_model = np.nonzero(index >= 0)
        n_g = self.group_site.shape[0]
        self.group_of_pool = index[table.pool_site, table.pool_model]
        room = table.pool_cap - table.usage(choice)
        if table.pool_held is not None:  # a running workload's own devices are no room
            room[table.pool_held >= 0] = 0
        self.room = np.zeros(n_g, dtype=np.int64)
        np.maximum.at(self.room, self.group_of_pool, room)
        placed = choice >= 0
        group_of = np.full(table.n_workloads, -1, dtype=np.int64)
        group_of[placed] = self.group_of_pool[table.arc_pool[choice[placed]]]
        # Highest priority placed on each (site, model) in this plan.
        self.top_priority = np.full(n_g, -1, dtype=np.int64)
        np.maximum.at(self.top_priority, group_of[placed], table.priority[placed])
        n_w = table.n_workloads
        # Cost and reason code of every (workload, group); NaN cost: model not wanted.
        self.cost = np.full((n_w, n_g), np.nan)
        self.code = np.full((n_w, n_g), OK, dtype=np.uint8)
        for m in range(len(ctx.models)):
            if not ctx.takers[m][0].size or not np.any(index[:, m] >= 0):
                continue
            ws, ss, _, total, code = ctx.model_block(m)
            cols = index[ss, m]
            self.cost[np.ix_(ws, cols)] = total
            self.code[np.ix_(ws, cols)] = code
        self.has_model = ~np.isnan(self.cost)
        self.offered = {m for site in ctx.problem.sites for m in site.power_w}

    def _why(self, w: int, group: int) -> tuple[str, str]:
        ctx, code = self.ctx, int(self.code[w, group])
        wl = ctx.problem.workloads[w]
        site = ctx.problem.sites[int(self.group_site[group])]
        model = ctx.models[int(self.group_model[group])]
        if code != OK:
            kind = REASON_KINDS[code]
            room = site.free.get(model, 0)
        else:
            higher = self.top_priority[group] > wl.priority
            kind = "displaced-by-priority" if higher else "taken"
            room = int(self.room[group])
        return kind, reason_detail(ctx.problem, kind, site, wl, model, room)

    def _reasons(self, w: int, groups: IntArray) -> list[tuple[str, str, str]]:
        """``(site_id, kind, reason)`` for each of ``groups``, cheapest first."""
        order = groups[np.argsort(self.cost[w, groups], kind="stable")]
        sites = self.ctx.problem.sites
        return [(sites[int(self.group_site[g])].id, *self._why(w, g)) for g in order.tolist()]

    def assignment(self, w: int, arc: int) -> tuple[tuple[Alternative, ...], str]:
        ctx = self.ctx
        here = int(self.group_of_pool[self.table.arc_pool[arc]])
        site_here = int(self.group_site[here])
        mine = float(self.table.arc_cost[arc])
        costs = np.where(self.has_model[w], self.cost[w], np.inf)
        cheaper = np.flatnonzero(costs < mine - EPS * max(1.0, mine))
        cheaper = cheaper[self.group_site[cheaper] != site_here]
        cheaper = cheaper[np.argsort(costs[cheaper], kind="stable")]
        alts = []
        for group in cheaper.tolist():
            kind, detail = self._why(w, group)
            alts.append(
                Alternative(
                    site_id=ctx.problem.sites[int(self.group_site[group])].id,
                    model=ctx.models[int(self.group_model[group])],
                    cost_yuan=float(costs[group]),
                    reason_kind=kind,
                    reason=detail,
                )
            )
        return tuple(alts), explanation(alts)

    def unplaced(self, w: int) -> str:
        ctx = self.ctx
        if not ctx.problem.sites:
            return "no site is up"
        table = self.table
        s, e = int(table.start[w]), int(table.start[w + 1])
        if e > s:
            groups = np.unique(self.group_of_pool[table.arc_pool[s:e]])
            taken = self._reasons(w, groups)
            room = ruled_out([(site, why) for site, _, why in taken], limit=4)
            return f"no room left where it can run: {room}"
        wl = ctx.problem.workloads[w]
        unoffered = unoffered_reason(wl, self.offered)
        if unoffered is not None:
            return unoffered
        kinds = self._reasons(w, np.flatnonzero(self.has_model[w]))
        reasons = [(site, why) for site, _, why in kinds]
        # A site out for every model is not also said to lack one.
        named = {site for site, kind, _ in kinds if kind in SITE_REASON_KINDS}
        for m, model in enumerate(ctx.models):
            if model in wl.demands:
                have = set(self.group_site[self.group_model == m].tolist())
                reasons += [
                    (site.id, f"no {model}")
                    for i, site in enumerate(ctx.problem.sites)
                    if i not in have and site.id not in named
                ]
        for model in sorted(set(wl.demands) - set(ctx.models)):
            reasons += [(s.id, f"no {model}") for s in ctx.problem.sites if s.id not in named]
        return f"no feasible site: {ruled_out(reasons, limit=4)}"
