"""One replay step by step: energy, carbon and penalties charged as priced, and the
hindsight bound of a step."""

from __future__ import annotations

import datetime as dt

import pytest

from netrouter.planning.arrivals import Arrivals, Job
from netrouter.planning.replay import POLICIES, replay
from netrouter.planning.replay_network import Network
from netrouter.planning.traces import EXAMPLES
from site_agents.config import load_site_config
from solver import SolverConfig, Workload

SITES = EXAMPLES / "sites"
START = "2023-11-16T00:00:00+08:00"
FAST = SolverConfig(time_limit_s=1.0, relative_gap_limit=1e-3, explain_max_workloads=0)


def _one_site() -> Network:
    config = load_site_config(SITES / "guian.toml")
    return Network.from_configs([config], dt.datetime.fromisoformat(START).timestamp(), 2)


def test_energy_and_penalties_are_charged_as_priced() -> None:
    """8 H100 for 30 min at Gui'an in the valley hour: 8 × 0.7 kW × PUE 1.1 × 0.5 h ×
    0.14 元. A job needing more devices than the site has pays its penalty instead."""
    network = _one_site()
    assert network.hourly[0, 0] == pytest.approx(0.14)
    fits = Workload(
        id="fits", origin_region="cy", demands={"H100": 8}, duration_h=0.5, max_pue=1.25
    )
    huge = Workload(
        id="huge", origin_region="cy", demands={"H100": 10_000}, duration_h=1.0, max_pue=1.25
    )
    jobs = Arrivals(
        jobs=(
            Job(workload=fits, start_h=0.0, end_h=0.5),
            Job(workload=huge, start_h=0.0, end_h=1.0),
        ),
        training_copies=1,
        inference_scale=0.0,
    )
    report = replay(
        network, jobs, trace="both", hours=1.0, period_min=15, policies=POLICIES, solver=FAST
    )
    kwh = 8 * 0.7 * 1.1 * 0.5
    rate = network.unplaced_yuan_per_kwh(1)
    for row in report.policies.values():
        assert row.energy_kwh == pytest.approx(kwh)
        assert row.energy_cost == pytest.approx(kwh * 0.14)
        assert row.carbon_kg == pytest.approx(kwh * 0.4989)
        assert row.unplaced == 1
        assert row.penalty == pytest.approx(rate * 10_000 * 0.7 * 1.0)
    # The relaxation places "fits" at the same price and leaves "huge" out: a tight bound.
    assert report.hindsight_bound == pytest.approx(report.policies["optimizer"].objective)
