"""The router: live site state + durable placements + the solver, behind one facade.

Every change goes through the committer (:mod:`netrouter.router.committer`), in order and
durable before it is answered; what each operation changes is decided by
:mod:`netrouter.router.decisions` against the active placements
(:mod:`netrouter.router.active`) and the up sites priced for the solver
(:mod:`netrouter.router.site_view`); the failover sweeper
(:mod:`netrouter.router.sweeper`) moves the work off sites that go down. Reads answer from
memory or the store without queueing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netrouter.client.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    OutOfRangeError,
    ResourceExhaustedError,
    UnavailableError,
)
from netrouter.client.scenario import Scenario
from netrouter.client.types import (
    ACTIVE,
    DEFAULT_MIN_SAVING_YUAN,
    QUEUED,
    STATES,
    DrainResult,
    MoveCost,
    Placement,
    PlacementEvent,
    PlaceResult,
    RebalanceResult,
    SiteView,
    Snapshot,
    Workload,
)
from netrouter.client.whatif_report import WhatIfReport
from netrouter.client.workload_file import known_regions
from netrouter.client.world import ScenarioError
from netrouter.contract.names import NATIONAL_REGIONS
from netrouter.planning.network import NetworkModel
from netrouter.planning.whatif import DEFAULT_SOLVER as DEFAULT_WHATIF_SOLVER
from netrouter.planning.whatif import run_whatif
from netrouter.router import decisions, ids, queue, site_decisions
from netrouter.router.active import ActivePlacements
from netrouter.router.committer import Committer
from netrouter.router.events import EventHub
from netrouter.router.operations import (
    Decision,
    DrainOp,
    FailoverOp,
    Op,
    PlaceOp,
    RebalanceOp,
    ReleaseOp,
    RemoveSiteOp,
    StartQueuedOp,
    UndrainOp,
)
from netrouter.router.site_view import SitesView, SitesViewCache, site_view
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from netrouter.router.sweeper import FailoverSweeper
from solver import Problem, SolverConfig

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
    queue_interval_s: float = 0.5
    """How often queued work is tried again when the sites' capacity may have changed."""
    move_cost: MoveCost = field(default_factory=MoveCost)
    """What moving running work costs (its restart), in rebalance and failover alike."""
    min_saving_yuan: float = DEFAULT_MIN_SAVING_YUAN
    """A rebalance move must save more than its cost plus this (unless a request says)."""
    watch_queue: int = 10_000


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
        self._solver = decisions.SolveRunner(on_solve)
        self._views = SitesViewCache(registry=registry, network=self.network, clock=clock)
        # The in-memory mirror of the store's active placements (the committer's truth).
        self._active = ActivePlacements(store.active(), store.queued())
        self._committer = Committer(
            decide=self._decide,
            active=self._active,
            store=store,
            hub=self.hub,
            clock=clock,
            max_group=self.settings.max_group,
            on_commit=on_commit,
        )
        self._sweeper = FailoverSweeper(
            registry=registry,
            sites_with_work=self._active.sites_with_work,
            fail_over=self.fail_over,
            interval_s=self.settings.sweep_interval_s,
        )
        self._starter = queue.QueueStarter(
            waiting=self._active.queued_count,
            signature=self._capacity_signature,
            start=self.start_queued,
            interval_s=self.settings.queue_interval_s,
        )
        registry.on_down = self._sweeper.site_going_down
        for site_id, at, reason in store.drained_sites():
            registry.drain(site_id, at, reason)

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Router:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the committer, the failover sweeper and the queue's starter."""
        self._committer.start()
        self._sweeper.start()
        self._starter.start()

    async def stop(self) -> None:
        """Finish queued operations, then stop the background tasks."""
        await self._starter.stop()
        await self._sweeper.stop()
        await self._committer.stop()
        self.hub.close()

    # --- public operations -------------------------------------------------------------

    async def place(
        self, workloads: Sequence[Workload], *, dry_run: bool = False, queue: bool = True
    ) -> PlaceResult:
        """Place a batch and, unless ``dry_run``, commit it before returning. With
        ``queue`` work that cannot start now waits in the queue (see
        :mod:`netrouter.router.queue`); without, it is unplaced."""
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
        result: PlaceResult = await self._committer.submit(
            PlaceOp(workloads=tuple(workloads), dry_run=dry_run, queue=queue)
        )
        if result.queued:
            self._starter.poke()  # new work may go ahead of older, lower-priority work
        return result

    async def start_queued(self) -> int:
        """Start the queued work that fits now, in queue order (the starter does this
        itself); return how many started."""
        started: int = await self._committer.submit(StartQueuedOp())
        return started

    def queued(self) -> list[Placement]:
        """The queued work in the order it starts."""
        return self._active.queued()

    def _capacity_signature(self) -> tuple[object, ...]:
        """What queued work's chance to start depends on: each up site's latest report, our
        placements, and how much queued work may start (or can no longer meet its
        deadline) now."""
        reports = tuple((r.site_id, r.accelerators, r.running) for r in self.registry.up_reports())
        now = self._clock()
        waiting = self._active.queued()
        due = sum(queue.due(q.workload, now) for q in waiting)
        late = sum(queue.out_of_time(q.workload, now) is not None for q in waiting)
        return (reports, tuple(sorted(self._active.held().items())), len(waiting), due, late)

    async def release(self, placement_ids: Sequence[str]) -> list[Placement]:
        """Release active placements (all or none), freeing their devices, or cancel queued
        work. Each is named
        by its id or a unique prefix of it (see :mod:`netrouter.router.ids`); one that has
        ended already is refused saying when and why."""
        if not placement_ids:
            raise InvalidArgumentError("placement_ids", "at least one id is needed")
        found = await asyncio.to_thread(self._resolve_all, placement_ids)
        seen: dict[str, str] = {}
        for i, (given, p) in enumerate(zip(placement_ids, found, strict=True)):
            if p.placement_id in seen:
                first = seen[p.placement_id]
                what = f"{given!r}" if given == first else f"{given!r} (as {first!r})"
                raise InvalidArgumentError(
                    f"placement_ids[{i}]", f"duplicate id {what}: {p.placement_id}"
                )
            seen[p.placement_id] = given
            if p.state not in (ACTIVE, QUEUED):
                raise ids.ended_error(p)
        released: list[Placement] = await self._committer.submit(
            ReleaseOp(placement_ids=tuple(p.placement_id for p in found))
        )
        self._starter.poke()
        return released

    def _resolve_all(self, given: Sequence[str]) -> list[Placement]:
        return [
            ids.resolve(g, field=f"placement_ids[{i}]", active=self._active, store=self.store)
            for i, g in enumerate(given)
        ]

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
        self, *, commit: bool = False, max_moves: int = 0, min_saving_yuan: float | None = None
    ) -> RebalanceResult:
        """Re-optimise all running work; move the best ``max_moves`` (0: no cap) that each
        save more than what moving costs (its transfer, its migration cost and its restart:
        :class:`~netrouter.client.types.MoveCost`) plus ``min_saving_yuan`` (``None``: the
        router's setting). Work on a site over its hub's PUE cap moves first, whatever it
        saves, when some site can take it. Nothing moves unless ``commit``."""
        if min_saving_yuan is None:
            min_saving_yuan = self.settings.min_saving_yuan
        if not math.isfinite(min_saving_yuan) or min_saving_yuan < 0:
            raise InvalidArgumentError("min_saving_yuan_per_move", "must be a finite number >= 0")
        result: RebalanceResult = await self._committer.submit(
            RebalanceOp(commit=commit, max_moves=max_moves, min_saving=min_saving_yuan)
        )
        return result

    async def fail_over(self) -> int:
        """Re-place the work of every site that is down now (the sweeper does this itself);
        return how many placements were moved or evicted."""
        changed: int = await self._committer.submit(FailoverOp())
        if changed:
            self._starter.poke()
        return changed

    async def remove_site(self, site_id: str) -> SiteView:
        """Forget a site that is gone, durably, until it reports again; refused while it has
        active placements. Returns the site as it was."""
        if not site_id:
            raise InvalidArgumentError("site_id", "must not be empty")
        removed: SiteView = await self._committer.submit(RemoveSiteOp(site_id=site_id))
        return removed

    async def drain_site(
        self, site_id: str, *, move: bool = False, reason: str = ""
    ) -> DrainResult:
        """Take a site out of service, durably: it takes no new work until undrained, and a
        rebalance moves its work off it where it can. With ``move`` its running work is
        moved elsewhere now, in one batch; what fits nowhere stays (``DrainResult.stayed``).
        """
        if not site_id:
            raise InvalidArgumentError("site_id", "must not be empty")
        result: DrainResult = await self._committer.submit(
            DrainOp(site_id=site_id, move=move, reason=reason)
        )
        return result

    async def undrain_site(self, site_id: str) -> SiteView:
        """Put a drained site back in service (refused if it is not drained)."""
        if not site_id:
            raise InvalidArgumentError("site_id", "must not be empty")
        result: DrainResult = await self._committer.submit(UndrainOp(site_id=site_id))
        self._starter.poke()
        return result.site

    async def get_placement(self, placement_id: str) -> Placement:
        """One placement, in any state, by its id or a unique prefix of it."""
        active = self._active.get(placement_id)
        if active is not None:
            return active
        return await asyncio.to_thread(
            ids.resolve, placement_id, field="placement_id", active=self._active, store=self.store
        )

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
        return self._active.held()

    def active_placements(self) -> list[Placement]:
        """Every active placement (a copy of the committer's view)."""
        return self._active.all()

    @property
    def active_count(self) -> int:
        """How many placements are active."""
        return len(self._active)

    @property
    def queued_count(self) -> int:
        """How much work waits in the queue."""
        return self._active.queued_count()

    async def list_sites(self) -> list[SiteView]:
        """The live view of every known site, capacity net of our placements."""
        return self.site_views()

    def site_views(self) -> list[SiteView]:
        """The live view of every known site (callable from any thread for metrics)."""
        now = self._clock()
        by_site: dict[str, list[Placement]] = {}
        for p in self._active.all():
            by_site.setdefault(p.site_id, []).append(p)
        return [
            site_view(self.registry, r, now, by_site.get(r.site_id, []))
            for r in self.registry.reports()
        ]

    async def snapshot(self) -> Snapshot:
        """The whole state at one instant (sites, their reports, active work, links)."""
        return Snapshot(
            taken_at=self._clock(),
            site_reports=tuple(self.registry.reports()),
            placements=tuple(self._active.all()),
            sites=tuple(await self.list_sites()),
            links=self.network.links,
            last_event_id=self.hub.last_event_id or self.store.last_event_id(),
            pue_cap_hysteresis=self.registry.pue_policy.hysteresis,
        )

    async def watch_position(self, *, after_event_id: int = 0, from_start: bool = False) -> int:
        """Where a watch starts: 0 with ``from_start``, else ``after_event_id``, else (0)
        the newest event now.

        An ``after_event_id`` past the newest event is :class:`OutOfRangeError`: followed, it
        would skip every event until the ids caught up with it."""
        if from_start:
            return 0
        last = self.hub.last_event_id
        if not last or after_event_id > last:
            # The hub knows what this router has published; the store all that is committed.
            last = max(last, await asyncio.to_thread(self.store.last_event_id))
        if after_event_id > last:
            raise OutOfRangeError(
                f"after_event_id: {after_event_id} is past the last event ({last}); "
                f"resume from {last} or less, or use from_start"
            )
        return after_event_id or last

    def end_watches(self) -> None:
        """End every watch now, and each one opened from now on (the router is stopping):
        their streams fail UNAVAILABLE, so their clients resume at another router."""
        self.hub.close()

    async def watch(self, after_event_id: int) -> AsyncIterator[PlacementEvent]:
        """Every event after ``after_event_id`` (0: all), then each new one as it is
        committed, in order, without gaps or repeats, until the router stops
        (:class:`UnavailableError`, see :meth:`end_watches`)."""
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
                        raise UnavailableError("the router is stopping")
                    if live.event_id > last:
                        yield live
                        last = live.event_id
                subscription.recover()
        finally:
            self.hub.unsubscribe(subscription)

    # --- deciding ----------------------------------------------------------------------

    async def _decide(self, op: Op) -> Decision[Any]:
        """What ``op`` changes, against the state as the operations before it left it."""
        settings = self.settings
        match op:
            case PlaceOp(workloads=workloads, dry_run=dry_run, queue=queue_it):
                now = self._clock()
                return await decisions.place(
                    workloads,
                    dry_run=dry_run,
                    queue=queue_it,
                    active=self._active,
                    view=self._views.get(now),
                    now=now,
                    config=settings.solver,
                    solver=self._solver,
                    move_cost=settings.move_cost,
                )
            case StartQueuedOp():
                now = self._clock()
                try:
                    view = self._views.get(now)
                except FailedPreconditionError:  # no site up: nothing can start
                    return Decision(result=0)
                return queue.start_queued(
                    active=self._active,
                    view=view,
                    now=now,
                    place_one=self._solver.one,
                    move_cost=settings.move_cost,
                )
            case ReleaseOp(placement_ids=placement_ids):
                return decisions.release(placement_ids, active=self._active)
            case FailoverOp():
                return await decisions.failover(
                    active=self._active,
                    registry=self.registry,
                    sites_view=self._views.get,
                    clock=self._clock,
                    move_cost=settings.move_cost,
                    config=settings.failover_solver,
                    solver=self._solver,
                )
            case RebalanceOp(commit=commit, max_moves=max_moves, min_saving=min_saving):
                now = self._clock()
                return await decisions.rebalance(
                    commit=commit,
                    max_moves=max_moves,
                    min_saving=min_saving,
                    active=self._active,
                    view=self._views.get(now),
                    now=now,
                    move_cost=settings.move_cost,
                    config=settings.solver,
                    solver=self._solver,
                )
            case RemoveSiteOp(site_id=site_id):
                return await site_decisions.remove_site(
                    site_id,
                    active=self._active,
                    registry=self.registry,
                    store=self.store,
                    clock=self._clock,
                )
            case DrainOp(site_id=site_id, move=move, reason=reason):
                return await site_decisions.drain(
                    site_id,
                    move=move,
                    reason=reason,
                    active=self._active,
                    registry=self.registry,
                    store=self.store,
                    sites_view=self._views.get,
                    clock=self._clock,
                    move_cost=settings.move_cost,
                    config=settings.solver,
                    solver=self._solver,
                )
            case UndrainOp(site_id=site_id):
                return await site_decisions.undrain(
                    site_id,
                    active=self._active,
                    registry=self.registry,
                    store=self.store,
                    clock=self._clock,
                )

    # --- the solver's view of the sites ------------------------------------------------

    def sites_view(self, now: float | None = None) -> SitesView:
        """The up sites priced at ``now`` (cached: see :meth:`SitesViewCache.get`)."""
        return self._views.get(now)

    def problem_for(self, workloads: Sequence[Workload], now: float | None = None) -> Problem:
        """The solver input for ``workloads`` against the sites up now (for baselines too)."""
        view = self._views.get(now)
        return view.problem(workloads, view.free_capacity(self._active))
