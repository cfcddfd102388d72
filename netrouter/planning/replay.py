"""Trace replay: the value report. Every policy runs the same real arrivals over the 10
national clusters in simulated time, and the whole replay is bounded from below in hindsight.

**Arrivals.**

- *Batch/training* from the Alibaba GPU trace (openb): the busiest window of ``hours`` in the
  trace (by pod creations), each GPU pod a job arriving at its creation time and running
  for its own lifetime (deletion − creation, at least :data:`MIN_RUN_H`), on any of today's
  accelerator types with the same device count; priority from QoS.
- *Inference* from the Azure LLM trace: requests are given origin regions (seeded) and the
  trace is tiled over the replay; each step the busiest 5-minute token rate per (kind,
  region) sets how many serving replicas run (8 H100, or 16 A100 or Ascend910B, with the
  kind's RTT SLO). Replicas start when demand rises and the newest stop when it falls.
- Both are replicated (``training_copies``, ``inference_scale``) so that at the busiest step
  the work needs ``load`` × the network's free devices, half each when both traces run.

**Steps.** Every ``period_min`` minutes the jobs that arrived in the period start, the
finished ones leave, and each policy decides:

- ``optimizer``: re-optimises the running work and the arrivals together with the full
  optimizer; moving a running job costs re-running :data:`RESTART_H` of it where it is.
- ``nearest``, ``cheapest-first``, ``spread``: place the arrivals one by one with the
  baselines of :mod:`solver.baselines`; running work never moves.

Work no policy can place at arrival is left out (no queue) and pays its penalty, the
solver's own (:class:`solver.Problem`), for the part of its run inside the replay. Every
policy is told each job's true run time.

**Accounting.** Energy is devices × board power × PUE × hours in the step, priced at the
site's time-of-use tariff for that hour (steps never straddle an hour); carbon from the
site's grid factor. A policy's objective is energy cost + migration cost + penalties.

**Hindsight bound.** Each step's relaxation (:func:`solver.relax.relax`) over every job
active in it, priced for the step's stretch of each run, with left-out work paying the same
pro-rated penalty. Summed over the steps it is at most any policy's objective: it drops
migration costs and lets work move freely between steps.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from netrouter.planning.problem import solver_workload
from netrouter.planning.traces import (
    H100_EQUIVALENT,
    PEAK_WINDOW_S,
    REPLICA_TOKENS_PER_S,
    TraceFiles,
    h100_equivalents,
    pod_workload,
    replica_workload,
    request_regions,
    request_timestamp,
)
from site_agents.collectors import TimeOfUseTariff
from site_agents.config import SiteConfig, load_site_configs
from solver import Problem, Site, SolverConfig, Workload, build_table, run_baseline, solve
from solver.relax import relax

TRACES = ("alibaba-openb", "azure-llm", "both")
POLICIES = ("optimizer", "nearest", "cheapest-first", "spread")
BASELINE_OF = {"nearest": "nearest-site", "cheapest-first": "cheapest-first", "spread": "spread"}
MIN_RUN_H = 1.0 / 60.0
"""Pods shorter than a minute still hold their devices for one."""
RESTART_H = 0.25
"""Moving a running job loses its work since the last checkpoint: re-running this many hours
where it is now is what a move costs."""
DEFAULT_START = "2023-11-16T00:00:00+08:00"
"""The Azure trace's day, midnight in China: tariffs are those of that date."""


@dataclass(frozen=True, slots=True)
class Job:
    """One workload of the replay: what it needs, when it starts and when it ends (hours
    from the replay's start; starts fall on step boundaries)."""

    workload: Workload
    start_h: float
    end_h: float


@dataclass(frozen=True, slots=True)
class Arrivals:
    """The replay's jobs, in start order, and how the traces were scaled."""

    jobs: tuple[Job, ...]
    training_copies: int
    inference_scale: float


# -- sites -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Network:
    """The clusters as the replay sees them: static capacity, each hour's prices."""

    configs: tuple[SiteConfig, ...]
    start: float  # unix seconds of the replay's start
    hourly: np.ndarray  # sites × hours: price (元/kWh) of each hour of the replay

    @classmethod
    def from_configs(cls, configs: Sequence[SiteConfig], start: float, hours: int) -> Network:
        tariffs = [TimeOfUseTariff(c) for c in configs]
        days = math.ceil(hours / 24) + 1
        hourly = np.array(
            [
                [p for d in range(days) for p in t.tariff(start + 86_400 * d).next_24h]
                for t in tariffs
            ],
            dtype=np.float64,
        )
        return cls(tuple(configs), start, hourly)

    @property
    def ids(self) -> list[str]:
        return [c.site.id for c in self.configs]

    def free(self) -> dict[tuple[str, str], int]:
        """Devices each (site, model) may give the replay: healthy, not used by others."""
        return {
            (c.site.id, a.model): max(0, a.healthy - a.in_use_by_others)
            for c in self.configs
            for a in c.accelerators
        }

    def capacity_h100(self) -> float:
        """The free devices in H100s."""
        return sum(n * H100_EQUIVALENT.get(m, 1.0) for (_, m), n in self.free().items())

    def hub_caps(self) -> dict[str, float]:
        return {c.site.hub: c.site.pue_cap for c in self.configs if c.site.hub and c.site.pue_cap}

    def unplaced_yuan_per_kwh(self, hours: int) -> float:
        """Twice the dearest facility price per IT kWh anywhere in the replay (fixed, so a
        job's penalty is proportional to its run time)."""
        pue = np.array([c.pue.value or 1.0 for c in self.configs])
        return 2.0 * float((pue[:, None] * self.hourly[:, : max(1, hours)]).max())

    def sites(self, t_h: float, used: dict[tuple[str, str], int] | None = None) -> list[Site]:
        """The solver's sites at ``t_h`` hours in, less the devices in ``used``."""
        hour = int(t_h)
        free_now = self.free()
        out = []
        for i, c in enumerate(self.configs):
            free = {
                a.model: max(
                    0, free_now[(c.site.id, a.model)] - (used or {}).get((c.site.id, a.model), 0)
                )
                for a in c.accelerators
            }
            out.append(
                Site(
                    id=c.site.id,
                    pue=c.pue.value or 1.0,
                    hourly_price=tuple(float(p) for p in self.hourly[i, hour : hour + 24]),
                    carbon_kg_per_kwh=c.carbon.kg_per_kwh,
                    latency_ms=dict(c.latency_ms),
                    free=free,
                    power_w={a.model: a.power_w for a in c.accelerators},
                    side=c.site.side,
                    hub=c.site.hub,
                    province=c.site.province,
                )
            )
        return out


# -- arrivals ----------------------------------------------------------------------------


def _busiest_window(creations_h: list[float], hours: float) -> float:
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


def training_jobs(
    path: Path, *, hours: float, period_h: float, copies: int, rng: random.Random
) -> list[Job]:
    """Alibaba GPU pods created in the busiest ``hours`` of the trace, ``copies`` of each."""
    with path.open(newline="") as f:
        pods = [row for row in csv.DictReader(f) if int(row["num_gpu"]) > 0]
    created = [int(p["creation_time"]) / 3600.0 for p in pods]
    origin = _busiest_window(created, hours)
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
            w = pod_workload(pod, rng, name=name, duration_h=run_h)
            jobs.append(Job(solver_workload(w), start, start + run_h))
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
) -> list[Job]:
    """Serving replicas following each (kind, region)'s token rate, step by step."""
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
                    jobs.append(_replica(kind, region, k, start, t))
                while len(live) < need:
                    live.append((serial, t))
                    serial += 1
            for k, start in live:
                jobs.append(_replica(kind, region, k, start, hours))
    return jobs


def _replica(kind: str, region: str, serial: int, start: float, end: float) -> Job:
    w = replica_workload(
        kind, region, id=f"azure-{kind}-{region}-{serial:04d}", duration_h=end - start
    )
    return Job(solver_workload(w), start, end)


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
) -> Arrivals:
    """The replay's jobs, scaled so the busiest step needs ``load`` × the free devices
    (half for each trace when both run), unless the scales are given."""
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
            paths, hours=hours, period_h=period_h, scale=scale, rng=random.Random(seed + 1)
        )
    jobs.sort(key=lambda j: (j.start_h, j.workload.id))
    return Arrivals(tuple(jobs), copies, scale)


# -- the report --------------------------------------------------------------------------


class PolicyResult(BaseModel):
    """One policy over the whole replay."""

    cost: float = 0.0
    """元 paid: energy plus migrations."""
    energy_cost: float = 0.0
    migration_cost: float = 0.0
    energy_kwh: float = 0.0
    carbon_kg: float = 0.0
    slo_violations: int = 0
    """Job-steps on a site whose RTT from the job's origin exceeds its SLO."""
    capacity_violations: int = 0
    """(site, model, step) where running work exceeds the free devices."""
    unplaced: int = 0
    """Jobs left out at arrival (or evicted later)."""
    evicted: int = 0
    placed: int = 0
    migrations: int = 0
    penalty: float = 0.0
    objective: float = 0.0
    """cost + penalty: what the hindsight bound bounds."""
    gap_to_bound: float = 0.0
    west_energy_share: float = 0.0
    utilisation: dict[str, float] = {}
    """Mean share of each site's free devices in use."""
    cost_per_step: list[float] = []
    decide_s: float = 0.0


class ReplayReport(BaseModel):
    trace: str
    hours: float
    period_min: float
    seed: int
    start: str
    load: float
    training_copies: int
    inference_scale: float
    jobs: dict[str, int]
    steps: int
    policies: dict[str, PolicyResult]
    hindsight_bound: float
    gap: float | None
    """(optimizer objective − bound) / optimizer objective."""
    ratios: dict[str, dict[str, float]]
    """Each policy's cost, energy, carbon and objective over the optimizer's."""
    bound_s: float
    wall_s: float


# -- the simulation ----------------------------------------------------------------------


@dataclass
class _State:
    """One policy's ``n`` jobs: where each runs (site, model indices, devices; −1 none),
    and whether it was left out; and the share of each of the ``n_sites`` sites in use,
    summed over the steps."""

    n: int
    n_sites: int
    site: np.ndarray = field(init=False)
    model: np.ndarray = field(init=False)
    devices: np.ndarray = field(init=False)
    out: np.ndarray = field(init=False)
    result: PolicyResult = field(default_factory=PolicyResult)
    busy: np.ndarray = field(init=False)
    west_kwh: float = 0.0

    def __post_init__(self) -> None:
        self.site = np.full(self.n, -1, dtype=np.int64)
        self.model = np.full(self.n, -1, dtype=np.int64)
        self.devices = np.zeros(self.n, dtype=np.int64)
        self.out = np.zeros(self.n, dtype=bool)
        self.busy = np.zeros(self.n_sites)


Observer = Callable[[float, str, list[tuple[Job, str, str, int]]], None]
"""Called after each policy's decision at each step: (hours in, policy, every running job
with its site, model and devices)."""


def replay(
    network: Network,
    jobs: Arrivals,
    *,
    trace: str,
    hours: float,
    period_min: float = 15.0,
    seed: int = 7,
    load: float = 0.85,
    policies: Sequence[str] = POLICIES,
    solver: SolverConfig | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    observer: Observer | None = None,
) -> ReplayReport:
    """Run every policy over the same jobs, step by step, and bound them in hindsight."""
    started = time.perf_counter()
    if 60.0 % period_min or period_min <= 0:
        raise ValueError("period_min must divide 60 (5, 10, 15, 20, 30 or 60)")
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown policy {unknown[0]!r}; choose from {', '.join(POLICIES)}")
    period_h = period_min / 60.0
    steps = math.ceil(hours / period_h - 1e-9)
    solver = solver or SolverConfig(
        time_limit_s=2.0, relative_gap_limit=1e-3, explain_max_workloads=0
    )
    all_jobs = jobs.jobs
    n = len(all_jobs)
    ids = network.ids
    site_of = {s: i for i, s in enumerate(ids)}
    models = sorted({a.model for c in network.configs for a in c.accelerators})
    model_of = {m: i for i, m in enumerate(models)}
    free = np.zeros((len(ids), len(models)), dtype=np.int64)
    power = np.zeros((len(ids), len(models)))
    for (sid, m), k in network.free().items():
        free[site_of[sid], model_of[m]] = k
    for c in network.configs:
        for a in c.accelerators:
            power[site_of[c.site.id], model_of[a.model]] = a.power_w / 1000.0
    pue = np.array([c.pue.value or 1.0 for c in network.configs])
    carbon = np.array([c.carbon.kg_per_kwh for c in network.configs])
    west = np.array([c.site.side == "west" for c in network.configs])
    start_h = np.array([j.start_h for j in all_jobs])
    end_h = np.array([j.end_h for j in all_jobs])
    own_kw = np.array(
        [
            np.nan if j.workload.power_w_per_device is None else j.workload.power_w_per_device
            for j in all_jobs
        ]
    )
    own_kw = own_kw / 1000.0
    slo = np.array([j.workload.latency_slo_ms or np.inf for j in all_jobs])
    latency = np.array(
        [
            [c.latency_ms.get(j.workload.origin_region, np.inf) for c in network.configs]
            for j in all_jobs
        ]
    ).reshape(n, len(ids))
    unplaced_rate = network.unplaced_yuan_per_kwh(math.ceil(hours))
    hub_caps = network.hub_caps()
    states = {p: _State(n, len(ids)) for p in policies}
    bound = 0.0
    bound_s = 0.0
    by_start: dict[int, list[int]] = defaultdict(list)
    for i, j in enumerate(all_jobs):
        by_start[round(j.start_h / period_h)].append(i)

    for s in range(steps):
        t = s * period_h
        hour = int(t)
        if s % max(1, steps // 24) == 0:
            progress(f"step {s + 1}/{steps} ({t:.2f} h in)")
        arriving = by_start.get(s, [])
        active = np.flatnonzero((start_h <= t + 1e-9) & (end_h > t + 1e-9))
        overlap = np.minimum(end_h[active], t + period_h) - t
        sites_now = network.sites(t)
        for name, st in states.items():
            # Finished work leaves.
            done = (st.site >= 0) & (end_h <= t + 1e-9)
            st.site[done], st.model[done], st.devices[done] = -1, -1, 0
            began = time.perf_counter()
            if name == "optimizer":
                _decide_optimizer(
                    st, all_jobs, arriving, t, network, sites_now, site_of, model_of, power,
                    pue, own_kw, hub_caps, unplaced_rate, solver, hour,
                )  # fmt: skip
            else:
                _decide_baseline(
                    st, BASELINE_OF[name], all_jobs, arriving, t, network, site_of, model_of,
                    ids, models, hub_caps, unplaced_rate,
                )  # fmt: skip
            st.result.decide_s += time.perf_counter() - began
            if observer is not None:
                running = np.flatnonzero(st.site >= 0)
                observer(
                    t,
                    name,
                    [
                        (all_jobs[i], ids[st.site[i]], models[st.model[i]], int(st.devices[i]))
                        for i in running.tolist()
                    ],
                )
        # The step's relaxation over every active job: the bound, and the penalties.
        began = time.perf_counter()
        penalty_rate = np.zeros(n)
        if active.size:
            step_problem = Problem(
                sites=tuple(sites_now),
                workloads=tuple(
                    replace(all_jobs[i].workload, duration_h=float(o), current_site=None)
                    for i, o in zip(active.tolist(), overlap.tolist(), strict=True)
                ),
                hour_elapsed=t - hour,
                hub_max_pue=hub_caps,
                unplaced_yuan_per_kwh=unplaced_rate,
            )
            table, _ = build_table(step_problem)
            bound += relax(table).bound
            penalty_rate[active] = table.penalty
        bound_s += time.perf_counter() - began
        for st in states.values():
            _account(
                st, active, overlap, penalty_rate, power, own_kw, pue, carbon, west, free, slo,
                latency, network.hourly[:, hour],
            )  # fmt: skip
    return _report(
        states, jobs, trace=trace, hours=hours, period_min=period_min, seed=seed, load=load,
        network=network, steps=steps, bound=bound, bound_s=bound_s, ids=ids, free=free,
        started=started,
    )  # fmt: skip


def _decide_optimizer(
    st: _State,
    jobs: Sequence[Job],
    arriving: list[int],
    t: float,
    network: Network,
    sites_now: list[Site],
    site_of: dict[str, int],
    model_of: dict[str, int],
    power: np.ndarray,
    pue: np.ndarray,
    own_kw: np.ndarray,
    hub_caps: dict[str, float],
    unplaced_rate: float,
    solver: SolverConfig,
    hour: int,
) -> None:
    running = np.flatnonzero(st.site >= 0)
    members: list[int] = []
    work: list[Workload] = []
    for i in running.tolist():
        si, mi = int(st.site[i]), int(st.model[i])
        kw = own_kw[i] if not math.isnan(own_kw[i]) else power[si, mi]
        restart = st.devices[i] * kw * pue[si] * RESTART_H * network.hourly[si, hour]
        members.append(i)
        work.append(
            replace(
                jobs[i].workload,
                duration_h=jobs[i].end_h - t,
                current_site=network.ids[si],
                migration_cost_yuan=float(restart),
            )
        )
    for i in arriving:
        members.append(i)
        work.append(jobs[i].workload)
    if not work:
        return
    problem = Problem(
        sites=tuple(sites_now),
        workloads=tuple(work),
        hour_elapsed=t - hour,
        hub_max_pue=hub_caps,
        unplaced_yuan_per_kwh=unplaced_rate,
    )
    plan = solve(problem, solver)
    index = {w.id: i for w, i in zip(work, members, strict=True)}
    placed = set()
    for a in plan.assignments:
        i = index[a.workload_id]
        placed.add(i)
        was = int(st.site[i])
        st.site[i], st.model[i], st.devices[i] = site_of[a.site_id], model_of[a.model], a.devices
        if was < 0:
            st.result.placed += 1
        elif a.migration_cost_yuan > 0 or was != site_of[a.site_id]:
            st.result.migrations += 1
            st.result.migration_cost += a.migration_cost_yuan
    for u in plan.unplaced:
        i = index[u.workload_id]
        if st.site[i] >= 0:
            st.result.evicted += 1
        st.site[i], st.model[i], st.devices[i] = -1, -1, 0
        st.out[i] = True
        st.result.unplaced += 1


def _decide_baseline(
    st: _State,
    name: str,
    jobs: Sequence[Job],
    arriving: list[int],
    t: float,
    network: Network,
    site_of: dict[str, int],
    model_of: dict[str, int],
    ids: list[str],
    models: list[str],
    hub_caps: dict[str, float],
    unplaced_rate: float,
) -> None:
    if not arriving:
        return
    used: dict[tuple[str, str], int] = defaultdict(int)
    running = np.flatnonzero(st.site >= 0)
    for i in running.tolist():
        used[(ids[st.site[i]], models[st.model[i]])] += int(st.devices[i])
    problem = Problem(
        sites=tuple(network.sites(t, used)),
        workloads=tuple(jobs[i].workload for i in arriving),
        hour_elapsed=t - int(t),
        hub_max_pue=hub_caps,
        unplaced_yuan_per_kwh=unplaced_rate,
    )
    plan = run_baseline(name, problem)
    index = {jobs[i].workload.id: i for i in arriving}
    for a in plan.assignments:
        i = index[a.workload_id]
        st.site[i], st.model[i], st.devices[i] = site_of[a.site_id], model_of[a.model], a.devices
        st.result.placed += 1
    for u in plan.unplaced:
        st.out[index[u.workload_id]] = True
        st.result.unplaced += 1


def _account(
    st: _State,
    active: np.ndarray,
    overlap: np.ndarray,
    penalty_rate: np.ndarray,
    power: np.ndarray,
    own_kw: np.ndarray,
    pue: np.ndarray,
    carbon: np.ndarray,
    west: np.ndarray,
    free: np.ndarray,
    slo: np.ndarray,
    latency: np.ndarray,
    price: np.ndarray,
) -> None:
    """Charge one step: energy of the running work, penalties of the left-out work."""
    on = st.site[active] >= 0
    run, hrs = active[on], overlap[on]
    si, mi, dev = st.site[run], st.model[run], st.devices[run]
    kw = np.where(np.isnan(own_kw[run]), power[si, mi], own_kw[run])
    kwh = dev * kw * pue[si] * hrs
    cost = float((kwh * price[si]).sum())
    r = st.result
    r.energy_cost += cost
    r.energy_kwh += float(kwh.sum())
    r.carbon_kg += float((kwh * carbon[si]).sum())
    st.west_kwh += float(kwh[west[si]].sum())
    r.slo_violations += int((latency[run, si] > slo[run]).sum())
    used = np.zeros_like(free)
    np.add.at(used, (si, mi), dev)
    r.capacity_violations += int((used > free).sum())
    st.busy += used.sum(axis=1) / np.maximum(free.sum(axis=1), 1)
    left = active[st.out[active]]
    pen = float(penalty_rate[left].sum())
    r.penalty += pen
    r.cost_per_step.append(cost)


def _report(
    states: dict[str, _State],
    jobs: Arrivals,
    *,
    trace: str,
    hours: float,
    period_min: float,
    seed: int,
    load: float,
    network: Network,
    steps: int,
    bound: float,
    bound_s: float,
    ids: list[str],
    free: np.ndarray,
    started: float,
) -> ReplayReport:
    kinds: dict[str, int] = defaultdict(int)
    for j in jobs.jobs:
        kinds[j.workload.labels.get("kind", "other")] += 1
    policies: dict[str, PolicyResult] = {}
    for name, st in states.items():
        r = st.result
        r.cost = r.energy_cost + r.migration_cost
        r.objective = r.cost + r.penalty
        r.gap_to_bound = max(0.0, (r.objective - bound) / r.objective) if r.objective else 0.0
        r.west_energy_share = st.west_kwh / r.energy_kwh if r.energy_kwh else 0.0
        if steps:
            r.utilisation = {s: float(u / steps) for s, u in zip(ids, st.busy, strict=True)}
        policies[name] = r
    ref = policies.get("optimizer")
    ratios: dict[str, dict[str, float]] = {}
    if ref is not None:
        for name, r in policies.items():
            ratios[name] = {
                key: (getattr(r, key) / getattr(ref, key)) if getattr(ref, key) else 0.0
                for key in ("cost", "energy_kwh", "carbon_kg", "objective")
            }
    start = dt.datetime.fromtimestamp(network.start, dt.timezone(dt.timedelta(hours=8)))
    return ReplayReport(
        trace=trace,
        hours=hours,
        period_min=period_min,
        seed=seed,
        start=start.isoformat(),
        load=load,
        training_copies=jobs.training_copies,
        inference_scale=jobs.inference_scale,
        jobs=dict(kinds),
        steps=steps,
        policies=policies,
        hindsight_bound=bound,
        gap=ref.gap_to_bound if ref is not None else None,
        ratios=ratios,
        bound_s=bound_s,
        wall_s=time.perf_counter() - started,
    )


def run_replay(
    *,
    trace: str = "both",
    hours: float = 24.0,
    policies: Sequence[str] = POLICIES,
    period_min: float = 15.0,
    seed: int = 7,
    load: float = 0.85,
    start: str = DEFAULT_START,
    sites_dir: Path,
    files: TraceFiles,
    solver: SolverConfig | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    observer: Observer | None = None,
) -> ReplayReport:
    """Load the sites and the traces, then :func:`replay`."""
    if not 0 < hours <= 24 * 7:
        raise ValueError("hours must be in (0, 168]")
    if not 0 < load <= 2:
        raise ValueError("load must be in (0, 2]")
    at = dt.datetime.fromisoformat(start)
    if at.tzinfo is None:
        raise ValueError("start needs a UTC offset, e.g. 2023-11-16T00:00:00+08:00")
    network = Network.from_configs(load_site_configs(sites_dir), at.timestamp(), math.ceil(hours))
    progress(f"reading the {trace} trace(s)")
    jobs = arrivals(
        files,
        network,
        trace=trace,
        hours=hours,
        period_h=period_min / 60.0,
        seed=seed,
        load=load,
    )
    progress(f"{len(jobs.jobs)} jobs; replaying {hours:g} h with {', '.join(policies)}")
    return replay(
        network,
        jobs,
        trace=trace,
        hours=hours,
        period_min=period_min,
        seed=seed,
        load=load,
        policies=policies,
        solver=solver,
        progress=progress,
        observer=observer,
    )


__all__ = [
    "POLICIES",
    "TRACES",
    "Arrivals",
    "Job",
    "Network",
    "PolicyResult",
    "ReplayReport",
    "arrivals",
    "replay",
    "run_replay",
]
