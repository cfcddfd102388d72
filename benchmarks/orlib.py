"""Generalized assignment instances (OR-Library format) as solver tables.

Agents are sites, items are workloads; an item's resource need depends on the agent it lands
on (a heterogeneous accelerator pool: each agent is its own pool). Every item must be
assigned: its penalty for being left out exceeds any plan's whole cost, so the optimizer
leaves nothing out when a full assignment exists. Parsing takes text: reading files is the
caller's business.

Only the benchmarks and the tests read these instances, never the router: they live here,
outside the solver package, where both can import them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.arrays import IntArray
from solver.errors import InvalidProblemError
from solver.table import Table, from_arcs


@dataclass(frozen=True, slots=True)
class GapInstance:
    """``cost[i][j]`` and ``weight[i][j]`` of item ``j`` on agent ``i``; ``capacity[i]``."""

    cost: IntArray
    weight: IntArray
    capacity: IntArray

    @property
    def agents(self) -> int:
        return int(self.capacity.shape[0])

    @property
    def items(self) -> int:
        return int(self.cost.shape[1])


def parse_orlib(text: str) -> GapInstance:
    """``m n``, then the m×n costs, the m×n weights and the m capacities."""
    try:
        numbers = np.array(text.split(), dtype=np.int64)
    except ValueError as exc:
        raise InvalidProblemError("instance", f"not all integers: {exc}") from exc
    if numbers.shape[0] < 2:
        raise InvalidProblemError("instance", "needs 'agents items' first")
    m, n = int(numbers[0]), int(numbers[1])
    if m < 1 or n < 1:
        raise InvalidProblemError("instance", f"agents and items must be >= 1, got {m} {n}")
    want = 2 + 2 * m * n + m
    if numbers.shape[0] != want:
        raise InvalidProblemError(
            "instance", f"{m} agents × {n} items need {want} numbers, got {numbers.shape[0]}"
        )
    body = numbers[2:]
    cost = body[: m * n].reshape(m, n)
    weight = body[m * n : 2 * m * n].reshape(m, n)
    capacity = body[2 * m * n :]
    if np.any(weight < 0) or np.any(capacity < 0):
        raise InvalidProblemError("instance", "weights and capacities must be >= 0")
    return GapInstance(cost=cost, weight=weight, capacity=capacity)


def gap_table(instance: GapInstance) -> Table:
    """The instance as a table: one pool per agent, one arc per (item, agent) that fits."""
    m, n = instance.agents, instance.items
    agent, item = np.nonzero(instance.weight <= instance.capacity[:, None])
    cost = instance.cost[agent, item].astype(np.float64)
    # Leaving any item out costs more than assigning every item at its dearest: a plan that
    # leaves nothing out always wins, and a bound is a bound on the must-assign problem too.
    must = float(np.abs(instance.cost).max(axis=0).sum()) + 1.0
    return from_arcs(
        n_workloads=n,
        pool_site=np.arange(m, dtype=np.int64),
        pool_model=np.arange(m, dtype=np.int64),
        pool_cap=instance.capacity,
        arc_w=item.astype(np.int64),
        arc_pool=agent.astype(np.int64),
        arc_dev=instance.weight[agent, item],
        arc_cost=cost,
        penalty=np.full(n, must),
        must_place=True,
    )
