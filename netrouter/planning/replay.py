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
- *Deadlines*: each job must end by its arrival + its run + the ``slack`` of its class
  (the pod's QoS class; ``inference`` for the replicas; defaults
  :data:`~netrouter.planning.traces.DEFAULT_SLACK_H`), in the replay's hours.

**Steps.** Every ``period_min`` minutes the jobs that arrived in the period are offered,
the finished ones leave, and each policy decides:

- ``optimizer``: re-optimises the running work, its queue and the arrivals together with
  the full optimizer; moving a running job costs re-running
  :data:`~netrouter.client.types.DEFAULT_RESTART_H` hours of it where it is (the router's
  ``[rebalance] restart_h`` means the same). With ``optimizer_queue`` ``deadline`` (the
  default) its queue is offered earliest deadline first and the work that would miss its
  deadline a step later is weighted up for the solve
  (:meth:`~netrouter.planning.simulation.PolicyState.decide_optimizer`); ``fifo``: as the
  baselines.
- ``nearest``, ``cheapest-first``, ``spread``: place the queue, then the arrivals, one by
  one in submit order with the baselines of :mod:`solver.baselines`; running work never
  moves.

**Queue.** Each policy has its own queue (FIFO for the baselines): a job it cannot place (the plan leaves it
out, no node takes it, or the optimizer evicts it) waits and is offered again at every
later step, first submitted first, and pays the solver's unplaced penalty
(:class:`solver.Problem`) for every step it waits. When it starts it runs its full
duration from then (an evicted job reruns in full), so each policy has its own start and
end times. Nothing is dropped: after the window the replay goes on stepping (the *drain*:
no arrivals, the tariffs' hours of day going on as in the window) until every job has
finished in every policy, so all are compared on the same jobs run in full. In the drain
the optimizer decides only while work waits. The drain stops at ``max_drain_h``: jobs
still waiting then are counted ``dropped``, runs still going are charged up to there.
Every policy is told each job's true run time. A job whose run ends after its deadline
(or that is dropped) is a *deadline miss*; it still runs in full: nothing is dropped for
being late.

**Accounting.** Energy is devices × board power × PUE × hours in the step, priced at the
site's time-of-use tariff for that hour (steps never straddle an hour); carbon from the
site's grid factor. A policy's objective is energy cost + migration cost + penalties, over
the window and the drain.

The arrivals are in :mod:`~netrouter.planning.arrivals`, the stepping in
:mod:`~netrouter.planning.simulation` and the report in :mod:`~netrouter.planning.replay_report`.

**Hindsight bound.** Each step's relaxation (:func:`solver.relax.relax`) over every job
the trace has active in it (as if started on arrival), priced for the step's stretch of
each run, with left-out work paying the same pro-rated penalty. Summed over every step the
replay takes, the window's and the drain's (in the drain, over the jobs whose trace run
goes on past the window), it is at most any policy's objective: it drops migration costs,
lets work move freely between steps, a policy's run of a job ends no earlier than the
trace's, and a policy's waiting job pays at least what leaving it out costs the relaxation
(see :func:`~netrouter.planning.simulation.relax_step`).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from netrouter.planning.arrivals import Arrivals, arrivals
from netrouter.planning.replay_network import Network
from netrouter.planning.replay_nodes import FITS, draw_layout, read_node_sizes
from netrouter.planning.replay_report import ReplayReport, job_kinds, ratios_to
from netrouter.planning.simulation import (
    QUEUE_ORDERS,
    Fleet,
    PolicyState,
    Run,
    Step,
    relax_step,
)
from netrouter.planning.traces import DEFAULT_SLACK_H, TraceFiles
from site_agents.config import load_site_configs
from solver import SolverConfig

POLICIES = ("optimizer", "nearest", "cheapest-first", "spread")
BASELINE_OF = {"nearest": "nearest-site", "cheapest-first": "cheapest-first", "spread": "spread"}
DEFAULT_START = "2023-11-16T00:00:00+08:00"
"""The Azure trace's day, midnight in China: tariffs are those of that date."""
DEFAULT_MAX_DRAIN_H = 72.0
"""How long past the window the replay waits for every job to finish."""
MAX_DRAIN_H = 24.0 * 7
"""The longest drain allowed."""

Observer = Callable[[float, str, list[Run]], None]
"""Called after each policy's decision at each step, drain included: (hours in, policy,
every running job with its site, model, devices and run times)."""


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
    node_fit: str = "best",
    check_count_only: bool = True,
    nodes: str = "",
    max_drain_h: float = DEFAULT_MAX_DRAIN_H,
    optimizer_queue: str = "deadline",
    slack: Mapping[str, float | None] = DEFAULT_SLACK_H,
) -> ReplayReport:
    """Run every policy over the same jobs, step by step, through the window and then the
    drain (until every job finished in every policy, at most ``max_drain_h`` past the
    window), and bound them in hindsight.

    Where ``network`` lays its devices on nodes, every policy plans on them and its
    placements are laid on nodes chosen by ``node_fit``; with ``check_count_only`` each
    decision is also made without the shapes and checked against the nodes (``nodes``:
    how they were drawn, for the report). ``optimizer_queue``: how the optimizer offers
    its queue (:data:`~netrouter.planning.simulation.QUEUE_ORDERS`); ``slack``: the slack
    the jobs' deadlines were drawn with, for the report."""
    started = time.perf_counter()
    if 60.0 % period_min or period_min <= 0:
        raise ValueError("period_min must divide 60 (5, 10, 15, 20, 30 or 60)")
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown policy {unknown[0]!r}; choose from {', '.join(POLICIES)}")
    if node_fit not in FITS:
        raise ValueError(f"node_fit must be one of {', '.join(FITS)}")
    if optimizer_queue not in QUEUE_ORDERS:
        raise ValueError(f"optimizer_queue must be one of {', '.join(QUEUE_ORDERS)}")
    if not 0 <= max_drain_h <= MAX_DRAIN_H:
        raise ValueError(f"max_drain_h must be in [0, {MAX_DRAIN_H:g}]")
    period_h = period_min / 60.0
    solver = solver or SolverConfig(
        time_limit_s=2.0, relative_gap_limit=1e-3, explain_max_workloads=0
    )
    drain_end = hours + max_drain_h
    network = network.priced_until(math.ceil(drain_end))
    fleet = Fleet.build(network, jobs.jobs, hours=hours, period_h=period_h)
    steps = fleet.steps
    states = {
        p: PolicyState(
            len(jobs.jobs),
            len(fleet.ids),
            nodes=fleet.nodes,
            fit=node_fit,
            check_count_only=check_count_only,
        )
        for p in policies
    }
    bound = 0.0
    bound_s = 0.0
    s = 0
    while True:
        step = Step.at(fleet, s)
        for st in states.values():
            st.release_finished(step.t)
        if not step.in_window and (
            step.t >= drain_end - 1e-9 or not any(st.has_work() for st in states.values())
        ):
            break
        if step.in_window and s % max(1, steps // 24) == 0:
            progress(f"step {s + 1}/{steps} ({step.t:.2f} h in)")
        elif not step.in_window and (s - steps) % 8 == 0:
            waiting = sum(int(st.times.waiting.sum()) for st in states.values())
            progress(f"draining: {step.t - hours:.2f} h past the window, {waiting} waiting")
        for name, st in states.items():
            began = time.perf_counter()
            if name == "optimizer":
                st.decide_optimizer(fleet, step, solver, optimizer_queue)
            else:
                st.decide_baseline(fleet, step, BASELINE_OF[name])
            st.result.decide_s += time.perf_counter() - began
            if observer is not None:
                observer(step.t, name, st.running(fleet))
        # The step's relaxation over every job the trace has active in it, window and
        # drain alike: the bound.
        began = time.perf_counter()
        bound += relax_step(fleet, step)
        bound_s += time.perf_counter() - began
        for st in states.values():
            st.account(fleet, step)
        s += 1
    results = {name: st.finish(fleet, bound=bound) for name, st in states.items()}
    ref = results.get("optimizer")
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
        jobs=job_kinds(jobs),
        steps=steps,
        drain_steps=s - steps,
        max_drain_h=max_drain_h,
        nodes=nodes if fleet.nodes else "",
        node_fit=node_fit,
        slack_h=dict(slack),
        optimizer_queue=optimizer_queue,
        policies=results,
        hindsight_bound=bound,
        gap=ref.gap_to_bound if ref is not None else None,
        ratios=ratios_to(ref, results),
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
    node_fit: str = "best",
    check_count_only: bool = True,
    max_drain_h: float = DEFAULT_MAX_DRAIN_H,
    optimizer_queue: str = "deadline",
    slack: Mapping[str, float | None] = DEFAULT_SLACK_H,
) -> ReplayReport:
    """Load the sites and the traces, lay the devices on nodes drawn from the node list
    (``files.alibaba_nodes``; none: counted in devices), give each job the deadline of its
    class's ``slack``, then :func:`replay`."""
    if not 0 < hours <= 24 * 7:
        raise ValueError("hours must be in (0, 168]")
    if not 0 < load <= 2:
        raise ValueError("load must be in (0, 2]")
    at = dt.datetime.fromisoformat(start)
    if at.tzinfo is None:
        raise ValueError("start needs a UTC offset, e.g. 2023-11-16T00:00:00+08:00")
    network = Network.from_configs(load_site_configs(sites_dir), at.timestamp(), math.ceil(hours))
    nodes = ""
    if files.alibaba_nodes is not None:
        sizes = read_node_sizes(files.alibaba_nodes)
        network = network.with_layout(draw_layout(network.free(), sizes, seed=seed))
        nodes = (
            f"sizes drawn from the {len(sizes):,} nodes of {files.alibaba_nodes.name} (seed {seed})"
        )
    progress(f"reading the {trace} trace(s)")
    jobs = arrivals(
        files,
        network,
        trace=trace,
        hours=hours,
        period_h=period_min / 60.0,
        seed=seed,
        load=load,
        slack=slack,
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
        node_fit=node_fit,
        check_count_only=check_count_only,
        nodes=nodes,
        max_drain_h=max_drain_h,
        optimizer_queue=optimizer_queue,
        slack=slack,
    )


__all__ = [
    "DEFAULT_MAX_DRAIN_H",
    "DEFAULT_START",
    "MAX_DRAIN_H",
    "POLICIES",
    "Observer",
    "replay",
    "run_replay",
]
