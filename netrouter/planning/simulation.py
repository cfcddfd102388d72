"""The trace replay's simulation: every job and every (site, model) as arrays in one
:class:`Fleet`, one policy's placements over them in a :class:`PolicyState`, and each step's
decisions, accounting and hindsight relaxation.

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
from netrouter.planning.replay_report import PolicyResult
from solver import (
    NodeShape,
    Plan,
    Problem,
    Site,
    SolverConfig,
    Workload,
    build_table,
    run_baseline,
    solve,
)
from solver.relax import relax


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
    start_h: np.ndarray  # per job
    end_h: np.ndarray  # per job
    own_kw: np.ndarray  # per job: its own kW per device (NaN: the model's)
    slo: np.ndarray  # per job: latency SLO in ms (inf: none)
    latency: np.ndarray  # jobs × sites: RTT from the job's origin (inf: none measured)
    by_step: dict[int, list[int]]  # step → the jobs that start in it
    hub_caps: dict[str, float]
    unplaced_rate: float  # 元 per IT kWh of work left out
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
            start_h=np.array([j.start_h for j in jobs]),
            end_h=np.array([j.end_h for j in jobs]),
            own_kw=own_w / 1000.0,
            slo=np.array([j.workload.latency_slo_ms or np.inf for j in jobs]),
            latency=latency,
            by_step=dict(by_step),
            hub_caps=network.hub_caps(),
            unplaced_rate=network.unplaced_yuan_per_kwh(math.ceil(hours)),
            nodes={
                (site_of[sid], model_of[m]): Nodes.of(nodes)
                for (sid, m), nodes in network.layout.items()
                if nodes
            },
        )

    def shapes(self, nodes: dict[tuple[int, int], Nodes]) -> dict[tuple[str, str], NodeShape]:
        """The solver's node shapes of these nodes, by (site id, model)."""
        return {(self.ids[si], self.models[mi]): n.shape() for (si, mi), n in nodes.items()}


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Step:
    """One decision period: when it starts, who arrives, who is active and for how long."""

    t: float  # hours into the replay
    hour: int  # the tariff hour (steps never straddle one)
    arriving: list[int]
    active: np.ndarray  # jobs running in the step, whatever a policy did with them
    overlap: np.ndarray  # hours of the step each active job runs
    sites: list[Site]  # the solver's sites, with all their free devices

    @classmethod
    def at(cls, fleet: Fleet, index: int, period_h: float) -> Step:
        """Step ``index`` of ``fleet``'s replay."""
        t = index * period_h
        active = np.flatnonzero((fleet.start_h <= t + 1e-9) & (fleet.end_h > t + 1e-9))
        return cls(
            t=t,
            hour=int(t),
            arriving=fleet.by_step.get(index, []),
            active=active,
            overlap=np.minimum(fleet.end_h[active], t + period_h) - t,
            sites=fleet.network.sites(t),
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class StepBound:
    """A step's relaxation over every active job: its bound and each job's penalty rate."""

    bound: float
    penalty_rate: np.ndarray  # per job: 元 if left out for its part of the step


def relax_step(fleet: Fleet, step: Step) -> StepBound:
    """The step's relaxation (:func:`solver.relax.relax`), each run priced for its stretch."""
    penalty_rate = np.zeros(len(fleet.jobs))
    if not step.active.size:
        return StepBound(bound=0.0, penalty_rate=penalty_rate)
    problem = Problem(
        sites=tuple(step.sites),
        workloads=tuple(
            replace(fleet.jobs[i].workload, duration_h=float(o), current_site=None)
            for i, o in zip(step.active.tolist(), step.overlap.tolist(), strict=True)
        ),
        hour_elapsed=step.t - step.hour,
        hub_max_pue=fleet.hub_caps,
        unplaced_yuan_per_kwh=fleet.unplaced_rate,
    )
    table, _ = build_table(problem)
    penalty_rate[step.active] = table.penalty
    return StepBound(bound=relax(table).bound, penalty_rate=penalty_rate)


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


# Mutable: a policy's placements change in place at every step.
@dataclass(slots=True)
class PolicyState:
    """One policy's ``n`` jobs: where each runs (site, model indices, devices; −1 none),
    and whether it was left out; and the share of each of the ``n_sites`` sites in use,
    summed over the steps. With ``nodes`` (the fleet's, copied), which nodes each running
    job holds; placements are laid on them with ``fit`` (see
    :mod:`~netrouter.planning.replay_nodes`)."""

    n: int
    n_sites: int
    nodes: dict[tuple[int, int], Nodes] = field(default_factory=dict)
    fit: str = "best"
    check_count_only: bool = True
    site: np.ndarray = field(init=False)
    model: np.ndarray = field(init=False)
    devices: np.ndarray = field(init=False)
    out: np.ndarray = field(init=False)
    holds: dict[int, Holding] = field(init=False)
    left_now: list[int] = field(init=False)
    result: PolicyResult = field(default_factory=PolicyResult)
    busy: np.ndarray = field(init=False)
    west_kwh: float = 0.0
    sums: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        self.site = np.full(self.n, -1, dtype=np.int64)
        self.model = np.full(self.n, -1, dtype=np.int64)
        self.devices = np.zeros(self.n, dtype=np.int64)
        self.out = np.zeros(self.n, dtype=bool)
        self.busy = np.zeros(self.n_sites)
        self.nodes = {k: v.copy() for k, v in self.nodes.items()}
        self.holds = {}
        self.left_now = []
        self.sums = defaultdict(float)

    def release_finished(self, fleet: Fleet, t: float) -> None:
        """Finished work leaves its devices."""
        done = (self.site >= 0) & (fleet.end_h <= t + 1e-9)
        for i in np.flatnonzero(done).tolist():
            self._release(i)
        self.site[done], self.model[done], self.devices[done] = -1, -1, 0
        self.left_now = []

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

    def running(self, fleet: Fleet) -> list[tuple[Job, str, str, int]]:
        """Every running job with its site, model and devices."""
        return [
            (
                fleet.jobs[i],
                fleet.ids[self.site[i]],
                fleet.models[self.model[i]],
                int(self.devices[i]),
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

    def decide_optimizer(self, fleet: Fleet, step: Step, solver: SolverConfig) -> None:
        """Re-optimise the running work and the arrivals together; a move costs a restart.

        The solver sees each (site, model)'s nodes as they are, the running work on its
        nodes and held there (:attr:`Problem.running_held`): work that stays keeps its
        nodes and needs no new room; work that moves, and new work, is laid on the free
        nodes. Running work is offered the model it runs on only (its held devices)."""
        network, t, hour = fleet.network, step.t, step.hour
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
                    duration_h=fleet.jobs[i].end_h - t,
                    demands={fleet.models[mi]: int(self.devices[i])},
                    current_site=fleet.ids[si],
                    migration_cost_yuan=float(restart),
                )
            )
        for i in step.arriving:
            members.append(i)
            work.append(fleet.jobs[i].workload)
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
        for i, (si, mi, dev) in target.items():
            if i in misses:
                continue
            was = int(self.site[i])
            self.site[i], self.model[i], self.devices[i] = si, mi, dev
            if was < 0:
                r.placed += 1
            elif moved_cost[i] > 0 or was != si:
                r.migrations += 1
                r.migration_cost += moved_cost[i]
        for i in [index[u.workload_id] for u in plan.unplaced] + sorted(misses):
            if self.site[i] >= 0:
                r.evicted += 1
            self.site[i], self.model[i], self.devices[i] = -1, -1, 0
            self.out[i] = True
            self.left_now.append(i)
            r.unplaced += 1

    def decide_baseline(self, fleet: Fleet, step: Step, baseline: str) -> None:
        """Place the arrivals one by one with ``baseline`` on the nodes as they are;
        running work never moves."""
        if not step.arriving:
            return
        used: dict[tuple[str, str], int] = defaultdict(int)
        for i in np.flatnonzero(self.site >= 0).tolist():
            used[(fleet.ids[self.site[i]], fleet.models[self.model[i]])] += int(self.devices[i])
        t = step.t
        problem = Problem(
            sites=tuple(fleet.network.sites(t, used, fleet.shapes(self.nodes))),
            workloads=tuple(fleet.jobs[i].workload for i in step.arriving),
            hour_elapsed=t - int(t),
            hub_max_pue=fleet.hub_caps,
            unplaced_yuan_per_kwh=fleet.unplaced_rate,
        )
        plan = run_baseline(baseline, problem)
        index = {fleet.jobs[i].workload.id: i for i in step.arriving}
        target = self._target(fleet, plan, index)
        if self.nodes and self.check_count_only:
            counted = run_baseline(
                baseline,
                replace(problem, sites=tuple(fleet.network.sites(t, used))),
            )
            self._misfits(fleet, self._target(fleet, counted, index), step.arriving)
        misses = set(self._settle(fleet, target, step.arriving))
        self.result.node_misses += len(misses)
        for i, (si, mi, dev) in target.items():
            if i in misses:
                continue
            self.site[i], self.model[i], self.devices[i] = si, mi, dev
            self.result.placed += 1
        for i in [index[u.workload_id] for u in plan.unplaced] + sorted(misses):
            self.out[i] = True
            self.left_now.append(i)
            self.result.unplaced += 1

    def account(self, fleet: Fleet, step: Step, penalty_rate: np.ndarray) -> None:
        """Charge one step: energy of the running work, penalties of the left-out work;
        and measure the devices in use, in fragments and stranded."""
        active, price = step.active, fleet.network.hourly[:, step.hour]
        on = self.site[active] >= 0
        run, hrs = active[on], step.overlap[on]
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
        self.busy += used.sum(axis=1) / np.maximum(fleet.free.sum(axis=1), 1)
        left = active[self.out[active]]
        r.penalty += float(penalty_rate[left].sum())
        r.cost_per_step.append(cost)
        total = max(1, int(fleet.free.sum()))
        self.sums["in_use"] += used.sum() / total
        self._measure_nodes(fleet, used, total)

    def _measure_nodes(self, fleet: Fleet, used: np.ndarray, total: int) -> None:
        """Fragments, stranded devices and the work left out for shape, after the step."""
        if not self.nodes:
            return
        smallest: dict[int, int] = {}
        for i in self.left_now:
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
        for i in self.left_now:
            if self._refused_for_shape(fleet, i, used):
                self.result.shape_refused += 1

    def _refused_for_shape(self, fleet: Fleet, i: int, used: np.ndarray) -> bool:
        """Whether a site within job ``i``'s SLO has its devices free, but on no node (or
        not on enough whole nodes) that holds it."""
        for m, n in fleet.jobs[i].workload.demands.items():
            mi = fleet.model_of[m]
            for si in range(len(fleet.ids)):
                nodes = self.nodes.get((si, mi))
                if (
                    nodes is not None
                    and fleet.latency[i, si] <= fleet.slo[i]
                    and fleet.free[si, mi] - used[si, mi] >= n
                    and not nodes.shape().fits(n)
                ):
                    return True
        return False

    def finish(self, *, bound: float, steps: int, ids: list[str]) -> PolicyResult:
        """The policy's totals, with its gap to the replay's hindsight ``bound``."""
        r = self.result
        r.cost = r.energy_cost + r.migration_cost
        r.objective = r.cost + r.penalty
        r.gap_to_bound = max(0.0, (r.objective - bound) / r.objective) if r.objective else 0.0
        r.west_energy_share = self.west_kwh / r.energy_kwh if r.energy_kwh else 0.0
        if steps:
            r.utilisation = {s: float(u / steps) for s, u in zip(ids, self.busy, strict=True)}
            r.devices_in_use = float(self.sums["in_use"] / steps)
            r.fragmented = float(self.sums["fragmented"] / steps)
            r.stranded = float(self.sums["stranded"] / steps)
        return r
