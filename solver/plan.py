"""Assemble a :class:`Plan` from the pairs a method chose."""

from __future__ import annotations

from collections.abc import Mapping

from solver.costs import CostTable, PairCost, explain_assignment, explain_unplaced
from solver.model import Assignment, Plan, Unplaced


def plan_objective(table: CostTable, chosen: Mapping[int, PairCost]) -> float:
    """Energy cost of the chosen pairs plus the penalty of every workload left out."""
    placed = sum(p.energy_cost_yuan for p in chosen.values())
    missing = sum(pen for wi, pen in enumerate(table.penalties) if wi not in chosen)
    return placed + missing


def assemble_plan(
    table: CostTable,
    chosen: Mapping[int, PairCost],
    *,
    bound: float,
    status: str,
    wall_s: float,
    method: str,
) -> Plan:
    """A plan with per-workload explanations; ``gap`` follows from objective and bound."""
    sites = table.problem.sites
    workloads = table.problem.workloads
    assignments = tuple(
        Assignment(
            workload_id=workloads[wi].id,
            site_id=sites[p.site_index].id,
            model=p.model,
            devices=p.devices,
            energy_kwh=p.energy_kwh,
            energy_cost_yuan=p.energy_cost_yuan,
            cost_per_hour_yuan=p.cost_per_hour_yuan,
            carbon_kg=p.carbon_kg,
            latency_ms=p.latency_ms,
            explanation=explain_assignment(table, p),
        )
        for wi, p in sorted(chosen.items())
    )
    unplaced = tuple(
        Unplaced(workload_id=w.id, reason=explain_unplaced(table, wi))
        for wi, w in enumerate(workloads)
        if wi not in chosen
    )
    objective = plan_objective(table, chosen)
    bound = min(bound, objective)
    gap = (objective - bound) / objective if objective > 0 else 0.0
    return Plan(
        assignments=assignments,
        unplaced=unplaced,
        objective=objective,
        bound=bound,
        gap=gap,
        status=status,
        wall_s=wall_s,
        method=method,
    )
