"""Exact placement with CP-SAT.

Formulation (``P`` = feasible (workload, site, model) pairs after pruning)::

    x[p] ∈ {0, 1}                      workload w(p) runs on site s(p) with model m(p)
    Σ_{p ∈ P(w)} x[p] ≤ 1              ∀ w          a workload runs whole on one pool, or not
    Σ_{p ∈ P(s, m)} d[p] · x[p] ≤ F[s, m]   ∀ s, m  devices used fit the free capacity
    min Σ_p c[p] · x[p] + Σ_w π[w] · (1 − Σ_{p ∈ P(w)} x[p])

``c`` is the PUE-adjusted energy cost over the run (see :mod:`solver.costs`), ``π`` the
priority-weighted penalty for leaving a workload out; latency SLO, PUE caps and accelerator
types are enforced by pruning pairs. Costs are scaled to integers by ``COST_SCALE``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from ortools.sat.python import cp_model

from solver.baselines import greedy_choice
from solver.costs import CostTable, PairCost, build_cost_table
from solver.errors import InvalidProblemError
from solver.model import Plan, Problem
from solver.plan import assemble_plan, plan_objective

COST_SCALE = 10_000
"""CP-SAT objective units per 元 (a resolution of 0.0001 元)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SolverConfig:
    """Limits for one solve; always passed in, never read from the environment."""

    time_limit_s: float = 10.0
    num_workers: int = 2
    relative_gap_limit: float = 1e-4

    def __post_init__(self) -> None:
        if not self.time_limit_s > 0:
            raise InvalidProblemError("time_limit_s", "must be > 0")
        if self.num_workers < 1:
            raise InvalidProblemError("num_workers", "must be >= 1")
        if not 0 <= self.relative_gap_limit < 1:
            raise InvalidProblemError("relative_gap_limit", "must be in [0, 1)")


def solve(
    problem: Problem,
    config: SolverConfig | None = None,
    *,
    hint: Mapping[str, tuple[str, str]] | None = None,
) -> Plan:
    """Place ``problem``'s workloads at least cost; ``hint`` maps workload id → (site, model)."""
    started = time.perf_counter()
    config = config or SolverConfig()
    table = build_cost_table(problem)
    if not table.pairs:
        return assemble_plan(
            table,
            {},
            bound=plan_objective(table, {}),
            status="OPTIMAL",
            wall_s=time.perf_counter() - started,
            method="cp-sat",
        )
    return _solve_table(table, config, hint or {}, started)


def _solve_table(
    table: CostTable,
    config: SolverConfig,
    hint: Mapping[str, tuple[str, str]],
    started: float,
) -> Plan:
    problem = table.problem
    model = cp_model.CpModel()

    # Variables: one boolean per feasible pair.
    x = [model.new_bool_var(f"x{i}") for i in range(len(table.pairs))]
    pairs_of_workload: dict[int, list[int]] = {}
    pairs_of_pool: dict[tuple[int, str], list[int]] = {}
    for i, p in enumerate(table.pairs):
        pairs_of_workload.setdefault(p.workload_index, []).append(i)
        pairs_of_pool.setdefault((p.site_index, p.model), []).append(i)

    # Each workload runs whole on at most one pool.
    for idx in pairs_of_workload.values():
        model.add_at_most_one(x[i] for i in idx)

    # Devices placed on a pool fit its free capacity.
    for (si, m), idx in pairs_of_pool.items():
        model.add(sum(table.pairs[i].devices * x[i] for i in idx) <= problem.sites[si].free[m])

    # Objective: energy cost of placed work + penalty of work left out. The constant part
    # (every penalty) is added back when reporting, so CP-SAT sees c[p] − π[w] per pair.
    scaled = [
        round(p.energy_cost_yuan * COST_SCALE)
        - round(table.penalties[p.workload_index] * COST_SCALE)
        for p in table.pairs
    ]
    model.minimize(sum(c * xi for c, xi in zip(scaled, x, strict=True)))
    constant = sum(round(pen * COST_SCALE) for pen in table.penalties)

    # Hints: the caller's plan where given, else the cheapest-first greedy plan.
    start = (
        _hint_choice(table, hint) if hint else greedy_choice(table, lambda p: (p.energy_cost_yuan,))
    )
    hinted = {id(p) for p in start.values()}
    for i, p in enumerate(table.pairs):
        model.add_hint(x[i], id(p) in hinted)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = config.time_limit_s
    solver.parameters.num_workers = config.num_workers
    solver.parameters.relative_gap_limit = config.relative_gap_limit
    status = solver.solve(model)
    wall = time.perf_counter() - started

    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen = {
            table.pairs[i].workload_index: table.pairs[i]
            for i in range(len(x))
            if solver.value(x[i])
        }
        # Rounding each cost to the integer grid moves the optimum by at most half a unit
        # per workload; widen the proven bound by that much so it stays a true bound.
        slack = 0.5 * len(problem.workloads) / COST_SCALE
        bound = (solver.best_objective_bound + constant) / COST_SCALE - slack
        return assemble_plan(
            table,
            chosen,
            bound=max(bound, 0.0),
            status=solver.status_name(status),
            wall_s=wall,
            method="cp-sat",
        )
    # No solution within the limit (the hint was rejected): keep the greedy plan, say so.
    return assemble_plan(table, start, bound=0.0, status="FEASIBLE", wall_s=wall, method="greedy")


def _hint_choice(table: CostTable, hint: Mapping[str, tuple[str, str]]) -> dict[int, PairCost]:
    ids = {w.id: wi for wi, w in enumerate(table.problem.workloads)}
    sites = table.problem.sites
    chosen: dict[int, PairCost] = {}
    for p in table.pairs:
        w_id = table.problem.workloads[p.workload_index].id
        if hint.get(w_id) == (sites[p.site_index].id, p.model) and w_id in ids:
            chosen[p.workload_index] = p
    return chosen
