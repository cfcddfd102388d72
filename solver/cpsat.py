"""Exact placement with CP-SAT, in two lexicographic stages.

Formulation (``P`` = feasible (workload, site, model) pairs after pruning)::

    x[p] ∈ {0, 1}                           workload w(p) runs on site s(p) with model m(p)
    Σ_{p ∈ P(w)} x[p] ≤ 1                   ∀ w      a workload runs whole on one pool, or not
    Σ_{p ∈ P(s, m)} d[p] · x[p] ≤ F[s, m]   ∀ s, m   devices used fit the free capacity

    stage 1:  W* = max Σ_p ω[w(p)] · x[p]            most priority-weighted work placed
    stage 2:  min Σ_p c[p] · x[p]  s.t.  Σ_p ω[w(p)] · x[p] ≥ W*

``ω[w]`` = 1 + priority, ``c`` the PUE-adjusted energy cost over the run (see
:mod:`solver.costs`); latency SLO, PUE caps and accelerator types are enforced by pruning pairs.
Stage 2's costs are scaled to integers by ``COST_SCALE``; its proven bound, widened by the
rounding, is the plan's ``bound``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ortools.sat.python import cp_model

from solver.baselines import greedy_choice
from solver.costs import CostTable, PairCost, build_cost_table
from solver.errors import InvalidProblemError
from solver.model import Plan, Problem
from solver.plan import assemble_plan, placed_weight

log = logging.getLogger(__name__)

COST_SCALE = 10_000
"""CP-SAT objective units per 元 (a resolution of 0.0001 元)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SolverConfig:
    """Limits for one solve; always passed in, never read from the environment.

    ``time_limit_s`` covers both stages; ``relative_gap_limit`` applies to the energy cost.
    """

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


def solve(problem: Problem, config: SolverConfig | None = None) -> Plan:
    """Place as much priority-weighted work as fits, at the least energy cost."""
    started = time.perf_counter()
    config = config or SolverConfig()
    table = build_cost_table(problem)
    if not table.pairs:
        wall = time.perf_counter() - started
        return assemble_plan(table, {}, bound=0.0, status="OPTIMAL", wall_s=wall, method="cp-sat")
    return _solve_table(table, config, started)


class _Model:
    """The shared variables and constraints of both stages."""

    def __init__(self, table: CostTable) -> None:
        self.table = table
        self.model = cp_model.CpModel()
        # Variables: one boolean per feasible pair.
        self.x = [self.model.new_bool_var(f"x{i}") for i in range(len(table.pairs))]
        by_workload: dict[int, list[int]] = {}
        by_pool: dict[tuple[int, str], list[int]] = {}
        for i, p in enumerate(table.pairs):
            by_workload.setdefault(p.workload_index, []).append(i)
            by_pool.setdefault((p.site_index, p.model), []).append(i)
        # Each workload runs whole on at most one pool.
        for idx in by_workload.values():
            self.model.add_at_most_one(self.x[i] for i in idx)
        # Devices placed on a pool fit its free capacity.
        sites = table.problem.sites
        for (si, m), idx in by_pool.items():
            self.model.add(
                sum(table.pairs[i].devices * self.x[i] for i in idx) <= sites[si].free[m]
            )
        self.weight = sum(
            table.weights[p.workload_index] * xi for p, xi in zip(table.pairs, self.x, strict=True)
        )
        self.cost = sum(
            round(p.energy_cost_yuan * COST_SCALE) * xi
            for p, xi in zip(table.pairs, self.x, strict=True)
        )

    def hint(self, chosen: dict[int, PairCost]) -> None:
        picked = {id(p) for p in chosen.values()}
        self.model.clear_hints()  # type: ignore[no-untyped-call]
        for p, xi in zip(self.table.pairs, self.x, strict=True):
            self.model.add_hint(xi, id(p) in picked)

    def run(self, time_limit_s: float, config: SolverConfig) -> tuple[cp_model.CpSolver, Any]:
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(time_limit_s, 0.05)
        solver.parameters.num_workers = config.num_workers
        solver.parameters.relative_gap_limit = config.relative_gap_limit
        return solver, solver.solve(self.model)

    def chosen(self, solver: cp_model.CpSolver) -> dict[int, PairCost]:
        return {
            p.workload_index: p
            for p, xi in zip(self.table.pairs, self.x, strict=True)
            if solver.value(xi)
        }


def _solve_table(table: CostTable, config: SolverConfig, started: float) -> Plan:
    problem = table.problem
    greedy = greedy_choice(table, lambda p: (p.energy_cost_yuan,))
    m = _Model(table)

    # Stage 1: the most priority-weighted work that fits.
    m.model.maximize(m.weight)
    m.hint(greedy)
    solver, status = m.run(config.time_limit_s / 2, config)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        log.warning("CP-SAT stage 1 found no plan (%s); using greedy", solver.status_name(status))
        wall = time.perf_counter() - started
        return assemble_plan(
            table, greedy, bound=0.0, status="FEASIBLE", wall_s=wall, method="greedy"
        )
    level_proven = status == cp_model.OPTIMAL
    first = m.chosen(solver)
    level = placed_weight(table, first)

    # Stage 2: the cheapest plan placing that much weight.
    m.model.add(m.weight >= level)
    m.model.minimize(m.cost)
    m.hint(first)
    remaining = config.time_limit_s - (time.perf_counter() - started)
    solver, status = m.run(remaining, config)
    wall = time.perf_counter() - started
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return assemble_plan(
            table, first, bound=0.0, status="FEASIBLE", wall_s=wall, method="cp-sat"
        )
    # Rounding each cost to the integer grid moves the optimum by at most half a unit per
    # workload; widen the proven bound by that much so it stays a true bound.
    slack = 0.5 * len(problem.workloads) / COST_SCALE
    bound = solver.best_objective_bound / COST_SCALE - slack
    optimal = status == cp_model.OPTIMAL and level_proven
    return assemble_plan(
        table,
        m.chosen(solver),
        bound=max(bound, 0.0),
        status="OPTIMAL" if optimal else "FEASIBLE",
        wall_s=wall,
        method="cp-sat",
    )
