"""Replay arrivals: inference replicas follow the token rate, batch jobs come from the
trace's busiest window."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import pytest

from netrouter.planning.arrivals import busiest_window, inference_jobs
from netrouter.planning.traces import EXAMPLES, REPLICA_TOKENS_PER_S, TraceFiles

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
