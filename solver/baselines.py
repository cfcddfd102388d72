"""Baseline placement policies, run on the same cost table as the optimizer.

They answer "what would a simpler scheduler have done with this batch?": each places
workloads one at a time in arrival order, never revisiting a choice.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from solver.costs import CostTable, PairCost, build_cost_table
from solver.model import Plan, Problem
from solver.plan import assemble_plan

PairKey = Callable[[PairCost], tuple[float, ...]]


def greedy_choice(table: CostTable, key: PairKey) -> dict[int, PairCost]:
    """Place workloads in arrival order, each on the best pair by ``key`` that still fits."""
    sites = table.problem.sites
    free = {(si, m): n for si, s in enumerate(sites) for m, n in s.free.items()}
    by_workload: dict[int, list[PairCost]] = {}
    for p in table.pairs:
        by_workload.setdefault(p.workload_index, []).append(p)
    chosen: dict[int, PairCost] = {}
    for wi in range(len(table.problem.workloads)):
        for p in sorted(by_workload.get(wi, []), key=key):
            if free[(p.site_index, p.model)] >= p.devices:
                free[(p.site_index, p.model)] -= p.devices
                chosen[wi] = p
                break
    return chosen


def _nearest_key(p: PairCost) -> tuple[float, ...]:
    latency = p.latency_ms if p.latency_ms is not None else float("inf")
    return (latency, p.energy_cost_yuan)


def _cheapest_key(p: PairCost) -> tuple[float, ...]:
    return (p.energy_cost_yuan,)


def _run(problem: Problem, key: PairKey, method: str) -> Plan:
    started = time.perf_counter()
    table = build_cost_table(problem)
    chosen = greedy_choice(table, key)
    return assemble_plan(
        table,
        chosen,
        bound=0.0,
        status="FEASIBLE",
        wall_s=time.perf_counter() - started,
        method=method,
    )


def nearest_site(problem: Problem) -> Plan:
    """Every workload to the lowest-latency site from its origin that can take it."""
    return _run(problem, _nearest_key, "nearest-site")


def cheapest_first(problem: Problem) -> Plan:
    """Every workload, in arrival order, to the cheapest site that can still take it."""
    return _run(problem, _cheapest_key, "cheapest-first")
