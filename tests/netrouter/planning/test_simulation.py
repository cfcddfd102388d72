"""One replay step by step: energy, carbon and penalties charged as priced, each policy's
queue (waits, drain, drops, work waiting for whole nodes), deadlines, and the hindsight
bound over the window and the drain."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from netrouter.planning.arrivals import Arrivals, Job
from netrouter.planning.replay import POLICIES, replay
from netrouter.planning.replay_network import Network
from netrouter.planning.replay_report import ClassWaits
from netrouter.planning.simulation import Fleet, Run
from netrouter.planning.traces import EXAMPLES
from site_agents.config import AcceleratorSection, SiteConfig, load_site_config
from solver import SolverConfig, Workload

SITES = EXAMPLES / "sites"
START = "2023-11-16T00:00:00+08:00"
FAST = SolverConfig(time_limit_s=1.0, relative_gap_limit=1e-3, explain_max_workloads=0)
KWH_8_H100_PER_H = 8 * 0.7 * 1.1
"""8 H100 at 700 W in Gui'an (PUE 1.1), per hour."""
VALLEY = 0.14
"""Gui'an's price from midnight to 08:00."""


def _one_site() -> Network:
    config = load_site_config(SITES / "guian.toml")
    return Network.from_configs([config], dt.datetime.fromisoformat(START).timestamp(), 2)


def _with(name: str, model: str, devices: int) -> SiteConfig:
    """The site ``name`` with ``devices`` of ``model``, all free, and nothing else."""
    config = load_site_config(SITES / f"{name}.toml")
    power = {a.model: a.power_w for a in config.accelerators}[model]
    only = AcceleratorSection(model=model, total=devices, healthy=devices, power_w=power)
    return config.model_copy(update={"accelerators": [only]})


def _small(h100_nodes: int) -> Network:
    """Gui'an with ``h100_nodes`` 8-H100 nodes, and Wuhu with 8 A100 on one node."""
    configs = [_with("guian", "H100", 8 * h100_nodes), _with("wuhu", "A100", 8)]
    network = Network.from_configs(configs, dt.datetime.fromisoformat(START).timestamp(), 2)
    return network.with_layout(
        {("guian", "H100"): ((8, 8),) * h100_nodes, ("wuhu", "A100"): ((8, 8),)}
    )


def _h100(
    name: str,
    devices: int,
    start_h: float,
    run_h: float,
    *,
    slack_h: float = math.inf,
    qos: str = "BE",
) -> Job:
    w = Workload(
        id=name,
        origin_region="cy",
        demands={"H100": devices},
        duration_h=run_h,
        max_pue=1.25,
        labels={"qos": qos, "kind": "batch"},
    )
    end = start_h + run_h
    return Job(workload=w, start_h=start_h, end_h=end, deadline_h=end + slack_h)


def _arrivals(*jobs: Job) -> Arrivals:
    return Arrivals(jobs=jobs, training_copies=1, inference_scale=0.0)


def test_energy_and_penalties_are_charged_as_priced() -> None:
    """8 H100 for 30 min at Gui'an in the valley hour: 8 × 0.7 kW × PUE 1.1 × 0.5 h ×
    0.14 元. A job needing more devices than the site has waits at every step, paying its
    penalty, until the drain's cap drops it."""
    network = _one_site()
    assert network.hourly[0, 0] == pytest.approx(VALLEY)
    jobs = _arrivals(_h100("fits", 8, 0.0, 0.5), _h100("huge", 10_000, 0.0, 1.0))
    report = replay(
        network,
        jobs,
        trace="both",
        hours=1.0,
        period_min=15,
        policies=POLICIES,
        solver=FAST,
        max_drain_h=1.0,
    )
    kwh = KWH_8_H100_PER_H * 0.5
    rate = network.unplaced_yuan_per_kwh(1)
    assert (report.steps, report.drain_steps) == (4, 4)
    for row in report.policies.values():
        assert row.energy_kwh == pytest.approx(kwh)
        assert row.energy_cost == pytest.approx(kwh * VALLEY)
        assert row.carbon_kg == pytest.approx(kwh * 0.4989)
        assert (row.dropped, row.waited, row.unplaced, row.placed) == (1, 1, 8, 1)
        # Two hours in the queue: the window's and the drain's.
        assert row.penalty == pytest.approx(rate * 10_000 * 0.7 * 2.0)
        assert row.wait_p95_h == pytest.approx(1.9)  # waits 0 and 2 h
    # The relaxation places "fits" at the same price and leaves "huge" out for the window.
    optimizer = report.policies["optimizer"]
    assert report.hindsight_bound == pytest.approx(optimizer.objective - rate * 10_000 * 0.7)


def test_a_job_that_cannot_start_waits_for_the_first_to_end_then_runs_in_full() -> None:
    """One 8-H100 node, two 8-H100 jobs of 30 min arriving together: one starts at once,
    the other waits exactly until the first ends, then runs its 30 min in the drain; both
    pay their energy in full, the waiting one its penalty for 30 min, nothing is dropped."""
    network = _small(h100_nodes=1)
    runs: dict[str, dict[str, tuple[float, float]]] = {p: {} for p in POLICIES}

    def record(t: float, policy: str, running: list[Run]) -> None:
        for run in running:
            runs[policy].setdefault(run.job.workload.id, (run.start_h, run.end_h))
            assert run.start_h <= t + 1e-9 < run.end_h

    jobs = _arrivals(_h100("a", 8, 0.0, 0.5), _h100("b", 8, 0.0, 0.5))
    report = replay(
        network, jobs, trace="both", hours=0.5, period_min=15, solver=FAST, observer=record
    )
    assert (report.steps, report.drain_steps) == (2, 2)
    penalty = network.unplaced_yuan_per_kwh(1) * 8 * 0.7 * 0.5
    for name, row in report.policies.items():
        assert sorted(runs[name].values()) == [(0.0, 0.5), (0.5, 1.0)], name
        assert (row.placed, row.waited, row.unplaced, row.dropped, row.evicted) == (2, 1, 2, 0, 0)
        assert (row.wait_p50_h, row.wait_p95_h) == (pytest.approx(0.25), pytest.approx(0.475))
        assert row.energy_kwh == pytest.approx(2 * KWH_8_H100_PER_H * 0.5)
        assert row.energy_cost == pytest.approx(2 * KWH_8_H100_PER_H * 0.5 * VALLEY)
        assert row.penalty == pytest.approx(penalty)
        assert row.cost_per_step == pytest.approx([KWH_8_H100_PER_H * 0.25 * VALLEY] * 4)
        assert (row.shape_waited, row.large_waited) == (0, 0)
        # Both trace runs end in the window: one job run, one left out, half an hour.
        assert report.hindsight_bound <= row.objective
    assert report.hindsight_bound == pytest.approx(KWH_8_H100_PER_H * 0.5 * VALLEY + penalty)


def test_the_queue_is_offered_before_the_arrivals_oldest_first() -> None:
    """A baseline with one node: of three jobs arriving one step apart, the waiting one
    starts before the one that arrived after it."""
    network = _small(h100_nodes=1)
    starts: dict[str, float] = {}

    def record(t: float, policy: str, running: list[Run]) -> None:
        for run in running:
            starts.setdefault(run.job.workload.id, run.start_h)

    jobs = _arrivals(_h100("a", 8, 0.0, 0.5), _h100("b", 8, 0.25, 0.25), _h100("c", 8, 0.5, 0.25))
    report = replay(
        network,
        jobs,
        trace="both",
        hours=0.75,
        period_min=15,
        policies=("cheapest-first",),
        solver=FAST,
        observer=record,
    )
    assert starts == {"a": 0.0, "b": 0.5, "c": 0.75}
    row = report.policies["cheapest-first"]
    assert (row.waited, row.dropped, row.unplaced) == (2, 0, 2)
    assert report.drain_steps == 1


def test_large_work_waits_for_whole_nodes() -> None:
    """Three 8-H100 nodes, two 4-H100 jobs laid worst fit on two of them: a 16-H100 job
    arriving next finds 16 devices free but one whole node, and waits until they end."""
    network = _small(h100_nodes=3)
    starts: dict[str, dict[str, float]] = {p: {} for p in POLICIES}

    def record(t: float, policy: str, running: list[Run]) -> None:
        for run in running:
            starts[policy].setdefault(run.job.workload.id, run.start_h)

    jobs = _arrivals(
        _h100("small-1", 4, 0.0, 0.5), _h100("small-2", 4, 0.0, 0.5), _h100("large", 16, 0.25, 1.0)
    )
    report = replay(
        network,
        jobs,
        trace="both",
        hours=0.5,
        period_min=15,
        solver=FAST,
        node_fit="worst",
        observer=record,
    )
    for name, row in report.policies.items():
        assert starts[name]["large"] == 0.5, name
        assert (row.waited, row.shape_waited, row.large_waited, row.dropped) == (1, 1, 1, 0)
        assert report.hindsight_bound <= row.objective


def test_without_a_drain_the_waiting_work_is_dropped() -> None:
    """With no drain the replay stops at the window's end: the job still waiting is
    dropped, and misses its deadline; the one running is charged for the window only,
    and ends (past the cap) in time."""
    network = _small(h100_nodes=1)
    jobs = _arrivals(_h100("a", 8, 0.0, 1.0, slack_h=0), _h100("b", 8, 0.0, 1.0, slack_h=5))
    report = replay(
        network, jobs, trace="both", hours=0.5, period_min=15, solver=FAST, max_drain_h=0.0
    )
    assert report.drain_steps == 0
    for row in report.policies.values():
        assert (row.placed, row.dropped, row.deadline_misses) == (1, 1, 1)
        assert row.energy_kwh == pytest.approx(KWH_8_H100_PER_H * 0.5)


@pytest.mark.parametrize(("slack_h", "misses"), [(0.0, 1), (0.25, 1), (0.5, 0), (2.0, 0)])
def test_a_job_that_waits_longer_than_its_slack_misses_its_deadline(
    slack_h: float, misses: int
) -> None:
    """One 8-H100 node; a FIFO baseline starts the first of two 30-min jobs, the second
    (with ``slack_h``) waits 30 min: a miss unless its slack covers the wait. It still
    runs in full, nothing is dropped."""
    network = _small(h100_nodes=1)
    jobs = _arrivals(
        _h100("a", 8, 0.0, 0.5, qos="BE"), _h100("b", 8, 0.0, 0.5, slack_h=slack_h, qos="LS")
    )
    report = replay(
        network, jobs, trace="both", hours=0.5, period_min=15, policies=("nearest",), solver=FAST
    )
    row = report.policies["nearest"]
    assert (row.deadline_misses, row.dropped, row.placed) == (misses, 0, 2)
    assert row.energy_kwh == pytest.approx(2 * KWH_8_H100_PER_H * 0.5)
    assert row.waits_by_class == {
        "BE": ClassWaits(jobs=1, p50_h=0.0, p95_h=0.0, deadline_misses=0),
        "LS": ClassWaits(jobs=1, p50_h=0.5, p95_h=0.5, deadline_misses=misses),
    }


def test_the_optimizer_places_the_job_due_now_before_one_with_slack() -> None:
    """Two 30-min jobs for one node: the baselines start the first submitted (24 h of
    slack) and the second (none) misses its deadline; the optimizer, by deadline, starts
    the one due now and the other waits within its slack: no miss."""
    network = _small(h100_nodes=1)
    jobs = _arrivals(
        _h100("relaxed", 8, 0.0, 0.5, slack_h=24.0, qos="BE"),
        _h100("urgent", 8, 0.0, 0.5, slack_h=0.0, qos="LS"),
    )
    starts: dict[str, dict[str, float]] = {p: {} for p in POLICIES}

    def record(t: float, policy: str, running: list[Run]) -> None:
        for run in running:
            starts[policy].setdefault(run.job.workload.id, run.start_h)

    report = replay(
        network, jobs, trace="both", hours=0.5, period_min=15, solver=FAST, observer=record
    )
    assert report.optimizer_queue == "deadline"
    assert starts["optimizer"] == {"urgent": 0.0, "relaxed": 0.5}
    optimizer = report.policies["optimizer"]
    assert optimizer.deadline_misses == 0
    assert optimizer.waits_by_class["BE"].p95_h == pytest.approx(0.5)
    assert optimizer.waits_by_class["LS"].p95_h == 0.0
    for name in ("nearest", "cheapest-first", "spread"):
        assert starts[name] == {"relaxed": 0.0, "urgent": 0.5}, name
        assert report.policies[name].deadline_misses == 1
        assert report.policies[name].waits_by_class["LS"].deadline_misses == 1


def test_a_job_is_due_while_a_step_s_delay_would_make_it_late() -> None:
    """Due: meets its deadline started (or kept) now, not a step later; late work and work
    with a step of slack or more is not due; running work is judged by its run's end."""
    network = _small(h100_nodes=1)
    jobs = (
        _h100("none", 8, 0.0, 1.0, slack_h=0.0),
        _h100("short", 8, 0.0, 1.0, slack_h=0.2),
        _h100("step", 8, 0.0, 1.0, slack_h=0.25),
        _h100("free", 8, 0.0, 1.0),
    )
    fleet = Fleet.build(network, jobs, hours=1.0, period_h=0.25)
    idle = np.full(4, np.nan)
    assert fleet.due(0.0, idle).tolist() == [True, True, False, False]
    # A quarter hour on, less than a step's slack is too little: late, not due.
    assert fleet.due(0.25, idle).tolist() == [False, False, True, False]
    # Running since 0, the job without slack ends in time: due (an eviction would cost it).
    assert fleet.due(0.25, np.array([1.0, np.nan, np.nan, np.nan])).tolist()[0]


def test_the_bound_covers_the_drain_for_runs_past_the_window() -> None:
    """Two 1-h jobs for one node in a 30-min window: the bound charges the first's full
    run and the second's penalty for its full trace run (window and drain), which every
    policy pays at least (it also runs the second after)."""
    network = _small(h100_nodes=1)
    jobs = _arrivals(_h100("a", 8, 0.0, 1.0), _h100("b", 8, 0.0, 1.0))
    report = replay(network, jobs, trace="both", hours=0.5, period_min=15, solver=FAST)
    penalty_per_h = network.unplaced_yuan_per_kwh(1) * 8 * 0.7
    energy_per_h = KWH_8_H100_PER_H * VALLEY
    assert report.drain_steps == 6
    assert report.hindsight_bound == pytest.approx(energy_per_h + penalty_per_h)
    for name, row in report.policies.items():
        assert row.objective == pytest.approx(2 * energy_per_h + penalty_per_h), name
        assert report.hindsight_bound <= row.objective
