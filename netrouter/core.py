"""The router: live site state + durable placements + the solver.

Placement is serialised: one batch at a time reads free capacity (healthy − used by others
− our active placements), solves, and commits to the store before answering, so no two calls
can book the same devices.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from netrouter.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    ResourceExhaustedError,
)
from netrouter.state import SiteRegistry
from netrouter.store import PlacementStore
from netrouter.types import (
    ACTIVE,
    AcceleratorCapacity,
    Placement,
    PlaceResult,
    SiteReport,
    SiteView,
    SolveInfo,
    Workload,
)
from solver import Plan, Problem, Site, SolverConfig, solve

log = logging.getLogger(__name__)
T = TypeVar("T")

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterSettings:
    """Limits and solver settings of a router instance."""

    solver: SolverConfig = field(default_factory=SolverConfig)
    max_batch: int = 10_000
    default_page_size: int = 100
    max_page_size: int = 1_000


def tariff_from_now(report: SiteReport, now: float) -> tuple[float, ...]:
    """The report's 24 hourly prices rotated so element 0 is the hour containing ``now``."""
    shift = math.floor(now / SECONDS_PER_HOUR) - math.floor(report.timestamp / SECONDS_PER_HOUR)
    prices = report.next_24h_yuan_per_kwh
    shift %= len(prices)
    return prices[shift:] + prices[:shift]


class Router:
    """Places, releases and lists work against the live view of the sites."""

    def __init__(
        self,
        *,
        registry: SiteRegistry,
        store: PlacementStore,
        settings: RouterSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.store = store
        self.settings = settings or RouterSettings()
        self._clock = clock
        self._commit_lock = asyncio.Lock()

    # --- placing -----------------------------------------------------------------------

    async def place(self, workloads: Sequence[Workload], *, dry_run: bool = False) -> PlaceResult:
        """Solve for the batch and, unless ``dry_run``, commit it before returning."""
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
        async with self._commit_lock:
            active = await asyncio.to_thread(
                self.store.active_workload_ids, [w.id for w in workloads]
            )
            if active:
                raise AlreadyExistsError(
                    f"workloads already placed: {', '.join(sorted(active)[:5])}"
                )
            now = self._clock()
            # Built on the event loop: the registry is only ever touched from there.
            problem = self.problem_for(workloads, now)
            plan = await asyncio.to_thread(solve, problem, self.settings.solver)
            placements = self._placements(plan, workloads, now)
            if not dry_run and placements:
                await _finish_even_if_cancelled(asyncio.to_thread(self.store.add, placements))
        log.info(
            "placed %d of %d workloads (%s, gap %.4f, %.3f s)%s",
            len(placements),
            len(workloads),
            plan.status,
            plan.gap,
            plan.wall_s,
            " [dry run]" if dry_run else "",
        )
        return PlaceResult(
            placements=tuple(placements),
            unplaced=plan.unplaced,
            solve=SolveInfo(
                objective=plan.objective,
                bound=plan.bound,
                gap=plan.gap,
                status=plan.status,
                wall_s=plan.wall_s,
                method=plan.method,
            ),
            dry_run=dry_run,
        )

    def problem_for(self, workloads: Sequence[Workload], now: float | None = None) -> Problem:
        """The solver input for ``workloads`` against the sites up now (for baselines too)."""
        now = self._clock() if now is None else now
        reports = self.registry.up_reports()
        if not reports:
            known = len(self.registry.reports())
            raise FailedPreconditionError(
                f"no site is up (of {known} known): nothing can be placed"
            )
        usage = self.store.usage()
        regions = {w.origin_region for w in workloads}
        latency = self.registry.latency_ms(regions, [r.site_id for r in reports])
        sites = tuple(
            Site(
                id=r.site_id,
                pue=r.pue,
                hourly_price=tariff_from_now(r, now),
                carbon_kg_per_kwh=r.carbon_kg_per_kwh,
                latency_ms=latency[r.site_id],
                free={c.model: c.free for c in capacities(r, usage)},
                power_w={a.model: a.power_w for a in r.accelerators},
                side=r.labels.side,
                hub=r.labels.hub,
            )
            for r in reports
        )
        hour_elapsed = (now % SECONDS_PER_HOUR) / SECONDS_PER_HOUR
        return Problem(sites=sites, workloads=tuple(workloads), hour_elapsed=hour_elapsed)

    def _placements(self, plan: Plan, workloads: Sequence[Workload], now: float) -> list[Placement]:
        by_id = {w.id: w for w in workloads}
        return [
            Placement(
                placement_id=uuid.uuid4().hex,
                workload=by_id[a.workload_id],
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
                created_at=now,
            )
            for a in plan.assignments
        ]

    # --- releasing and reading ---------------------------------------------------------

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
        async with self._commit_lock:
            released = await _finish_even_if_cancelled(
                asyncio.to_thread(self.store.release, list(placement_ids))
            )
        log.info("released %d placements", len(released))
        return released

    async def get_placement(self, placement_id: str) -> Placement:
        """One placement by id."""
        if not placement_id:
            raise InvalidArgumentError("placement_id", "must not be empty")
        return await asyncio.to_thread(self.store.get, placement_id)

    async def list_placements(
        self, *, site_id: str = "", state: str = "", page_size: int = 0, page_token: str = ""
    ) -> tuple[list[Placement], str]:
        """A page of placements and the token of the next page ("" when none)."""
        state = state or ACTIVE
        if state not in (ACTIVE, "released", "all"):
            raise InvalidArgumentError("state", f"must be active, released or all, got {state!r}")
        if page_size > self.settings.max_page_size:
            raise InvalidArgumentError("page_size", f"at most {self.settings.max_page_size}")
        try:
            after = int(page_token) if page_token else 0
        except ValueError as exc:
            raise InvalidArgumentError("page_token", "not a token this server issued") from exc
        page, cursor = await asyncio.to_thread(
            self.store.page,
            site_id=site_id,
            state=state,
            limit=page_size or self.settings.default_page_size,
            after_seq=after,
        )
        return page, "" if cursor is None else str(cursor)

    async def list_sites(self) -> list[SiteView]:
        """The live view of every known site, capacity net of our placements."""
        usage = await asyncio.to_thread(self.store.usage)
        now = self._clock()
        views = []
        for r in self.registry.reports():
            live = self.registry.liveness(r.site_id)
            views.append(
                SiteView(
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
                )
            )
        return views


async def _finish_even_if_cancelled(work: Coroutine[Any, Any, T]) -> T:
    """Await a store write; if the caller is cancelled, let the write land before unwinding.

    Otherwise the commit lock would be released while the write is still in flight and the
    next batch could read capacity without it.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


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
                free=max(0, a.healthy - a.in_use_by_others - placed),
                power_w=a.power_w,
            )
        )
    return tuple(result)
