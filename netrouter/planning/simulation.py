"""The trace replay's simulation: every job and every (site, model) as arrays in one
:class:`Fleet`, one policy's placements and queue over them in a :class:`PolicyState` (its
jobs' own start and end times in a :class:`Timeline`), and each step's decisions,
accounting and hindsight relaxation.

See :mod:`netrouter.planning.replay` for the policies, the accounting and the bound.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from netrouter.client.types import DEFAULT_RESTART_H
from netrouter.planning.arrivals import Job
from netrouter.planning.replay_network import Network
from netrouter.planning.replay_nodes import Holding, Nodes
from netrouter.planning.replay_report import ClassWaits, PolicyResult
from netrouter.planning.traces import deadline_class
from solver import (
    NodeShape,
    Plan,
    Problem,
    SolverConfig,
    Workload,
    build_table,
    run_baseline,
    solve,
)
from solver.relax import relax
from solver.table import Context

QUEUE_ORDERS = ("deadline", "fifo")
"""How the optimizer offers its queue: earliest deadline first, with the work about to miss
its deadline weighted up (:data:`DUE_PRIORITY_BOOST`), or first submitted first."""
DUE_PRIORITY_BOOST = 3
"""Added to the priority, for the optimizer's solve, of a job that still meets its deadline
if placed (or kept) now but not a step later: above every priority the traces give (0–2),
so per kWh it displaces any work that is not due."""
EPS = 1e-9


# eq=False on the array holders: numpy arrays have no single truth value, and no two
# replays' arrays are ever compared.
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Fleet:
    """Every job of the replay and every (site, model) of its network as arrays, indexed alike
    for every policy: sites in the network's order, models sorted."""

    network: Network
    jobs: tuple[Job, ...]
    ids: list[str]
    models: list[str]
    site_of: dict[str, int]
    model_of: dict[str, int]
    free: np.ndarray  # sites × models: devices the replay may use
    power: np.ndarray  # sites × models: kW per device
    pue: np.ndarray  # per site
    carbon: np.ndarray  # per site: kg CO2 per kWh
    west: np.ndarray  # per site: on the west side
    hours: float  # the window: jobs arrive in it
    period_h: float  # hours per step
    start_h: np.ndarray  # per job: when it arrives (a step boundary)
    end_h: np.ndarray  # per job: when it would end, started on arrival (the bound's)
    duration_h: np.ndarray  # per job: its run, whenever it starts
    deadline_h: np.ndarray  # per job: by when its run must end (inf: no deadline)
    classes: np.ndarray  # per job: its deadline class (str)
    penalty_per_h: np.ndarray  # per job: 元 per hour it waits (the solver's penalty)
    own_kw: np.ndarray  # per job: its own kW per device (NaN: the model's)
    slo: np.ndarray  # per job: latency SLO in ms (inf: none)
    latency: np.ndarray  # jobs × sites: RTT from the job's origin (inf: none measured)
    by_step: dict[int, list[int]]  # step → the jobs that start in it
    hub_caps: dict[str, float]
    unplaced_rate: float  # 元 per IT kWh of work waiting
    nodes: dict[tuple[int, int], Nodes]  # (site, model) → its nodes at the start (none: no shape)

    @classmethod
    def build(
        cls, network: Network, jobs: tuple[Job, ...], *, hours: float, period_h: float
    ) -> Fleet:
        """The arrays of ``jobs`` on ``network`` over a replay of ``hours`` in steps of
        ``period_h``."""
        n = len(jobs)
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
        own_w = np.array(
            [
                np.nan if j.workload.power_w_per_device is None else j.workload.power_w_per_device
                for j in jobs
            ]
        )
        latency = np.array(
            [
                [c.latency_ms.get(j.workload.origin_region, np.inf) for c in network.configs]
                for j in jobs
            ]
        ).reshape(n, len(ids))
        by_step: dict[int, list[int]] = defaultdict(list)
        for i, j in enumerate(jobs):
            by_step[round(j.start_h / period_h)].append(i)
        unplaced_rate = network.unplaced_yuan_per_kwh(math.ceil(hours))
        start_h = np.array([j.start_h for j in jobs])
        end_h = np.array([j.end_h for j in jobs])
        return cls(
            network=network,
            jobs=jobs,
            ids=ids,
            models=models,
            site_of=site_of,
            model_of=model_of,
            free=free,
            power=power,
            pue=np.array([c.pue.value or 1.0 for c in network.configs]),
            carbon=np.array([c.carbon.kg_per_kwh for c in network.configs]),
            west=np.array([c.site.side == "west" for c in network.configs]),
            hours=hours,
            period_h=period_h,
            start_h=start_h,
            end_h=end_h,
            duration_h=end_h - start_h,
            deadline_h=np.array([j.deadline_h for j in jobs]),
            classes=np.array([deadline_class(j.workload.labels) for j in jobs], dtype=object),
            penalty_per_h=_penalty_per_h(network, jobs, unplaced_rate),
            own_kw=own_w / 1000.0,
            slo=np.array([j.workload.latency_slo_ms or np.inf for j in jobs]),
            latency=latency,
            by_step=dict(by_step),
            hub_caps=network.hub_caps(),
            unplaced_rate=unplaced_rate,
            nodes={
                (site_of[sid], model_of[m]): Nodes.of(nodes)
                for (sid, m), nodes in network.layout.items()
                if nodes
            },
        )

    @property
    def steps(self) -> int:
        """The steps of the window."""
        return math.ceil(self.hours / self.period_h - 1e-9)

    def due(self, t: float, running_end_h: np.ndarray) -> np.ndarray:
        """Per job, whether at ``t`` it still meets its deadline (running: as its run ends,
        ``running_end_h``; NaN: not running, so started now) but would not if it started a
        step later (for running work: if it were evicted and restarted)."""
        ends = np.where(np.isnan(running_end_h), t + self.duration_h, running_end_h)
        late_next = self.deadline_h < t + self.period_h + self.duration_h - EPS
        return (ends <= self.deadline_h + EPS) & late_next

    def shapes(self, nodes: dict[tuple[int, int], Nodes]) -> dict[tuple[str, str], NodeShape]:
        """The solver's node shapes of these nodes, by (site id, model)."""
        return {(self.ids[si], self.models[mi]): n.shape() for (si, mi), n in nodes.items()}


def _penalty_per_h(network: Network, jobs: tuple[Job, ...], unplaced_rate: float) -> np.ndarray:
    """Each job's penalty for an hour left out, as the solver prices it (proportional to
    the hours, and the same at every step: it depends on the sites' board power only)."""
    if not jobs:
        return np.zeros(0)
    problem = Problem(
        sites=tuple(network.sites(0.0)),
        workloads=tuple(replace(j.workload, duration_h=1.0, current_site=None) for j in jobs),
        hub_max_pue=network.hub_caps(),
        unplaced_yuan_per_kwh=unplaced_rate,
    )
    return np.asarray(Context(problem).penalty, dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Step:
    """One decision period: when it starts, who arrives, and who the trace has active in
    it and for how long (each job as if started on arrival: the hindsight bound's view; a
    policy's own running work is in its :class:`PolicyState`)."""

    t: float  # hours into the replay
    hour: int  # the tariff hour (steps never straddle one)
    in_window: bool  # False: a drain step, after the window
    arriving: list[int]
    active: np.ndarray  # jobs the trace has running in the step
    overlap: np.ndarray  # hours of the step each of them runs

    @classmethod
    def at(cls, fleet: Fleet, index: int) -> Step:
        """Step ``index`` of ``fleet``'s replay (past the window: a drain step)."""
        t = index * fleet.period_h
        active = np.flatnonzero((fleet.start_h <= t + 1e-9) & (fleet.end_h > t + 1e-9))
        return cls(
            t=t,
            hour=int(t),
            in_window=index < fleet.steps,
            arriving=fleet.by_step.get(index, []),
            active=active,
            overlap=np.minimum(fleet.end_h[active], t + fleet.period_h) - t,
        )


def relax_step(fleet: Fleet, step: Step) -> float:
    """The step's relaxation (:func:`solver.relax.relax`) over the jobs the trace has
    active in it, each run priced for its stretch of the step.

    Summed over every step the replay takes, the window's and the drain's (in the drain,
    the jobs whose trace run goes on past the window), it bounds every policy's objective
    from below, queue included. Take a policy's run and build a solution of each step's
    relaxation from it: a job active in the trace at step ``s`` that the policy runs at
    ``s`` goes where the policy has it; any other such job is left out. The jobs placed
    are a subset of the policy's running work, so capacity holds. A policy's run of a job
    ends no earlier than its trace run (it starts no earlier, on or after arrival, and a
    restart reruns it in full), so a placed job runs in ``s`` at least for its trace
    overlap and the policy pays at least the relaxation's energy for it. A job left out
    arrived by ``s`` and, its policy run ending no earlier than its trace run, has not
    finished, so the policy has it waiting, paying :attr:`Fleet.penalty_per_h` × the whole
    step, at least the relaxation's penalty for its overlap. This holds for a drain step
    as for a window step, up to the drain's cap: the replay charges every step it takes
    (a policy's runs up to the cap, its waiting work until dropped there) and sums the
    relaxation over the same steps. Each relaxation is at most the cost of that solution,
    and everything else the policy pays (migrations, the energy of runs outside the trace's
    active stretches, penalties beyond them) is ≥ 0."""
    if not step.active.size:
        return 0.0
    problem = Problem(
        sites=tuple(fleet.network.sites(step.t)),
        workloads=tuple(
            replace(fleet.jobs[i].workload, duration_h=float(o), current_site=None)
            for i, o in zip(step.active.tolist(), step.overlap.tolist(), strict=True)
        ),
        hour_elapsed=step.t - step.hour,
        hub_max_pue=fleet.hub_caps,
        unplaced_yuan_per_kwh=fleet.unplaced_rate,
    )
    table, _ = build_table(problem)
    return relax(table).bound


# Mutable: a policy's jobs change in place at every step.
@dataclass(slots=True, eq=False)
class Timeline:
    """One policy's jobs in time, per job: when its current run began and when it ends
    (NaN: not started; a finished job keeps its times), whether it waits in the queue now,
    the hours it has waited, and whether it waited for node shape at some step (for whole
    nodes: more devices than one node holds)."""

    start_h: np.ndarray
    end_h: np.ndarray
    waiting: np.ndarray
    waited_h: np.ndarray
    for_shape: np.ndarray
    for_whole_nodes: np.ndarray

    @classmethod
    def of(cls, n: int) -> Timeline:
        """``n`` jobs, none started."""
        return cls(
            start_h=np.full(n, np.nan),
            end_h=np.full(n, np.nan),
            waiting=np.zeros(n, dtype=bool),
            waited_h=np.zeros(n),
            for_shape=np.zeros(n, dtype=bool),
            for_whole_nodes=np.zeros(n, dtype=bool),
        )

    def queue(self) -> list[int]:
        """The waiting jobs, first submitted first (jobs are indexed in arrival order)."""
        return np.flatnonzero(self.waiting).tolist()

    def start(self, i: int, t: float, duration_h: float) -> None:
        """Job ``i`` starts at ``t`` and runs ``duration_h`` from there."""
        self.start_h[i], self.end_h[i], self.waiting[i] = t, t + duration_h, False

    def wait(self, i: int) -> None:
        """Job ``i`` waits (an evicted job loses its run: it reruns in full)."""
        self.start_h[i], self.end_h[i], self.waiting[i] = np.nan, np.nan, True


Target = dict[int, tuple[int, int, int]]
"""Where a plan puts each job: job → (site, model, devices) indices."""


def lay(
    fleet: Fleet,
    nodes: dict[tuple[int, int], Nodes],
    holds: dict[int, Holding],
    target: Target,
    fit: str,
) -> list[int]:
    """Lay the jobs of ``target`` without a node on ``nodes`` (largest first, nodes chosen
    by ``fit``), recording each one's ``holds``; the jobs no node could take."""
    misses = []
    order = sorted((i for i in target if i not in holds), key=lambda i: (-target[i][2], i))
    for i in order:
        si, mi, dev = target[i]
        where = nodes.get((si, mi))
        if where is None:
            continue  # a (site, model) without a shape: counted in devices
        holding = where.place(dev, fit)
        if holding is None:
            misses.append(i)
        else:
            holds[i] = holding
    return misses


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """A job running under a policy: where, on how many devices, and its run's times
    (hours into the replay: when this run began and when it ends)."""

    job: Job
    site: str
    model: str
    devices: int
    start_h: float
    end_h: float


# Mutable: a policy's placements change in place at every step.
@dataclass(slots=True)
class PolicyState:
    """One policy's ``n`` jobs: where each runs (site, model indices, devices; −1 none),
    their times and queue (:class:`Timeline`); and the share of each of the ``n_sites``
    sites in use, summed over the window's steps. With ``nodes`` (the fleet's, copied),
    which nodes each running job holds; placements are laid on them with ``fit`` (see
    :mod:`~netrouter.planning.replay_nodes`).

    A job that is not placed when offered (the plan leaves it out, no node takes it, or it
    is evicted) waits in the queue and is offered again at every later step, first
    submitted first; when it starts it runs its full duration from then."""

    n: int
    n_sites: int
    nodes: dict[tuple[int, int], Nodes] = field(default_factory=dict)
    fit: str = "best"
    check_count_only: bool = True
    site: np.ndarray = field(init=False)
    model: np.ndarray = field(init=False)
    devices: np.ndarray = field(init=False)
    times: Timeline = field(init=False)
    holds: dict[int, Holding] = field(init=False)
    result: PolicyResult = field(default_factory=PolicyResult)
    busy: np.ndarray = field(init=False)
    west_kwh: float = 0.0
    sums: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        self.site = np.full(self.n, -1, dtype=np.int64)
        self.model = np.full(self.n, -1, dtype=np.int64)
        self.devices = np.zeros(self.n, dtype=np.int64)
        self.times = Timeline.of(self.n)
        self.busy = np.zeros(self.n_sites)
        self.nodes = {k: v.copy() for k, v in self.nodes.items()}
        self.holds = {}
        self.sums = defaultdict(float)

    def release_finished(self, t: float) -> None:
        """Finished work leaves its devices."""
        done = (self.site >= 0) & (self.times.end_h <= t + 1e-9)
        for i in np.flatnonzero(done).tolist():
            self._release(i)
        self.site[done], self.model[done], self.devices[done] = -1, -1, 0

    def has_work(self) -> bool:
        """Whether any job runs or waits."""
        return bool((self.site >= 0).any() or self.times.waiting.any())

    def _release(self, i: int) -> None:
        holding = self.holds.pop(i, None)
        if holding is not None:
            self.nodes[(int(self.site[i]), int(self.model[i]))].release(holding)

    def _keeps(self, i: int, to: tuple[int, int, int]) -> bool:
        return (
            self.site[i] >= 0
            and (
                int(self.site[i]),
                int(self.model[i]),
                int(self.devices[i]),
            )
            == to
        )

    def running(self, fleet: Fleet) -> list[Run]:
        """Every running job with its site, model, devices and the times of its run."""
        return [
            Run(
                job=fleet.jobs[i],
                site=fleet.ids[self.site[i]],
                model=fleet.models[self.model[i]],
                devices=int(self.devices[i]),
                start_h=float(self.times.start_h[i]),
                end_h=float(self.times.end_h[i]),
            )
            for i in np.flatnonzero(self.site >= 0).tolist()
        ]

    def node_of(self, i: int) -> Holding | None:
        """The nodes job ``i`` holds (``None``: none, or its pool has no shape)."""
        return self.holds.get(i)

    @staticmethod
    def _target(fleet: Fleet, plan: Plan, index: dict[str, int]) -> Target:
        return {
            index[a.workload_id]: (fleet.site_of[a.site_id], fleet.model_of[a.model], a.devices)
            for a in plan.assignments
        }

    def _misfits(self, fleet: Fleet, target: Target, members: list[int]) -> None:
        """Check a count-only plan against the nodes as they are: the work that stays keeps
        its nodes, the rest is laid best fit; count the placements no node could take."""
        if not self.nodes:
            return
        nodes = {k: v.copy() for k, v in self.nodes.items()}
        holds = dict(self.holds)
        for i in members:
            if i in holds and not self._keeps(i, target.get(i, (-1, -1, 0))):
                nodes[(int(self.site[i]), int(self.model[i]))].release(holds.pop(i))
        checked = [i for i in target if i not in holds and tuple(target[i][:2]) in nodes]
        self.result.count_only_checked += len(checked)
        self.result.count_only_misfits += len(lay(fleet, nodes, holds, target, "best"))

    def _settle(self, fleet: Fleet, target: Target, members: list[int]) -> list[int]:
        """Lay ``target`` on the nodes: the work that keeps its place keeps its nodes, the
        work leaving or moving frees them, the rest is laid with :attr:`fit`. Returns the
        jobs no node could take."""
        for i in members:
            if i in self.holds and not self._keeps(i, target.get(i, (-1, -1, 0))):
                self._release(i)
        return lay(fleet, self.nodes, self.holds, target, self.fit)

    def _start(self, fleet: Fleet, i: int, to: tuple[int, int, int], t: float) -> None:
        self.site[i], self.model[i], self.devices[i] = to
        self.times.start(i, t, float(fleet.duration_h[i]))
        self.result.placed += 1

    def _wait(self, i: int) -> None:
        """Job ``i`` was offered and not placed (or evicted): to the queue."""
        if self.site[i] >= 0:
            self.result.evicted += 1
        self.site[i], self.model[i], self.devices[i] = -1, -1, 0
        self.times.wait(i)
        self.result.unplaced += 1

    def decide_optimizer(
        self, fleet: Fleet, step: Step, solver: SolverConfig, queue: str = "deadline"
    ) -> None:
        """Re-optimise the running work, the queue and the arrivals together; a move costs
        a restart. After the window it decides only while work waits (the running work
        stays where it is).

        With ``queue`` ``deadline`` the queue is offered earliest deadline first, and each
        job that is due (:meth:`Fleet.due`: it meets its deadline placed or kept now, not
        a step later) has :data:`DUE_PRIORITY_BOOST` added to its priority for the solve,
        so the solver leaves it out (or evicts it) only where no work that is not due
        could make room. Work already late is not raised: placing it first would not save
        its deadline. The accounting still charges each job's own penalty. With ``fifo``
        the queue is offered first submitted first at the trace's priorities (as the
        baselines do).

        The solver sees each (site, model)'s nodes as they are, the running work on its
        nodes and held there (:attr:`Problem.running_held`): work that stays keeps its
        nodes and needs no new room; work that moves, and new work, is laid on the free
        nodes. Running work is offered the model it runs on only (its held devices), for
        the rest of its run; waiting work is offered as the arrivals are, in full."""
        network, t, hour = fleet.network, step.t, step.hour
        queued = self.times.queue()
        if not step.in_window and not queued:
            return
        if queue == "deadline":
            queued.sort(key=lambda i: (fleet.deadline_h[i], i))
            running_end = np.where(self.site >= 0, self.times.end_h, np.nan)
            due = fleet.due(t, running_end)
        else:
            due = np.zeros(self.n, dtype=bool)
        members: list[int] = []
        work: list[Workload] = []
        used: dict[tuple[str, str], int] = defaultdict(int)
        for i in np.flatnonzero(self.site >= 0).tolist():
            si, mi = int(self.site[i]), int(self.model[i])
            used[(fleet.ids[si], fleet.models[mi])] += int(self.devices[i])
            kw = fleet.own_kw[i] if not math.isnan(fleet.own_kw[i]) else fleet.power[si, mi]
            restart = (
                self.devices[i] * kw * fleet.pue[si] * DEFAULT_RESTART_H * network.hourly[si, hour]
            )
            members.append(i)
            work.append(
                replace(
                    fleet.jobs[i].workload,
                    duration_h=float(self.times.end_h[i]) - t,
                    demands={fleet.models[mi]: int(self.devices[i])},
                    current_site=fleet.ids[si],
                    migration_cost_yuan=float(restart),
                    priority=_raised(fleet.jobs[i].workload.priority, bool(due[i])),
                )
            )
        for i in queued + step.arriving:
            members.append(i)
            w = fleet.jobs[i].workload
            work.append(replace(w, priority=_raised(w.priority, True)) if due[i] else w)
        if not work:
            return
        problem = Problem(
            sites=tuple(network.sites(t, used, fleet.shapes(self.nodes))),
            workloads=tuple(work),
            hour_elapsed=t - hour,
            hub_max_pue=fleet.hub_caps,
            unplaced_yuan_per_kwh=fleet.unplaced_rate,
            running_held=True,
        )
        plan = solve(problem, solver)
        index = {w.id: i for w, i in zip(work, members, strict=True)}
        target = self._target(fleet, plan, index)
        if self.nodes and self.check_count_only:
            counted = solve(replace(problem, sites=tuple(network.sites(t, used))), solver)
            self._misfits(fleet, self._target(fleet, counted, index), members)
        misses = set(self._settle(fleet, target, members))
        moved_cost = {index[a.workload_id]: a.migration_cost_yuan for a in plan.assignments}
        r = self.result
        r.node_misses += len(misses)
        for i, to in target.items():
            if i in misses:
                continue
            was = int(self.site[i])
            if was < 0:
                self._start(fleet, i, to, t)
                continue
            self.site[i], self.model[i], self.devices[i] = to
            if moved_cost[i] > 0 or was != to[0]:
                r.migrations += 1
                r.migration_cost += moved_cost[i]
        for i in [index[u.workload_id] for u in plan.unplaced] + sorted(misses):
            self._wait(i)

    def decide_baseline(self, fleet: Fleet, step: Step, baseline: str) -> None:
        """Place the queue, then the arrivals, one by one in submit order with ``baseline``
        on the nodes as they are; running work never moves."""
        offered = self.times.queue() + step.arriving
        if not offered:
            return
        used: dict[tuple[str, str], int] = defaultdict(int)
        for i in np.flatnonzero(self.site >= 0).tolist():
            used[(fleet.ids[self.site[i]], fleet.models[self.model[i]])] += int(self.devices[i])
        t = step.t
        problem = Problem(
            sites=tuple(fleet.network.sites(t, used, fleet.shapes(self.nodes))),
            workloads=tuple(fleet.jobs[i].workload for i in offered),
            hour_elapsed=t - int(t),
            hub_max_pue=fleet.hub_caps,
            unplaced_yuan_per_kwh=fleet.unplaced_rate,
        )
        plan = run_baseline(baseline, problem)
        index = {fleet.jobs[i].workload.id: i for i in offered}
        target = self._target(fleet, plan, index)
        if self.nodes and self.check_count_only:
            counted = run_baseline(
                baseline,
                replace(problem, sites=tuple(fleet.network.sites(t, used))),
            )
            self._misfits(fleet, self._target(fleet, counted, index), offered)
        misses = set(self._settle(fleet, target, offered))
        self.result.node_misses += len(misses)
        for i, to in target.items():
            if i not in misses:
                self._start(fleet, i, to, t)
        for i in [index[u.workload_id] for u in plan.unplaced] + sorted(misses):
            self._wait(i)

    def account(self, fleet: Fleet, step: Step) -> None:
        """Charge one step: energy of the running work for its part of the step, and the
        penalty of each waiting job for the whole step; and, in the window, measure the
        devices in use, in fragments and stranded."""
        price = fleet.network.hourly[:, step.hour]
        run = np.flatnonzero(self.site >= 0)
        hrs = np.minimum(self.times.end_h[run], step.t + fleet.period_h) - step.t
        si, mi, dev = self.site[run], self.model[run], self.devices[run]
        kw = np.where(np.isnan(fleet.own_kw[run]), fleet.power[si, mi], fleet.own_kw[run])
        kwh = dev * kw * fleet.pue[si] * hrs
        cost = float((kwh * price[si]).sum())
        r = self.result
        r.energy_cost += cost
        r.energy_kwh += float(kwh.sum())
        r.carbon_kg += float((kwh * fleet.carbon[si]).sum())
        self.west_kwh += float(kwh[fleet.west[si]].sum())
        r.slo_violations += int((fleet.latency[run, si] > fleet.slo[run]).sum())
        used = np.zeros_like(fleet.free)
        np.add.at(used, (si, mi), dev)
        r.capacity_violations += int((used > fleet.free).sum())
        waiting = np.flatnonzero(self.times.waiting)
        r.penalty += float(fleet.penalty_per_h[waiting].sum()) * fleet.period_h
        self.times.waited_h[waiting] += fleet.period_h
        r.cost_per_step.append(cost)
        if self.nodes:
            self._note_shape_waits(fleet, waiting.tolist(), used)
        if step.in_window:
            self.busy += used.sum(axis=1) / np.maximum(fleet.free.sum(axis=1), 1)
            total = max(1, int(fleet.free.sum()))
            self.sums["in_use"] += used.sum() / total
            self._measure_nodes(fleet, waiting.tolist(), total)

    def _measure_nodes(self, fleet: Fleet, waiting: list[int], total: int) -> None:
        """Fragments and stranded devices after the step."""
        if not self.nodes:
            return
        smallest: dict[int, int] = {}
        for i in waiting:
            for m, n in fleet.jobs[i].workload.demands.items():
                mi = fleet.model_of[m]
                smallest[mi] = min(smallest.get(mi, n), n)
        fragmented = stranded = 0
        for (_, mi), nodes in self.nodes.items():
            fragmented += nodes.fragmented()
            if mi in smallest:
                stranded += nodes.stranded(smallest[mi])
        self.sums["fragmented"] += fragmented / total
        self.sums["stranded"] += stranded / total

    def _note_shape_waits(self, fleet: Fleet, waiting: list[int], used: np.ndarray) -> None:
        """Mark the waiting jobs that a site within their SLO has the devices free for,
        but on no node (or not on enough whole nodes) that holds them."""
        times = self.times
        todo = [i for i in waiting if not times.for_whole_nodes[i]]
        if not todo:
            return
        shapes = {key: nodes.shape() for key, nodes in self.nodes.items()}
        room = fleet.free - used
        for i in todo:
            for m, n in fleet.jobs[i].workload.demands.items():
                mi = fleet.model_of[m]
                for si in range(len(fleet.ids)):
                    shape = shapes.get((si, mi))
                    if (
                        shape is not None
                        and fleet.latency[i, si] <= fleet.slo[i]
                        and room[si, mi] >= n
                        and not shape.fits(n)
                    ):
                        times.for_shape[i] = True
                        times.for_whole_nodes[i] |= n >= shape.node_size

    def finish(self, fleet: Fleet, *, bound: float) -> PolicyResult:
        """The policy's totals, with its gap to the replay's hindsight ``bound``; the means
        over the window's steps; the jobs still waiting are dropped; deadline misses and
        waits by deadline class."""
        r, times = self.result, self.times
        steps, ids = fleet.steps, fleet.ids
        r.cost = r.energy_cost + r.migration_cost
        r.objective = r.cost + r.penalty
        r.gap_to_bound = max(0.0, (r.objective - bound) / r.objective) if r.objective else 0.0
        r.west_energy_share = self.west_kwh / r.energy_kwh if r.energy_kwh else 0.0
        r.waited = int((times.waited_h > 0).sum())
        if self.n:
            r.wait_p50_h, r.wait_p95_h = (float(q) for q in np.percentile(times.waited_h, [50, 95]))
        r.shape_waited = int(times.for_shape.sum())
        r.large_waited = int(times.for_whole_nodes.sum())
        r.dropped = int(times.waiting.sum())
        # NaN ends (never started) compare False: a dropped job with a deadline misses it.
        late = (times.end_h > fleet.deadline_h + EPS) | (
            times.waiting & np.isfinite(fleet.deadline_h)
        )
        r.deadline_misses = int(late.sum())
        for c in sorted(set(fleet.classes.tolist())):
            mask = fleet.classes == c
            p50, p95 = (float(q) for q in np.percentile(times.waited_h[mask], [50, 95]))
            r.waits_by_class[c] = ClassWaits(
                jobs=int(mask.sum()), p50_h=p50, p95_h=p95, deadline_misses=int(late[mask].sum())
            )
        if steps:
            r.utilisation = {s: float(u / steps) for s, u in zip(ids, self.busy, strict=True)}
            r.devices_in_use = float(self.sums["in_use"] / steps)
            r.fragmented = float(self.sums["fragmented"] / steps)
            r.stranded = float(self.sums["stranded"] / steps)
        return r


def _raised(priority: int, due: bool) -> int:
    """The priority a job is solved with: raised by :data:`DUE_PRIORITY_BOOST` when due."""
    return priority + DUE_PRIORITY_BOOST if due else priority
