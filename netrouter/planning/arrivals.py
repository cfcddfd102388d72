"""The trace replay's arrivals: batch jobs from the Alibaba GPU trace and inference replicas
following the Azure LLM trace's token rate, scaled to the network's free devices.

See :mod:`netrouter.planning.replay` for how they are drawn and scaled.
"""

from __future__ import annotations

import csv
import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netrouter.planning.problem import solver_workload
from netrouter.planning.replay_network import Network
from netrouter.planning.traces import (
    DEFAULT_SLACK_H,
    PEAK_WINDOW_S,
    REPLICA_TOKENS_PER_S,
    TraceFiles,
    deadline_class,
    h100_equivalents,
    pod_workload,
    read_pods,
    replica_workload,
    request_regions,
    request_timestamp,
)
from solver import Workload

TRACES = ("alibaba-openb", "azure-llm", "both")
MIN_RUN_H = 1.0 / 60.0
"""Pods shorter than a minute still hold their devices for one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One workload of the replay: what it needs, when it arrives and when it would end
    started then, and by when it must end (hours from the replay's start; arrivals fall on
    step boundaries; ``deadline_h`` inf: none)."""

    workload: Workload
    start_h: float
    end_h: float
    deadline_h: float = math.inf

    def __post_init__(self) -> None:
        if not self.start_h <= self.end_h <= self.deadline_h:
            raise ValueError(
                f"job {self.workload.id!r}: want start_h <= end_h <= deadline_h, got "
                f"{self.start_h}, {self.end_h}, {self.deadline_h}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrivals:
    """The replay's jobs, in start order, and how the traces were scaled."""

    jobs: tuple[Job, ...]
    training_copies: int
    inference_scale: float


def busiest_window(creations_h: list[float], hours: float) -> float:
    """Start (hours into the trace) of the ``hours``-long window with the most creations."""
    times = sorted(creations_h)
    best, best_start, j = -1, 0.0, 0
    for i, t in enumerate(times):
        j = max(j, i)
        while j < len(times) and times[j] < t + hours:
            j += 1
        if j - i > best:
            best, best_start = j - i, t
    return best_start


Slack = Mapping[str, float | None]
"""Hours of slack by deadline class (:data:`~netrouter.planning.traces.DEFAULT_SLACK_H`)."""


def deadline_h(workload: Workload, start_h: float, run_h: float, slack: Slack) -> float:
    """When a job arriving at ``start_h`` and running ``run_h`` must end: ``slack`` hours
    after it would end started on arrival (inf: its class has no deadline, or is not in
    ``slack``)."""
    extra = slack.get(deadline_class(workload.labels))
    return math.inf if extra is None else start_h + run_h + extra


def training_jobs(
    path: Path,
    *,
    hours: float,
    period_h: float,
    copies: int,
    rng: random.Random,
    slack: Slack = DEFAULT_SLACK_H,
) -> list[Job]:
    """Alibaba GPU pods created in the busiest ``hours`` of the trace, ``copies`` of each,
    each with the deadline of its QoS class's ``slack``."""
    pods = read_pods(path)
    created = [int(p["creation_time"]) / 3600.0 for p in pods]
    origin = busiest_window(created, hours)
    jobs = []
    for pod, c in sorted(zip(pods, created, strict=True), key=lambda pc: (pc[1], pc[0]["name"])):
        at = c - origin
        if not 0 <= at < hours:
            continue
        start = period_h * math.ceil(at / period_h - 1e-9)
        if start >= hours:
            continue
        run_h = max(MIN_RUN_H, (int(pod["deletion_time"]) - int(pod["creation_time"])) / 3600.0)
        for k in range(copies):
            name = pod["name"] if copies == 1 else f"{pod['name']}#{k}"
            w = solver_workload(pod_workload(pod, rng, name=name, duration_h=run_h))
            jobs.append(
                Job(
                    workload=w,
                    start_h=start,
                    end_h=start + run_h,
                    deadline_h=deadline_h(w, start, run_h, slack),
                )
            )
    return jobs


def _token_rates(
    path: Path, *, period_h: float, steps: int, rng: random.Random
) -> dict[str, list[float]]:
    """Per origin region, the busiest 5-minute token rate (tokens/s) in each step, the
    trace tiled from its first request."""
    windows: dict[tuple[str, int], int] = defaultdict(int)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    regions = request_regions(len(rows), rng)
    times = [request_timestamp(row["TIMESTAMP"]) for row in rows]
    first = min(times)
    for row, region, ts in zip(rows, regions, times, strict=True):
        tokens = int(row["ContextTokens"]) + int(row["GeneratedTokens"])
        windows[(region, int((ts - first) // PEAK_WINDOW_S))] += tokens
    n_windows = max(k for _, k in windows) + 1
    per_step = max(1, round(period_h * 3600 / PEAK_WINDOW_S))
    # Tile whole steps of the trace: as many as it covers (at least one).
    tile = max(1, n_windows // per_step)
    out: dict[str, list[float]] = {}
    for region in sorted({r for r, _ in windows}):
        rates = []
        for s in range(steps):
            base = (s % tile) * per_step
            peak = max(windows.get((region, base + k), 0) for k in range(per_step))
            rates.append(peak / PEAK_WINDOW_S)
        out[region] = rates
    return out


def inference_jobs(
    paths: dict[str, Path],
    *,
    hours: float,
    period_h: float,
    scale: float,
    rng: random.Random,
    slack: Slack = DEFAULT_SLACK_H,
) -> list[Job]:
    """Serving replicas following each (kind, region)'s token rate, step by step, each
    with the deadline of the ``inference`` class's ``slack``."""
    steps = math.ceil(hours / period_h)
    jobs = []
    for kind, path in paths.items():
        rates = _token_rates(path, period_h=period_h, steps=steps, rng=rng)
        for region, series in rates.items():
            live: list[tuple[int, float]] = []  # (serial, start) of running replicas
            serial = 0
            for s, rate in enumerate(series):
                t = s * period_h
                need = math.ceil(scale * rate / REPLICA_TOKENS_PER_S - 1e-9)
                while len(live) > need:
                    k, start = live.pop()
                    jobs.append(_replica(kind, region, k, start, t, slack))
                while len(live) < need:
                    live.append((serial, t))
                    serial += 1
            for k, start in live:
                jobs.append(_replica(kind, region, k, start, hours, slack))
    return jobs


def _replica(kind: str, region: str, serial: int, start: float, end: float, slack: Slack) -> Job:
    w = replica_workload(
        kind, region, id=f"azure-{kind}-{region}-{serial:04d}", duration_h=end - start
    )
    work = solver_workload(w)
    return Job(
        workload=work,
        start_h=start,
        end_h=end,
        deadline_h=deadline_h(work, start, end - start, slack),
    )


def _peak_h100(jobs: Sequence[Job], period_h: float, hours: float) -> float:
    steps = math.ceil(hours / period_h)
    load = np.zeros(steps)
    for j in jobs:
        units = h100_equivalents(j.workload.demands)
        a = round(j.start_h / period_h)
        b = min(steps, math.ceil(j.end_h / period_h - 1e-9))
        load[a:b] += units
    return float(load.max(initial=0.0))


def arrivals(
    files: TraceFiles,
    network: Network,
    *,
    trace: str,
    hours: float,
    period_h: float,
    seed: int,
    load: float,
    training_copies: int | None = None,
    inference_scale: float | None = None,
    slack: Slack = DEFAULT_SLACK_H,
) -> Arrivals:
    """The replay's jobs, scaled so the busiest step needs ``load`` × the free devices
    (half for each trace when both run), unless the scales are given; each with the
    deadline its class's ``slack`` gives it."""
    if trace not in TRACES:
        raise ValueError(f"trace must be one of {', '.join(TRACES)}")
    share = 0.5 if trace == "both" else 1.0
    target = load * share * network.capacity_h100()
    jobs: list[Job] = []
    copies, scale = 0, 0.0
    if trace in ("alibaba-openb", "both"):
        if training_copies is None:
            once = training_jobs(
                files.alibaba_pods,
                hours=hours,
                period_h=period_h,
                copies=1,
                rng=random.Random(seed),
            )
            peak = _peak_h100(once, period_h, hours)
            training_copies = max(1, round(target / peak)) if peak else 1
        copies = training_copies
        jobs += training_jobs(
            files.alibaba_pods,
            hours=hours,
            period_h=period_h,
            copies=copies,
            rng=random.Random(seed),
            slack=slack,
        )
    if trace in ("azure-llm", "both"):
        paths = {"conv": files.azure_conv, "code": files.azure_code}
        if inference_scale is None:
            unit = inference_jobs(
                paths,
                hours=hours,
                period_h=period_h,
                scale=1_000.0,
                rng=random.Random(seed + 1),
            )
            peak = _peak_h100(unit, period_h, hours)
            inference_scale = 1_000.0 * target / peak if peak else 1.0
        scale = inference_scale
        jobs += inference_jobs(
            paths,
            hours=hours,
            period_h=period_h,
            scale=scale,
            rng=random.Random(seed + 1),
            slack=slack,
        )
    jobs.sort(key=lambda j: (j.start_h, j.workload.id))
    return Arrivals(jobs=tuple(jobs), training_copies=copies, inference_scale=scale)
