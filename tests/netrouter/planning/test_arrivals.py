"""Replay arrivals: inference replicas follow the token rate, batch jobs come from the
trace's busiest window, each with its deadline."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import pytest

from netrouter.planning.arrivals import (
    Job,
    busiest_window,
    deadline_h,
    inference_jobs,
    training_jobs,
)
from netrouter.planning.traces import EXAMPLES, REPLICA_TOKENS_PER_S, TraceFiles
from solver import Workload

FILES = TraceFiles.bundled(EXAMPLES)


def test_inference_replicas_follow_the_token_rate() -> None:
    """At every step each (kind, region) runs ceil(scale × busiest 5-min rate / replica
    rate) replicas; replicas start and stop on step boundaries."""
    hours, period = 2.0, 0.25
    jobs = inference_jobs(
        {"conv": FILES.azure_conv}, hours=hours, period_h=period, scale=200.0, rng=random.Random(1)
    )
    assert jobs
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for j in jobs:
        assert j.start_h % period == pytest.approx(0) and j.end_h > j.start_h
        assert j.end_h % period == pytest.approx(0)
        assert j.workload.latency_slo_ms == 12.0 and j.workload.priority == 2
        for s in range(int(hours / period)):
            if j.start_h <= s * period < j.end_h:
                counts[(j.workload.origin_region, s)] += 1
    assert {region for region, _ in counts} <= {"jjj", "csj", "gba", "cy"}
    assert max(counts.values()) > 1  # the scale asks for more than one replica somewhere
    # The replica count never exceeds what the busiest rate of the trace could need.
    assert max(counts.values()) <= math.ceil(200.0 * 10_000_000 / 300 / REPLICA_TOKENS_PER_S)


def test_the_busiest_window_holds_the_most_creations() -> None:
    """The window found starts at the first creation of the densest stretch."""
    times = [0.0, 1.0, 50.0, 50.5, 51.0, 51.9, 80.0]
    start = busiest_window(times, 2.0)
    assert start == 50.0
    assert sum(start <= t < start + 2.0 for t in times) == 4


def test_each_job_s_deadline_is_its_arrival_run_and_class_slack() -> None:
    """Batch jobs end by arrival + run + their QoS class's slack (none: no deadline);
    replicas, without slack, by the end of their run."""
    slack = {"BE": 24.0, "Burstable": 4.0, "LS": 0.0, "Guaranteed": None, "inference": 0.0}
    batch = training_jobs(
        FILES.alibaba_pods,
        hours=2.0,
        period_h=0.25,
        copies=1,
        rng=random.Random(1),
        slack=slack,
    )
    seen = set()
    for j in batch:
        qos = j.workload.labels["qos"]
        seen.add(qos)
        extra = slack[qos]
        assert j.deadline_h == (math.inf if extra is None else pytest.approx(j.end_h + extra))
    assert {"BE", "LS"} <= seen
    replicas = inference_jobs(
        {"conv": FILES.azure_conv}, hours=1.0, period_h=0.25, scale=200.0, rng=random.Random(1)
    )
    assert replicas and all(j.deadline_h == j.end_h for j in replicas)
    assert deadline_h(replicas[0].workload, 1.0, 2.0, {"inference": 0.5}) == 3.5
    assert deadline_h(replicas[0].workload, 1.0, 2.0, {}) == math.inf


def test_a_job_cannot_end_before_it_starts_or_after_its_deadline() -> None:
    """A job whose deadline falls before the end of its own run is refused."""
    w = Workload(id="a", origin_region="cy", demands={"H100": 8}, duration_h=1.0)
    with pytest.raises(ValueError, match="deadline_h"):
        Job(workload=w, start_h=0.0, end_h=1.0, deadline_h=0.5)
