"""The model's values: what they refuse, data residency, the hub's PUE cap, plan totals."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from solver import (
    Assignment,
    InvalidProblemError,
    Plan,
    Problem,
    Site,
    SolverConfig,
    Unplaced,
    Workload,
    solve,
)
from solver.model import ruled_out, unoffered_reason, within_pue_cap
from solver.single import SiteArrays


def _site(sid: str = "s", **kw: Any) -> Site:
    fields: dict[str, Any] = {
        "id": sid,
        "pue": 1.2,
        "hourly_price": (0.5,) * 24,
        "carbon_kg_per_kwh": 0.5,
        "latency_ms": {"csj": 5.0},
        "free": {"H100": 8},
        "power_w": {"H100": 700.0},
    }
    fields.update(kw)
    return Site(**fields)


def _work(wid: str = "w", **kw: Any) -> Workload:
    fields: dict[str, Any] = {
        "id": wid,
        "origin_region": "csj",
        "demands": {"H100": 8},
        "duration_h": 1.0,
    }
    fields.update(kw)
    return Workload(**fields)


@pytest.mark.parametrize(
    ("kw", "field", "owner"),
    [
        ({"id": ""}, "id", "site"),
        ({"pue": 0.9}, "pue", "site 's'"),
        ({"pue": math.nan}, "pue", "site 's'"),
        ({"sustained_pue": math.inf}, "sustained_pue", "site 's'"),
        ({"pue_cap_margin": 1.5}, "pue_cap_margin", "site 's'"),
        ({"hourly_price": (0.5,) * 23}, "hourly_price", "site 's'"),
        ({"hourly_price": (0.5,) * 23 + (-1.0,)}, "hourly_price", "site 's'"),
        ({"latency_ms": {"csj": math.nan}}, "latency_ms.csj", "site 's'"),
        ({"free": {"H100": -1}}, "free.H100", "site 's'"),
        ({"free": {"H20": 1}}, "power_w.H20", "site 's'"),
        ({"transfer_yuan_per_gb": {"csj": -0.1}}, "transfer_yuan_per_gb.csj", "site 's'"),
    ],
)
def test_a_site_refuses_bad_values_naming_the_field(
    kw: dict[str, Any], field: str, owner: str
) -> None:
    with pytest.raises(InvalidProblemError) as caught:
        _site(**kw)
    assert caught.value.field == field
    assert caught.value.owner == owner


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"origin_region": ""}, "origin_region"),
        ({"demands": {}}, "demands"),
        ({"demands": {"H100": 0}}, "demands.H100"),
        ({"duration_h": 0.0}, "duration_h"),
        ({"duration_h": 1e6}, "duration_h"),
        ({"power_w_per_device": 0.5}, "power_w_per_device"),
        ({"latency_slo_ms": 0.0}, "latency_slo_ms"),
        ({"max_pue": 0.99}, "max_pue"),
        ({"priority": 1_001}, "priority"),
        ({"priority": -1}, "priority"),
        ({"data_gb": -1.0}, "data_gb"),
        ({"migration_cost_yuan": math.nan}, "migration_cost_yuan"),
        ({"current_site": ""}, "current_site"),
    ],
)
def test_a_workload_refuses_bad_values_naming_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidProblemError) as caught:
        _work(**kw)
    assert caught.value.field == field
    assert caught.value.owner == "workload 'w'"
    assert str(caught.value).startswith(f"workload 'w': {field}: ")


def test_a_problem_refuses_duplicates_and_bad_settings() -> None:
    with pytest.raises(InvalidProblemError, match="duplicate id 's'"):
        Problem(sites=(_site(), _site()), workloads=())
    with pytest.raises(InvalidProblemError, match="duplicate id 'w'"):
        Problem(sites=(), workloads=(_work(), _work()))
    for kw in ({"hour_elapsed": 1.5}, {"carbon_yuan_per_kg": -1.0}, {"hub_max_pue": {"e": 0.5}}):
        with pytest.raises(InvalidProblemError):
            Problem(sites=(), workloads=(), **kw)


def test_residency_admits_only_allowed_and_never_forbidden_places() -> None:
    site = _site("a", hub="east", province="sh")
    assert _work().admits(site)
    assert _work(allowed_sites=frozenset({"a"})).admits(site)
    assert not _work(allowed_sites=frozenset({"b"})).admits(site)
    assert not _work(allowed_hubs=frozenset({"west"})).admits(site)
    assert _work(allowed_provinces=frozenset({"sh", "gz"})).admits(site)
    assert not _work(forbidden_provinces=frozenset({"sh"})).admits(site)
    assert not _work(forbidden_hubs=frozenset({"east"})).admits(site)
    assert not _work(allowed_hubs=frozenset({"east"}), forbidden_sites=frozenset({"a"})).admits(
        site
    )


def test_the_hub_cap_judges_the_sustained_pue_less_the_margin() -> None:
    problem = Problem(sites=(), workloads=(), hub_max_pue={"east": 1.25})
    hot = _site(hub="east", pue=1.30)
    assert not problem.hub_pue_ok(hot)
    assert problem.hub_pue_reason(hot) == "PUE 1.30 above hub east's cap 1.25"
    assert problem.hub_pue_ok(replace(hot, sustained_pue=1.25))  # at the cap is under it
    assert problem.hub_pue_ok(_site(hub="west", pue=3.0))  # no cap on that hub
    back = replace(hot, sustained_pue=1.24, pue_cap_margin=0.02)
    assert not problem.hub_pue_ok(back)
    assert problem.hub_pue_reason(back) == (
        "sustained PUE 1.24 still over hub east's cap 1.25 until back to 1.23"
    )
    assert problem.hub_pue_ok(replace(back, sustained_pue=1.23))
    assert within_pue_cap(1.1 + 0.2, 1.3) and not within_pue_cap(1.3001, 1.3)


def test_a_workload_no_site_can_run_is_named_with_what_the_sites_offer() -> None:
    assert unoffered_reason(_work(demands={"H100": 1}), ["H100"]) is None
    assert unoffered_reason(_work(demands={"H800": 1}), ["H100", "A100"]) == (
        "no site offers H800 (the sites offer A100, H100)"
    )
    assert unoffered_reason(_work(demands={"H800": 1, "H20": 1, "B200": 1}), []) == (
        "no site offers B200, H20 or H800 (the sites offer no accelerators)"
    )


def test_a_plan_sums_its_assignments_and_penalties() -> None:
    def placed(wid: str, energy: float, carbon: float) -> Assignment:
        return Assignment(
            workload_id=wid,
            site_id="s",
            model="H100",
            devices=8,
            energy_kwh=10.0,
            energy_cost_yuan=energy,
            transfer_cost_yuan=1.0,
            migration_cost_yuan=2.0,
            carbon_cost_yuan=carbon,
            cost_per_hour_yuan=3.0,
            carbon_kg=4.0,
            latency_ms=5.0,
        )

    a, b = placed("a", 10.0, 0.5), placed("b", 20.0, 1.5)
    assert a.cost_yuan == pytest.approx(13.5)
    plan = Plan(
        assignments=(a, b),
        unplaced=(Unplaced(workload_id="c", reason="full", penalty_yuan=7.0),),
        objective=13.5 + 24.5 + 7.0,
        bound=40.0,
        gap=0.1,
        status="FEASIBLE",
        wall_s=0.0,
        method="test",
    )
    assert plan.cost_yuan == pytest.approx(38.0)
    assert plan.penalty_yuan == pytest.approx(7.0)
    assert plan.energy_cost_yuan == pytest.approx(30.0)
    assert plan.cost_per_hour_yuan == pytest.approx(6.0)
    assert plan.energy_kwh == pytest.approx(20.0)
    assert plan.carbon_kg == pytest.approx(8.0)


def test_ruled_out_says_each_reason_once_with_every_site_it_holds_at() -> None:
    """A reason at several sites, or at one site for several models, is said once; the sites
    keep the order given (cheapest first); past the limit the rest are counted."""
    slow = "latency 15.0 ms above SLO 12.0 ms"
    reasons = [
        ("guian", slow),
        ("guian", slow),  # the same site's A100: said once
        ("horinger", slow),
        ("wuhu", "no H800"),
        ("yrd", "no H800"),
        ("wuhu", "0 H100 free, 8 needed"),
    ]
    assert ruled_out(reasons) == (
        f"{slow} at guian, horinger; no H800 at wuhu, yrd; 0 H100 free, 8 needed at wuhu"
    )
    assert ruled_out(reasons, limit=1, unlisted=2) == f"{slow} at guian, horinger (+4 more)"


def _why_unplaced(*sites: Site, **kw: Any) -> tuple[str, str]:
    """Why a chat workload (8 H100 or 16 A100, 12 ms SLO from csj, ``kw`` on top) is left
    out, as the single-workload path and the batch solve each say it."""
    work = _work("chat", demands={"H100": 8, "A100": 16}, latency_slo_ms=12.0, **kw)
    problem = Problem(sites=sites, workloads=(work,))
    free = {(s.id, m): n for s in problem.sites for m, n in s.free.items()}
    single = SiteArrays(problem).place(work, free).unplaced[0].reason
    batch = solve(problem, SolverConfig(time_limit_s=5.0, num_workers=1)).unplaced[0].reason
    return single, batch


def test_a_workload_with_no_feasible_site_names_the_sites_and_models() -> None:
    """Both paths say why each site is out, each site once: its latency, whatever the
    model (so not also that it lacks one)."""
    near = _site("near", latency_ms={"csj": 30.0})
    far = _site(
        "far",
        latency_ms={"csj": 40.0},
        free={"H100": 8, "A100": 16},
        power_w={"H100": 700.0, "A100": 400.0},
    )
    for reason in _why_unplaced(near, far):
        assert reason.startswith("no feasible site: ")
        assert "latency 30.0 ms above SLO 12.0 ms at near" in reason
        assert "latency 40.0 ms above SLO 12.0 ms at far" in reason
        assert "no A100" not in reason  # near is out for every model already
        assert reason.count("far") == 1 and reason.count("near") == 1


def test_a_site_out_for_every_model_is_not_also_said_to_lack_one() -> None:
    """Residency rules ``near`` out whatever the model: its lack of A100 goes unsaid."""
    near = _site("near")
    far = _site("far", free={"H100": 4})  # within the SLO, but too few H100
    for reason in _why_unplaced(near, far, forbidden_sites=frozenset({"near"})):
        assert "excluded by data residency at near" in reason
        assert "4 H100 free, 8 needed at far" in reason
        assert "no A100 at far" in reason and "no A100 at near" not in reason
