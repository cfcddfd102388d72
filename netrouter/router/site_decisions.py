"""What each operation on a whole site changes: draining it (no new work; optionally its
running work moved now), putting it back, and forgetting it. Like
:mod:`netrouter.router.decisions`, each reads the state it is given and returns its answer and
the changes to commit; the drain and the removal are written to the store first, so a router
restarted at once finds them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from netrouter.client.errors import FailedPreconditionError, NotFoundError
from netrouter.client.types import (
    DrainResult,
    Move,
    MoveCost,
    Placement,
    SiteView,
    Unplaced,
    Workload,
)
from netrouter.contract.site_report import SiteReport
from netrouter.router.active import ActivePlacements
from netrouter.router.decisions import SolveRunner, as_committed, move_candidates, moved_changes
from netrouter.router.operations import Decision
from netrouter.router.site_view import SitesView, site_view
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from solver import Plan, SolverConfig

log = logging.getLogger(__name__)


# --- remove a site ----------------------------------------------------------------------


def _known_site(registry: SiteRegistry, site_id: str) -> SiteReport:
    """The site's last report; ``NotFoundError`` naming the known sites if it has none."""
    report = registry.report(site_id)
    if report is None:
        known = ", ".join(r.site_id for r in registry.reports()) or "none"
        raise NotFoundError(f"site {site_id!r} is not known (known sites: {known})")
    return report


async def remove_site(
    site_id: str,
    *,
    active: ActivePlacements,
    registry: SiteRegistry,
    store: PlacementStore,
    clock: Callable[[], float],
) -> Decision[SiteView]:
    """Forget a site durably (refused while it has active placements); the answer is the
    site as it was."""
    report = _known_site(registry, site_id)
    on_site = [p for p in active.all() if p.site_id == site_id]
    if on_site:
        raise FailedPreconditionError(
            f"site {site_id} has {len(on_site)} active placement(s) "
            f"(e.g. {on_site[0].placement_id}): release them, or move them off first "
            f"('sites drain {site_id} --move')"
        )
    view = site_view(registry, report, clock(), active.at_site(site_id))
    # Durable first: a router restarted now must not bring the site back from the
    # broker's retained report.
    await asyncio.to_thread(store.remove_site, site_id, report.timestamp, clock())
    registry.remove(site_id)
    return Decision(result=view)


# --- drain a site -----------------------------------------------------------------------


async def drain(
    site_id: str,
    *,
    move: bool,
    reason: str,
    active: ActivePlacements,
    registry: SiteRegistry,
    store: PlacementStore,
    sites_view: Callable[[float], SitesView],
    clock: Callable[[], float],
    move_cost: MoveCost,
    config: SolverConfig,
    solver: SolveRunner,
) -> Decision[DrainResult]:
    """Drain a site durably: it takes no new work (the solver sees it drained, see
    :attr:`solver.Site.drained`). With ``move`` its running work is re-placed elsewhere in
    one batch; what fits nowhere stays, and the answer says so. Draining a drained site
    keeps its first drain (and still moves its work with ``move``)."""
    _known_site(registry, site_id)
    now = clock()
    if registry.drain_of(site_id) is None:
        # Durable first: a router restarted now must find the site drained.
        await asyncio.to_thread(store.drain_site, site_id, now, reason)
    registry.drain(site_id, now, reason)
    running = [p for p in active.all() if p.site_id == site_id] if move else []
    moves: list[Move] = []
    stayed: list[Unplaced] = []
    plan: Plan | None = None
    if running:
        try:
            view: SitesView | None = sites_view(now)
        except FailedPreconditionError:
            view = None  # no site is up: nothing can move
        if view is None:
            stayed = [
                Unplaced(workload_id=p.workload.id, reason=f"{p.placement_id} stays: no site is up")
                for p in running
            ]
        else:
            work = [move_cost.remaining(p, now) for p in running]
            plan = await solver.batch(view.problem(work, view.free_capacity(active)), config)
            moves, stayed = _drain_moves(plan, running, work, view, site_id)
    changes = moved_changes(moves, "drain")
    if running:
        log.warning(
            "drain of %s: %d of %d placements moved, %d stay",
            site_id,
            len(moves),
            len(running),
            len(stayed),
        )
    result = DrainResult(
        site=site_view(registry, _known_site(registry, site_id), now, active.at_site(site_id)),
        moved=tuple(moves),
        stayed=tuple(stayed),
    )
    return Decision(result=result, changes=changes, stamp=_stamp_drain)


def _drain_moves(
    plan: Plan,
    running: Sequence[Placement],
    remaining: Sequence[Workload],
    view: SitesView,
    site_id: str,
) -> tuple[list[Move], list[Unplaced]]:
    """The moves off a drained site the plan makes, and the work it leaves where it is."""
    moves = move_candidates(plan, running, remaining, view, {site_id: f"{site_id} is drained"})
    by_workload = {p.workload.id: p for p in running}
    stayed = [
        Unplaced(
            workload_id=u.workload_id,
            reason=f"{by_workload[u.workload_id].placement_id} stays on {site_id}: "
            f"nowhere to go: {u.reason}",
        )
        for u in plan.unplaced
    ]
    return moves, stayed


def _stamp_drain(result: DrainResult, committed: Mapping[str, Placement]) -> DrainResult:
    return replace(result, moved=as_committed(result.moved, committed))


async def undrain(
    site_id: str,
    *,
    active: ActivePlacements,
    registry: SiteRegistry,
    store: PlacementStore,
    clock: Callable[[], float],
) -> Decision[DrainResult]:
    """Put a drained site back in service, durably; refused if it is not drained."""
    _known_site(registry, site_id)
    if registry.drain_of(site_id) is None:
        raise FailedPreconditionError(f"site {site_id} is not drained: nothing to undrain")
    await asyncio.to_thread(store.undrain_site, site_id)
    registry.undrain(site_id)
    return Decision(
        result=DrainResult(
            site=site_view(
                registry, _known_site(registry, site_id), clock(), active.at_site(site_id)
            )
        )
    )
