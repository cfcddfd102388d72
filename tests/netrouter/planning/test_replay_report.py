"""The replay report's figures: jobs by kind, and each policy over the optimizer."""

from __future__ import annotations

import pytest

from netrouter.planning.arrivals import Arrivals, Job
from netrouter.planning.replay_report import RATIO_KEYS, PolicyResult, job_kinds, ratios_to
from solver import Workload


def _job(wid: str, kind: str | None) -> Job:
    labels = {} if kind is None else {"kind": kind}
    work = Workload(id=wid, origin_region="csj", demands={"H100": 8}, duration_h=1.0, labels=labels)
    return Job(workload=work, start_h=0.0, end_h=1.0)


def test_jobs_are_counted_by_their_kind_label() -> None:
    arrivals = Arrivals(
        jobs=(_job("a", "batch"), _job("b", "batch"), _job("c", "inference"), _job("d", None)),
        training_copies=1,
        inference_scale=1.0,
    )
    assert job_kinds(arrivals) == {"batch": 2, "inference": 1, "other": 1}


def test_ratios_are_each_policy_over_the_reference_and_zero_where_it_has_none() -> None:
    optimizer = PolicyResult(cost=10.0, energy_kwh=100.0, carbon_kg=0.0, objective=20.0)
    nearest = PolicyResult(cost=15.0, energy_kwh=120.0, carbon_kg=7.0, objective=30.0)
    ratios = ratios_to(optimizer, {"optimizer": optimizer, "nearest": nearest})
    assert set(ratios["nearest"]) == set(RATIO_KEYS)
    assert ratios["optimizer"] == {
        "cost": 1.0,
        "energy_kwh": 1.0,
        "carbon_kg": 0.0,
        "objective": 1.0,
    }
    assert ratios["nearest"]["cost"] == pytest.approx(1.5)
    assert ratios["nearest"]["energy_kwh"] == pytest.approx(1.2)
    assert ratios["nearest"]["carbon_kg"] == 0.0  # the reference emitted nothing
    assert ratios["nearest"]["objective"] == pytest.approx(1.5)
    assert ratios_to(None, {"nearest": nearest}) == {}
