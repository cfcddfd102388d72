"""State as solver input, and the solver's answers back as the client's types."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings

import solver
from netrouter.client.types import ACTIVE, Workload
from netrouter.planning.problem import (
    MAX_ALTERNATIVES,
    NOTHING_TO_SOLVE,
    hour_elapsed,
    placement_from_solver,
    solve_info,
    solver_workload,
    tariff_from_now,
    unplaced_from_solver,
)
from tests.helpers.factories import report_of, site_config
from tests.helpers.strategies import domain_workloads


@settings(max_examples=60, deadline=None)
@given(domain_workloads())
def test_a_client_workload_reaches_the_solver_field_for_field(w: Workload) -> None:
    """Every field of the client's workload arrives unchanged in the solver's."""
    converted = solver_workload(w)
    assert isinstance(converted, solver.Workload)
    for f in dataclasses.fields(w):
        assert getattr(converted, f.name) == getattr(w, f.name), f.name


def test_the_client_and_solver_workloads_have_the_same_fields() -> None:
    """A field added to one workload type must be added to the other."""
    client = [(f.name, f.default) for f in dataclasses.fields(Workload)]
    ours = [(f.name, f.default) for f in dataclasses.fields(solver.Workload)]
    assert client == ours


def _assignment(alternatives: int) -> solver.Assignment:
    return solver.Assignment(
        workload_id="w1",
        site_id="gz-guian-1",
        model="H100",
        devices=8,
        energy_kwh=12.0,
        energy_cost_yuan=6.0,
        transfer_cost_yuan=1.5,
        migration_cost_yuan=2.0,
        carbon_cost_yuan=0.25,
        cost_per_hour_yuan=9.75,
        carbon_kg=4.0,
        latency_ms=18.0,
        moved=True,
        explanation="cheapest feasible",
        alternatives=tuple(
            solver.Alternative(
                site_id=f"s{i}", model="H100", cost_yuan=5.0 + i, reason_kind="latency", reason="x"
            )
            for i in range(alternatives)
        ),
    )


def test_a_placement_carries_the_assignments_costs_and_its_cheapest_alternatives() -> None:
    """Site, devices, every cost and the first MAX_ALTERNATIVES alternatives come across."""
    w = Workload(id="w1", origin_region="csj", demands={"H100": 8}, duration_h=2.0)
    a = _assignment(MAX_ALTERNATIVES + 3)
    p = placement_from_solver(a, placement_id="p1", workload=w, created_at=1_000.0)
    assert (p.site_id, p.accelerator_model, p.devices, p.state) == ("gz-guian-1", "H100", 8, ACTIVE)
    assert p.total_cost_yuan == pytest.approx(a.cost_yuan)
    assert (p.energy_kwh, p.carbon_kg, p.latency_ms) == (12.0, 4.0, 18.0)
    assert [x.site_id for x in p.alternatives] == [f"s{i}" for i in range(MAX_ALTERNATIVES)]
    assert p.created_at == p.updated_at == 1_000.0


def test_unplaced_work_keeps_its_reason_and_penalty() -> None:
    """The solver's unplaced entry arrives as the client's, field for field."""
    u = unplaced_from_solver(solver.Unplaced(workload_id="w9", reason="no H800", penalty_yuan=3.5))
    assert (u.workload_id, u.reason, u.penalty_yuan) == ("w9", "no H800", 3.5)


def test_solve_info_reports_the_plans_quality_and_nothing_to_solve_is_optimal() -> None:
    """solve_info copies objective, bound, gap, status, time and method; the empty plan is
    proven optimal at zero."""
    info = solve_info(NOTHING_TO_SOLVE)
    assert (info.objective, info.bound, info.gap, info.status) == (0.0, 0.0, 0.0, "OPTIMAL")
    plan = dataclasses.replace(NOTHING_TO_SOLVE, objective=10.0, bound=9.0, gap=0.1, method="lp")
    assert (solve_info(plan).objective, solve_info(plan).method) == (10.0, "lp")


def test_the_tariff_turns_with_the_clock_hour() -> None:
    """Two hours after the report, element 0 is the report's third hourly price."""
    report = report_of(site_config("alpha"))
    prices = report.next_24h_yuan_per_kwh
    later = report.timestamp + 2 * 3600.0
    assert tariff_from_now(report, later) == prices[2:] + prices[:2]
    assert tariff_from_now(report, report.timestamp + 24 * 3600.0) == prices


def test_hour_elapsed_is_the_fraction_of_the_clock_hour() -> None:
    """A quarter past the hour is 0.25 into it."""
    assert hour_elapsed(7 * 3600.0 + 900.0) == pytest.approx(0.25)
