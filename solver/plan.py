"""Assemble a :class:`Plan` from the pairs a method chose."""

from __future__ import annotations

from collections.abc import Mapping

from solver.costs import CostTable, PairCost, explain_assignment, explain_unplaced
from solver.model import Assignment, Plan, Unplaced


def plan_objective(chosen: Mapping[int, PairCost]) -> float:
    """Energy cost (元) of the chosen pairs."""
    return sum(p.energy_cost_yuan for p in chosen.values())


def placed_weight(table: CostTable, chosen: Mapping[int, PairCost]) -> int:
    """Priority-weighted count of the placed workloads (each weighs 1 + priority)."""
    return sum(table.weights[wi] for wi in chosen)


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
    objective = plan_objective(chosen)
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
        placed_weight=placed_weight(table, chosen),
    )
