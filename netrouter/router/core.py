"""The router: live site state + durable placements + the solver.

Every change goes through one committer task, in order: a request becomes an operation on
a queue; the committer takes every operation waiting (up to a group size), decides each
against the in-memory state (which the ones before it in the group already changed), writes
all their changes to the store in one transaction, and only then answers them and tells the
watchers. So no two calls can book the same devices, an answer means the change is durable,
and a burst of small calls costs one disk sync instead of one each. If the write fails,
the in-memory changes are undone and every call of the group fails with UNAVAILABLE.

A single workload is placed by :class:`solver.single.SiteArrays` (exact for one workload,
no re-solve); a batch by the full optimizer. When a site goes down (its last will, or its
report older than the TTL), the committer re-places its work elsewhere in one batch solve:
each placement is moved (a ``moved`` event) or, if nothing can take it, evicted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from netrouter.client.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    RouterError,
)
from netrouter.client.scenario import Scenario
from netrouter.client.types import (
    ACTIVE,
    EVICTED,
    MIN_REMAINING_H,
    MOVED,
    PLACED,
    RELEASED,
    STATES,
    AcceleratorCapacity,
    Move,
    Placement,
    PlacementEvent,
    PlaceResult,
    RebalanceResult,
    SiteView,
    Snapshot,
    SolveInfo,
    Workload,
    remaining_work,
)
from netrouter.client.whatif_report import WhatIfReport
from netrouter.client.workload_file import known_regions
from netrouter.client.world import ScenarioError
from netrouter.contract.names import NATIONAL_REGIONS
from netrouter.contract.site_report import SiteReport
from netrouter.planning.network import NetworkModel
from netrouter.planning.problem import (
    alternative_from_solver,
    hour_elapsed,
    report_regions,
    solver_sites,
    solver_workload,
    tariff_from_now,
    unplaced_from_solver,
)
from netrouter.planning.whatif import DEFAULT_SOLVER as DEFAULT_WHATIF_SOLVER
from netrouter.planning.whatif import run_whatif
from netrouter.router.events import EventHub
from netrouter.router.state import SiteRegistry
from netrouter.router.store import Change, PlacementStore
from solver import Assignment, Plan, Problem, Site, SolverConfig, solve
from solver.single import SiteArrays

log = logging.getLogger(__name__)

VIEW_REFRESH_S = 0.25
"""How long the priced view of the sites (prices, PUE, latency, transfer prices) is reused
while the same sites are up. Capacity is taken from every accepted report at once, and a
site going down or coming up rebuilds the view at once."""
MAX_ALTERNATIVES = 8
"""Cheaper sites kept per placement, cheapest first (the explanation counts every one)."""


PLACE_SOLVER = SolverConfig(relative_gap_limit=1e-3)
"""A batch Place stops once proven within 0.1% of the optimum (closing the last hundredths
of a percent can take the whole time limit)."""
FAILOVER_SOLVER = SolverConfig(time_limit_s=2.0, relative_gap_limit=1e-3)


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterSettings:
    """Limits and solver settings of a router instance."""

    solver: SolverConfig = field(default_factory=lambda: PLACE_SOLVER)
    failover_solver: SolverConfig = field(default_factory=lambda: FAILOVER_SOLVER)
    whatif_solver: SolverConfig = field(default_factory=lambda: DEFAULT_WHATIF_SOLVER)
    max_batch: int = 10_000
    regions: tuple[str, ...] = NATIONAL_REGIONS
    """The demand regions a workload may come from (``[network] regions``)."""
    default_page_size: int = 100
    max_page_size: int = 1_000
    max_group: int = 512
    sweep_interval_s: float = 0.5
    min_remaining_h: float = MIN_REMAINING_H
    watch_queue: int = 10_000


def capacities(
    report: SiteReport, usage: Mapping[tuple[str, str], int]
) -> tuple[AcceleratorCapacity, ...]:
    """Each model's capacity at a site, net of others' use and of our active placements.

    Free is never negative, even when a site shrinks under our placements.
    """
    result = []
    for a in report.accelerators:
        placed = usage.get((report.site_id, a.model), 0)
        result.append(
            AcceleratorCapacity(
                model=a.model,
                total=a.total,
                healthy=a.healthy,
                in_use_by_others=a.in_use_by_others,
                placed=placed,
                free=max(0, a.available - placed),
                power_w=a.power_w,
            )
        )
    return tuple(result)


@dataclass(frozen=True, slots=True)
class SitesView:
    """The sites up at one instant, priced for the solver (free capacity left out), with
    the hubs' PUE caps."""

    key: tuple[int, int]
    now: float
    reports: tuple[SiteReport, ...]
    sites: tuple[Site, ...]
    arrays: SiteArrays
    capacity: tuple[tuple[tuple[str, str], int], ...]
    """(site, model) → healthy devices not used by others."""
    capacity_of: Mapping[tuple[str, str], int]
    hub_max_pue: Mapping[str, float]

    def problem(
        self, workloads: Sequence[Workload], free: Mapping[tuple[str, str], int]
    ) -> Problem:
        """A solver problem for ``workloads`` on these sites with this free capacity."""
        sites = tuple(
            replace(s, free={m: free.get((s.id, m), 0) for m in s.power_w}) for s in self.sites
        )
        return Problem(
            sites=sites,
            workloads=tuple(solver_workload(w) for w in workloads),
            hour_elapsed=hour_elapsed(self.now),
            hub_max_pue=self.hub_max_pue,
        )


class _FreeView(Mapping[tuple[str, str], int]):
    """Free devices per (site, model), computed only for the keys looked up."""

    def __init__(
        self, capacity: Mapping[tuple[str, str], int], usage: Mapping[tuple[str, str], int]
    ) -> None:
        self._capacity, self._usage = capacity, usage

    def __getitem__(self, key: tuple[str, str]) -> int:
        return max(0, self._capacity[key] - self._usage.get(key, 0))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._capacity)

    def __len__(self) -> int:
        return len(self._capacity)


@dataclass(slots=True)
class _Op:
    """A queued request for the committer."""

    kind: str
    args: dict[str, Any]
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Decided:
    """An operation's answer and the changes that must be durable before it is given."""

    op: _Op
    result: Any
    changes: list[Change]
    undo: list[tuple[str, Placement | None]]


class Router:
    """Places, moves, releases and lists work against the live view of the sites."""

    def __init__(
        self,
        *,
        registry: SiteRegistry,
        store: PlacementStore,
        settings: RouterSettings | None = None,
        network: NetworkModel | None = None,
        clock: Callable[[], float] = time.time,
        on_commit: Callable[[Sequence[PlacementEvent]], None] | None = None,
        on_solve: Callable[[str, float], None] | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.settings = settings or RouterSettings()
        self.network = network or NetworkModel()
        self.hub = EventHub(self.settings.watch_queue)
        self._clock = clock
        self._on_commit = on_commit
        self._on_solve = on_solve
        self._queue: asyncio.Queue[_Op] | None = None
        self._committer: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._view: SitesView | None = None
        # The in-memory mirror of the store's active placements (the committer's truth).
        self._active: dict[str, Placement] = {}
        self._by_workload: dict[str, str] = {}
        self._usage: Counter[tuple[str, str]] = Counter()
        for p in store.active():
            self._remember(p)
        registry.on_down = self._site_going_down

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Router:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the committer and the failover sweeper."""
        self._ensure_committer()
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="failover-sweeper")

    async def stop(self) -> None:
        """Finish queued operations, then stop the background tasks."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._queue is not None and self._committer is not None:
            await self._queue.join()
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
            self._committer = None
        self.hub.close()

    def _ensure_committer(self) -> asyncio.Queue[_Op]:
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_loop(), name="committer")
        return self._queue

    async def _submit(self, kind: str, **args: Any) -> Any:
        queue = self._ensure_committer()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        queue.put_nowait(_Op(kind, args, future))
        return await future

    # --- public operations -------------------------------------------------------------

    async def place(self, workloads: Sequence[Workload], *, dry_run: bool = False) -> PlaceResult:
        """Place a batch and, unless ``dry_run``, commit it before returning."""
        if not workloads:
            raise InvalidArgumentError("workloads", "at least one workload is needed")
        if len(workloads) > self.settings.max_batch:
            raise ResourceExhaustedError(
                f"workloads: {len(workloads)} in one batch, at most {self.settings.max_batch}"
            )
        seen: set[str] = set()
        for i, w in enumerate(workloads):
            if w.id in seen:
                raise InvalidArgumentError(f"workloads[{i}].id", f"duplicate id {w.id!r} in batch")
            seen.add(w.id)
        workloads = known_regions(workloads, self.settings.regions)
        result: PlaceResult = await self._submit("place", workloads=workloads, dry_run=dry_run)
        return result

    async def release(self, placement_ids: Sequence[str]) -> list[Placement]:
        """Release active placements by id (all or none), freeing their devices."""
        if not placement_ids:
            raise InvalidArgumentError("placement_ids", "at least one id is needed")
        seen: set[str] = set()
        for i, pid in enumerate(placement_ids):
            if not pid:
                raise InvalidArgumentError(f"placement_ids[{i}]", "must not be empty")
            if pid in seen:
                raise InvalidArgumentError(f"placement_ids[{i}]", f"duplicate id {pid!r}")
            seen.add(pid)
        released: list[Placement] = await self._submit("release", placement_ids=placement_ids)
        return released

    async def what_if(
        self,
        scenarios: Sequence[Scenario],
        *,
        at: float | None = None,
        config: SolverConfig | None = None,
    ) -> WhatIfReport:
        """The live state and each scenario of it, solved side by side (nothing committed;
        see :mod:`netrouter.planning.whatif`). A scenario naming what the state lacks raises
        :class:`InvalidArgumentError`."""
        snapshot = await self.snapshot()
        try:
            return await asyncio.to_thread(
                run_whatif,
                snapshot,
                scenarios,
                at=at,
                config=config or self.settings.whatif_solver,
            )
        except ScenarioError as exc:
            raise InvalidArgumentError("scenarios", str(exc)) from exc

    async def rebalance(
        self, *, commit: bool = False, max_moves: int = 0, min_saving_yuan: float = 0.0
    ) -> RebalanceResult:
        """Re-optimise all running work; move the best ``max_moves`` (0: no cap) that each
        save at least ``min_saving_yuan``. Work on a site over its hub's PUE cap moves first,
        whatever it saves, when some site can take it. Nothing moves unless ``commit``."""
        if not math.isfinite(min_saving_yuan) or min_saving_yuan < 0:
            raise InvalidArgumentError("min_saving_yuan_per_move", "must be a finite number >= 0")
        result: RebalanceResult = await self._submit(
            "rebalance", commit=commit, max_moves=max_moves, min_saving=min_saving_yuan
        )
        return result

    async def fail_over(self) -> int:
        """Re-place the work of every site that is down now (the sweeper does this itself);
        return how many placements were moved or evicted."""
        changed: int = await self._submit("failover")
        return changed

    async def remove_site(self, site_id: str) -> SiteView:
        """Forget a site that is gone, durably, until it reports again; refused while it has
        active placements. Returns the site as it was."""
        if not site_id:
            raise InvalidArgumentError("site_id", "must not be empty")
        removed: SiteView = await self._submit("remove_site", site_id=site_id)
        return removed

    async def get_placement(self, placement_id: str) -> Placement:
        """One placement by id."""
        if not placement_id:
            raise InvalidArgumentError("placement_id", "must not be empty")
        active = self._active.get(placement_id)
        if active is not None:
            return active
        return await asyncio.to_thread(self.store.get, placement_id)

    async def list_placements(
        self,
        *,
        site_id: str = "",
        state: str = "",
        page_size: int = 0,
        page_token: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> tuple[list[Placement], str]:
        """A page of placements and the token of the next page ("" when none)."""
        state = state or ACTIVE
        if state not in (*STATES, "all"):
            raise InvalidArgumentError(
                "state", f"must be one of {', '.join(STATES)} or all, got {state!r}"
            )
        if page_size > self.settings.max_page_size:
            raise InvalidArgumentError("page_size", f"at most {self.settings.max_page_size}")
        try:
            after = int(page_token) if page_token else 0
            if after < 0:
                raise ValueError(page_token)
        except ValueError as exc:
            raise InvalidArgumentError("page_token", "not a token this server issued") from exc
        page, cursor = await asyncio.to_thread(
            self.store.page,
            site_id=site_id,
            state=state,
            limit=page_size or self.settings.default_page_size,
            after_seq=after,
            labels=labels,
        )
        return page, "" if cursor is None else str(cursor)

    def usage(self) -> dict[tuple[str, str], int]:
        """Devices held by our active placements, per (site, model)."""
        return {k: v for k, v in self._usage.items() if v}

    def active_placements(self) -> list[Placement]:
        """Every active placement (a copy of the committer's view)."""
        return list(self._active.values())

    @property
    def active_count(self) -> int:
        return len(self._active)

    async def list_sites(self) -> list[SiteView]:
        """The live view of every known site, capacity net of our placements."""
        return self.site_views()

    def site_views(self) -> list[SiteView]:
        """The live view of every known site (callable from any thread for metrics)."""
        now = self._clock()
        usage = self.usage()
        return [self._site_view(r, now, usage) for r in self.registry.reports()]

    def _site_view(
        self, r: SiteReport, now: float, usage: Mapping[tuple[str, str], int]
    ) -> SiteView:
        """One site's live view from its latest report."""
        live = self.registry.liveness(r.site_id)
        return SiteView(
            site_id=r.site_id,
            labels=r.labels,
            up=live.up,
            down_reason=live.reason,
            report_age_s=live.age_s,
            pue=r.pue,
            price_now_yuan_per_kwh=tariff_from_now(r, now)[0],
            carbon_kg_per_kwh=r.carbon_kg_per_kwh,
            accelerators=capacities(r, usage),
            latencies=r.latencies,
            price_band_now=r.band_now,
            agents=tuple(self.registry.agents(r.site_id)),
            pue_source=r.pue_source,
            pue_age_s=r.pue_age_s,
            ttl_s=self.registry.ttl_s(r),
            held_down_s=live.held_down_s,
            pue_mean=r.pue_mean,
            over_pue_cap=self.registry.over_pue_cap(r.site_id),
        )

    async def snapshot(self) -> Snapshot:
        """The whole state at one instant (sites, their reports, active work, links)."""
        return Snapshot(
            taken_at=self._clock(),
            site_reports=tuple(self.registry.reports()),
            placements=tuple(self._active.values()),
            sites=tuple(await self.list_sites()),
            links=self.network.links,
            last_event_id=self.hub.last_event_id or self.store.last_event_id(),
            pue_cap_hysteresis=self.registry.pue_policy.hysteresis,
        )

    async def watch_position(self, *, after_event_id: int = 0, from_start: bool = False) -> int:
        """Where a watch starts: 0 with ``from_start``, else ``after_event_id``, else (0)
        the newest event now."""
        if from_start:
            return 0
        if after_event_id:
            return after_event_id
        return self.hub.last_event_id or await asyncio.to_thread(self.store.last_event_id)

    async def watch(self, after_event_id: int) -> AsyncIterator[PlacementEvent]:
        """Every event after ``after_event_id`` (0: all), then each new one as it is
        committed, in order, without gaps or repeats."""
        # Subscribe before reading the store, so nothing committed in between is missed;
        # what both deliver is skipped by id.
        subscription = self.hub.subscribe()
        last = after_event_id
        try:
            while True:
                while True:
                    backlog = await asyncio.to_thread(self.store.events_after, last, 1000)
                    for event in backlog:
                        yield event
                        last = event.event_id
                    if len(backlog) < 1000:
                        break
                # Follow the live feed until it overflows (a slow watcher), then catch up
                # from the store again from where we are.
                while not subscription.overflowed:
                    live = await subscription.get()
                    if live is None:
                        return  # the router is stopping
                    if live.event_id > last:
                        yield live
                        last = live.event_id
                subscription.recover()
        finally:
            self.hub.unsubscribe(subscription)

    # --- the committer -----------------------------------------------------------------

    async def _commit_loop(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            ops = [await queue.get()]
            while len(ops) < self.settings.max_group and not queue.empty():
                ops.append(queue.get_nowait())
            try:
                await self._run_group(ops)
            except Exception as exc:  # a bug must not kill the committer
                log.exception("committer failed on a group of %d operations", len(ops))
                for op in ops:
                    if not op.future.done():
                        op.future.set_exception(exc)
            finally:
                for _ in ops:
                    queue.task_done()

    async def _run_group(self, ops: list[_Op]) -> None:
        decided: list[_Decided] = []
        for op in ops:
            if op.future.cancelled():
                continue  # the caller gave up before we started: do nothing for it
            undo: list[tuple[str, Placement | None]] = []
            try:
                result, changes = await self._decide(op, undo)
            except RouterError as exc:
                self._undo(undo)
                op.future.set_exception(exc)
                continue
            decided.append(_Decided(op, result, changes, undo))
        changes = [c for d in decided for c in d.changes]
        events: list[PlacementEvent] = []
        if changes:
            try:
                events = await asyncio.to_thread(self.store.commit, changes, self._clock())
            except RouterError as exc:
                for d in reversed(decided):
                    self._undo(d.undo)
                log.error("store write of %d changes failed: %s", len(changes), exc)
                for d in decided:
                    if not d.op.future.done():
                        d.op.future.set_exception(exc)
                return
            self.hub.publish(events)
            if self._on_commit is not None:
                self._on_commit(events)
        stamped = {e.placement.placement_id: e.placement for e in events}
        for d in decided:
            if not d.op.future.done():
                d.op.future.set_result(_stamp(d.result, stamped))

    async def _decide(
        self, op: _Op, undo: list[tuple[str, Placement | None]]
    ) -> tuple[Any, list[Change]]:
        if op.kind == "place":
            return await self._decide_place(op.args["workloads"], op.args["dry_run"], undo)
        if op.kind == "release":
            return self._decide_release(op.args["placement_ids"], undo)
        if op.kind == "failover":
            return await self._decide_failover(undo)
        if op.kind == "rebalance":
            return await self._decide_rebalance(undo=undo, **{k: op.args[k] for k in op.args})
        if op.kind == "remove_site":
            return await self._decide_remove_site(op.args["site_id"]), []
        raise AssertionError(op.kind)

    # --- in-memory state ---------------------------------------------------------------

    def _remember(self, p: Placement) -> None:
        self._active[p.placement_id] = p
        self._by_workload[p.workload.id] = p.placement_id
        self._usage[(p.site_id, p.accelerator_model)] += p.devices

    def _forget(self, p: Placement) -> None:
        del self._active[p.placement_id]
        self._by_workload.pop(p.workload.id, None)
        self._usage[(p.site_id, p.accelerator_model)] -= p.devices

    def _apply(self, change: Change, undo: list[tuple[str, Placement | None]]) -> None:
        p = change.placement
        before = self._active.get(p.placement_id)
        undo.append((p.placement_id, before))
        if before is not None:
            self._forget(before)
        if p.state == ACTIVE:
            self._remember(p)

    def _undo(self, undo: list[tuple[str, Placement | None]]) -> None:
        for pid, before in reversed(undo):
            now = self._active.get(pid)
            if now is not None:
                self._forget(now)
            if before is not None:
                self._remember(before)
        undo.clear()

    def _free(self, view: SitesView) -> dict[tuple[str, str], int]:
        usage = self._usage
        return {key: max(0, n - usage.get(key, 0)) for key, n in view.capacity}

    def sites_view(self, now: float | None = None) -> SitesView:
        """The up sites priced at ``now`` (cached up to 0.25 s while no site goes up or down
        and none reports other devices: reports that only repeat a site's inventory wait for
        the next period, as prices do)."""
        now = self._clock() if now is None else now
        key = (self.registry.capacity_version, math.floor(now / VIEW_REFRESH_S))
        view = self._view
        if view is not None and view.key == key:
            return view
        reports = tuple(self.registry.up_reports())
        if not reports:
            known = len(self.registry.reports())
            raise FailedPreconditionError(
                f"no site is up (of {known} known): nothing can be placed"
            )
        capacity = tuple(
            ((r.site_id, a.model), a.available) for r in reports for a in r.accelerators
        )
        if (
            view is not None
            and view.key[1] == key[1]
            and [r.site_id for r in view.reports] == [r.site_id for r in reports]
        ):
            # The same sites, new reports within one refresh period: their capacity counts
            # now; pricing them again (network paths, tariffs) waits for the next period, so
            # a stream of reports does not re-price every site on every Place.
            view = replace(
                view, key=key, reports=reports, capacity=capacity, capacity_of=dict(capacity)
            )
            self._view = view
            return view
        sites = self._sites(reports, now)
        caps = self.registry.pue_policy.caps()
        problem = Problem(
            sites=sites, workloads=(), hour_elapsed=hour_elapsed(now), hub_max_pue=caps
        )
        view = SitesView(
            key, now, reports, sites, SiteArrays(problem), capacity, dict(capacity), caps
        )
        self._view = view
        return view

    def _sites(self, reports: Sequence[SiteReport], now: float) -> tuple[Site, ...]:
        known = self.registry.reports()
        policy = self.registry.pue_policy
        return solver_sites(
            reports,
            self.network,
            fresh=self.registry.fresh_reports(),
            regions=report_regions(known),
            now=now,
            pue_cap_margins={r.site_id: policy.margin(r.site_id) for r in reports},
        )

    def problem_for(self, workloads: Sequence[Workload], now: float | None = None) -> Problem:
        """The solver input for ``workloads`` against the sites up now (for baselines too)."""
        view = self.sites_view(now)
        return view.problem(workloads, self._free(view))

    async def _solve(self, problem: Problem, config: SolverConfig) -> Plan:
        plan = await asyncio.to_thread(solve, problem, config)
        if self._on_solve is not None:
            self._on_solve(plan.method, plan.wall_s)
        return plan

    # --- deciding ----------------------------------------------------------------------

    async def _decide_place(
        self,
        workloads: Sequence[Workload],
        dry_run: bool,
        undo: list[tuple[str, Placement | None]],
    ) -> tuple[PlaceResult, list[Change]]:
        taken = sorted(w.id for w in workloads if w.id in self._by_workload)
        if taken:
            raise AlreadyExistsError(f"workloads already placed: {', '.join(taken[:5])}")
        now = self._clock()
        view = self.sites_view(now)
        if len(workloads) == 1:
            plan = view.arrays.place(
                solver_workload(workloads[0]),
                _FreeView(view.capacity_of, self._usage),
                max_alternatives=MAX_ALTERNATIVES,
            )
            if self._on_solve is not None:
                self._on_solve(plan.method, plan.wall_s)
        else:
            plan = await self._solve(
                view.problem(workloads, self._free(view)), self.settings.solver
            )
        by_id = {w.id: w for w in workloads}
        placements = [
            _placement(uuid.uuid4().hex, by_id[a.workload_id], a, now) for a in plan.assignments
        ]
        changes = [] if dry_run else [Change(kind=PLACED, placement=p) for p in placements]
        for c in changes:
            self._apply(c, undo)
        if len(workloads) > 1 or log.isEnabledFor(logging.DEBUG):
            log.log(
                logging.INFO if len(workloads) > 1 else logging.DEBUG,
                "placed %d of %d workloads (%s, gap %.4f, %.3f s)%s",
                len(placements),
                len(workloads),
                plan.status,
                plan.gap,
                plan.wall_s,
                " [dry run]" if dry_run else "",
            )
        result = PlaceResult(
            placements=tuple(placements),
            unplaced=tuple(unplaced_from_solver(u) for u in plan.unplaced),
            solve=_solve_info(plan),
            dry_run=dry_run,
        )
        return result, changes

    def _decide_release(
        self, placement_ids: Sequence[str], undo: list[tuple[str, Placement | None]]
    ) -> tuple[list[Placement], list[Change]]:
        changes = []
        for pid in placement_ids:
            p = self._active.get(pid)
            if p is None:
                raise NotFoundError(f"placement {pid!r} is not active")
            changes.append(
                Change(kind=RELEASED, placement=replace(p, state=RELEASED, end_reason="released"))
            )
        for c in changes:
            self._apply(c, undo)
        return [c.placement for c in changes], changes

    def _remaining(self, p: Placement, now: float, current_site: str) -> Workload:
        """The rest of a running placement's work, as a workload that runs at ``current_site``."""
        return remaining_work(
            p, now, min_remaining_h=self.settings.min_remaining_h, current_site=current_site
        )

    async def _decide_failover(
        self, undo: list[tuple[str, Placement | None]]
    ) -> tuple[int, list[Change]]:
        down: dict[str, str] = {}
        for site_id in self._sites_with_work():
            if self._needs_failover(site_id):
                down[site_id] = self.registry.liveness(site_id).reason
        stranded = [p for p in self._active.values() if p.site_id in down]
        if not stranded:
            return 0, []
        now = self._clock()
        try:
            view = self.sites_view(now)
        except FailedPreconditionError:
            log.warning(
                "%d placements on down sites %s: no site is up to take them",
                len(stranded),
                ", ".join(sorted(down)),
            )
            return 0, []
        work = [self._remaining(p, now, p.site_id) for p in stranded]
        started = time.perf_counter()
        plan = await self._solve(
            view.problem(work, self._free(view)), self.settings.failover_solver
        )
        by_workload = {p.workload.id: p for p in stranded}
        changes: list[Change] = []
        for a in plan.assignments:
            old = by_workload[a.workload_id]
            moved = _placement(old.placement_id, old.workload, a, old.created_at)
            why = f"site {old.site_id} down: {down[old.site_id]}"
            changes.append(
                Change(kind=MOVED, placement=moved, from_site_id=old.site_id, reason=why)
            )
        for u in plan.unplaced:
            old = by_workload[u.workload_id]
            why = f"site {old.site_id} down: {down[old.site_id]}; nowhere to go: {u.reason}"
            changes.append(
                Change(
                    kind=EVICTED,
                    placement=replace(old, state=EVICTED, end_reason=why),
                    from_site_id=old.site_id,
                    reason=why,
                )
            )
        for c in changes:
            self._apply(c, undo)
        log.warning(
            "failover of %s: %d moved, %d evicted (%s, %.3f s)",
            ", ".join(sorted(down)),
            len(plan.assignments),
            len(plan.unplaced),
            plan.method,
            time.perf_counter() - started,
        )
        return len(changes), changes

    async def _decide_rebalance(
        self,
        *,
        commit: bool,
        max_moves: int,
        min_saving: float,
        undo: list[tuple[str, Placement | None]],
    ) -> tuple[RebalanceResult, list[Change]]:
        now = self._clock()
        view = self.sites_view(now)
        up = {r.site_id for r in view.reports}
        running = [p for p in self._active.values() if p.site_id in up]
        if not running:
            empty = SolveInfo(
                objective=0.0, bound=0.0, gap=0.0, status="OPTIMAL", wall_s=0.0, method="none"
            )
            return RebalanceResult(
                moves=(), saving_yuan=0.0, committed=commit, solve=empty, candidates=0
            ), []
        # Capacity as if the running work were not there: it is what is being placed.
        free = self._free(view)
        for p in running:
            key = (p.site_id, p.accelerator_model)
            free[key] = free.get(key, 0) + p.devices
        work = [self._remaining(p, now, p.site_id) for p in running]
        problem = view.problem(work, free)
        plan = await self._solve(problem, self.settings.solver)
        # Work on a site over its hub's PUE cap may not stay there in the plan: its move is
        # worth making whatever it saves (the plan leaves work that cannot move out, and a
        # rebalance moves only what the plan places elsewhere).
        breach = {
            s.id: f"{s.id}'s {problem.hub_pue_reason(s)}"
            for s in problem.sites
            if not problem.hub_pue_ok(s)
        }
        by_workload = {p.workload.id: p for p in running}
        remaining = {w.id: w for w in work}
        candidates: list[Move] = []
        for a in plan.assignments:
            old = by_workload[a.workload_id]
            if a.site_id == old.site_id and a.model == old.accelerator_model:
                continue
            stay = view.arrays.cost_at(
                solver_workload(remaining[a.workload_id]), old.site_id, old.accelerator_model
            )
            saving = stay - a.cost_yuan
            why = breach.get(old.site_id)
            if why is None and saving <= 0:
                continue
            moved = _placement(old.placement_id, old.workload, a, old.created_at)
            money = f"saves {saving:.2f} 元" if saving >= 0 else f"costs {-saving:.2f} 元 more"
            candidates.append(
                Move(
                    placement_id=old.placement_id,
                    from_site_id=old.site_id,
                    to_site_id=a.site_id,
                    saving_yuan=saving,
                    placement=moved,
                    reason=money if why is None else f"{why}; {money}",
                )
            )
        candidates.sort(key=lambda m: (m.from_site_id not in breach, -m.saving_yuan))
        worth = [m for m in candidates if m.from_site_id in breach or m.saving_yuan >= min_saving]
        # Apply the best moves one by one against the live capacity, so any subset the cap
        # keeps is feasible on its own (a move into room another move frees waits for it).
        room = self._free(view)
        chosen: list[Move] = []
        pending = list(worth)
        progress = True
        while pending and progress and (not max_moves or len(chosen) < max_moves):
            progress = False
            for mv in list(pending):
                if max_moves and len(chosen) >= max_moves:
                    break
                new = mv.placement
                key = (new.site_id, new.accelerator_model)
                if room.get(key, 0) < new.devices:
                    continue
                old = by_workload[new.workload.id]
                room[key] -= new.devices
                room[(old.site_id, old.accelerator_model)] = (
                    room.get((old.site_id, old.accelerator_model), 0) + old.devices
                )
                chosen.append(mv)
                pending.remove(mv)
                progress = True
        changes = (
            [
                Change(
                    kind=MOVED,
                    placement=mv.placement,
                    from_site_id=mv.from_site_id,
                    reason=f"rebalance: {mv.reason}",
                )
                for mv in chosen
            ]
            if commit
            else []
        )
        for c in changes:
            self._apply(c, undo)
        saving = sum(mv.saving_yuan for mv in chosen)
        log.info(
            "rebalance%s: %d moves of %d candidates save %.2f 元",
            "" if commit else " [dry run]",
            len(chosen),
            len(candidates),
            saving,
        )
        result = RebalanceResult(
            moves=tuple(chosen),
            saving_yuan=saving,
            committed=commit,
            solve=_solve_info(plan),
            candidates=len(candidates),
        )
        return result, changes

    async def _decide_remove_site(self, site_id: str) -> SiteView:
        report = self.registry.report(site_id)
        if report is None:
            known = ", ".join(r.site_id for r in self.registry.reports()) or "none"
            raise NotFoundError(f"site {site_id!r} is not known (known sites: {known})")
        active = [p for p in self._active.values() if p.site_id == site_id]
        if active:
            raise FailedPreconditionError(
                f"site {site_id} has {len(active)} active placement(s) "
                f"(e.g. {active[0].placement_id}): release or move them first"
            )
        view = self._site_view(report, self._clock(), self._usage)
        # Durable first: a router restarted now must not bring the site back from the
        # broker's retained report.
        await asyncio.to_thread(self.store.remove_site, site_id, report.timestamp, self._clock())
        self.registry.remove(site_id)
        return view

    # --- failover sweeper --------------------------------------------------------------

    def _site_going_down(self, site_id: str) -> None:
        """A last will: sweep now, and again the moment its grace ends (not a poll later)."""
        self._wake.set()
        wait = self.registry.offline_in(site_id)
        if 0 < wait < math.inf:
            with contextlib.suppress(RuntimeError):  # no loop running: the poll will do
                # A hair after: the registry's clock is not the loop's.
                asyncio.get_running_loop().call_later(wait + 0.01, self._wake.set)

    async def _sweep(self) -> None:
        """Fail over sites with work that went down: at once on a last will, else on a poll."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.sweep_interval_s)
            self._wake.clear()
            if not any(self._needs_failover(site) for site in self._sites_with_work()):
                continue
            try:
                await self.fail_over()
            except RouterError as exc:
                log.error("failover failed: %s; retrying", exc)

    def _sites_with_work(self) -> set[str]:
        return {site for (site, _), n in self._usage.items() if n > 0}

    def _needs_failover(self, site_id: str) -> bool:
        live = self.registry.liveness(site_id)
        return not live.up and not live.held_down_s


def _placement(
    placement_id: str, workload: Workload, a: Assignment, created_at: float
) -> Placement:
    return Placement(
        placement_id=placement_id,
        workload=workload,
        site_id=a.site_id,
        accelerator_model=a.model,
        devices=a.devices,
        energy_kwh=a.energy_kwh,
        energy_cost_yuan=a.energy_cost_yuan,
        cost_per_hour_yuan=a.cost_per_hour_yuan,
        carbon_kg=a.carbon_kg,
        latency_ms=a.latency_ms,
        explanation=a.explanation,
        state=ACTIVE,
        created_at=created_at,
        transfer_cost_yuan=a.transfer_cost_yuan,
        migration_cost_yuan=a.migration_cost_yuan,
        carbon_cost_yuan=a.carbon_cost_yuan,
        alternatives=tuple(alternative_from_solver(x) for x in a.alternatives[:MAX_ALTERNATIVES]),
        updated_at=created_at,
    )


def _solve_info(plan: Plan) -> SolveInfo:
    return SolveInfo(
        objective=plan.objective,
        bound=plan.bound,
        gap=plan.gap,
        status=plan.status,
        wall_s=plan.wall_s,
        method=plan.method,
    )


def _stamp(result: Any, stamped: Mapping[str, Placement]) -> Any:
    """The answer with placements as committed (their ``updated_at`` set by the store)."""
    if not stamped:
        return result
    if isinstance(result, PlaceResult):
        return replace(
            result, placements=tuple(stamped.get(p.placement_id, p) for p in result.placements)
        )
    if isinstance(result, list) and all(isinstance(p, Placement) for p in result):
        return [stamped.get(p.placement_id, p) for p in result]
    if isinstance(result, RebalanceResult):
        return replace(
            result,
            moves=tuple(
                replace(m, placement=stamped.get(m.placement_id, m.placement)) for m in result.moves
            ),
        )
    return result
