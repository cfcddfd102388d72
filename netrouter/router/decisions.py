"""What each operation changes, decided against the active placements and the sites up.

Each decision reads the state it is given and returns its answer and the changes to commit;
it changes nothing itself (the committer applies the changes, and undoes them if the store
write fails). A single workload is placed by :class:`solver.single.SiteArrays` (exact for
one workload, no re-solve); a batch by the full optimizer. When a site goes down (its last
will, or its report older than the TTL), its work is re-placed elsewhere in one batch
solve: each placement is moved (a ``moved`` change) or, if nothing can take it, goes back
to the queue (``requeued``, :mod:`netrouter.router.queue`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace

from netrouter.client.errors import AlreadyExistsError, FailedPreconditionError
from netrouter.client.types import (
    MOVED,
    PLACED,
    PLANNED,
    QUEUED,
    RELEASED,
    Move,
    MoveCost,
    Placement,
    PlaceResult,
    RebalanceResult,
    Unplaced,
    Workload,
)
from netrouter.planning.problem import (
    MAX_ALTERNATIVES,
    NOTHING_TO_SOLVE,
    placement_from_solver,
    solve_info,
    solver_workload,
    unplaced_from_solver,
)
from netrouter.router import queue as queue_rules
from netrouter.router.active import ActivePlacements
from netrouter.router.operations import Decision
from netrouter.router.site_view import Capacity, SitesView
from netrouter.router.state import SiteRegistry
from netrouter.router.store import Change
from solver import Plan, Problem, SolverConfig, solve

log = logging.getLogger(__name__)


class SolveRunner:
    """Runs solves (a batch off the event loop) and reports each one's method and time."""

    def __init__(self, on_solve: Callable[[str, float], None] | None = None) -> None:
        self._on_solve = on_solve

    async def batch(self, problem: Problem, config: SolverConfig) -> Plan:
        """The full optimizer's plan for ``problem``."""
        plan = await asyncio.to_thread(solve, problem, config)
        self._report(plan)
        return plan

    def one(self, view: SitesView, workload: Workload, capacity: Capacity) -> Plan:
        """The exact plan for a single workload on ``view``'s sites with this capacity."""
        plan = view.arrays.place(
            solver_workload(workload),
            capacity.counts(),
            shapes=capacity.shapes(),
            max_alternatives=MAX_ALTERNATIVES,
        )
        self._report(plan)
        return plan

    def _report(self, plan: Plan) -> None:
        if self._on_solve is not None:
            self._on_solve(plan.method, plan.wall_s)


# --- place ------------------------------------------------------------------------------


async def place(
    workloads: Sequence[Workload],
    *,
    dry_run: bool,
    queue: bool = False,
    active: ActivePlacements,
    view: SitesView,
    now: float,
    config: SolverConfig,
    solver: SolveRunner,
    move_cost: MoveCost,
) -> Decision[PlaceResult]:
    """Place a batch on ``view``'s sites; refused if a workload is already placed (or
    queued), except in a dry run, which plans such work as a re-placement (its devices
    free, running where it is, paying :class:`MoveCost` to move). A dry run's rows are
    ``planned``, with no id. With ``queue``, work that cannot start now waits in the queue
    unless no site could ever take it (see :mod:`netrouter.router.queue`)."""
    running = {w.id: p for w in workloads if (p := active.of_workload(w.id)) is not None}
    if running and not dry_run:
        raise AlreadyExistsError(f"workloads already placed: {', '.join(sorted(running)[:5])}")
    queued_ids = [w.id for w in workloads if active.is_queued(w.id)]
    if queued_ids and not dry_run:
        raise AlreadyExistsError(f"workloads already queued: {', '.join(sorted(queued_ids)[:5])}")
    # Work whose deadline is out of reach is refused; work not yet due waits (or is left
    # out); the rest is placed now, where queued work that may start now lets it.
    late = {w.id: why for w in workloads if (why := queue_rules.out_of_time(w, now))}
    later = [w for w in workloads if w.id not in late and not queue_rules.due(w, now)]
    due = [w for w in workloads if w.id not in late and queue_rules.due(w, now)]
    ahead = queue_rules.ahead_of(active, due, now)
    free = queue_rules.hold(view.free_capacity(active), ahead, view.sites)
    if not due:
        plan = NOTHING_TO_SOLVE
    elif running:
        capacity = free.without(running.values())
        work = [w if w.id not in running else move_cost.running(w, running[w.id]) for w in due]
        plan = await solver.batch(view.problem(work, capacity), config)
    elif len(due) == 1:
        plan = solver.one(view, due[0], free)
    else:
        plan = await solver.batch(view.problem(due, free), config)
    by_id = {w.id: w for w in workloads}
    placements = [
        placement_from_solver(
            a,
            placement_id="" if dry_run else uuid.uuid4().hex,
            workload=by_id[a.workload_id],
            created_at=now,
        )
        for a in plan.assignments
    ]
    if dry_run:
        placements = [_planned(p, running.get(p.workload.id)) for p in placements]
    changes = () if dry_run else tuple(Change(kind=PLACED, placement=p) for p in placements)
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
    unplaced = [_with_down(unplaced_from_solver(u), view.down) for u in plan.unplaced]
    waits: list[Placement] = []
    if queue:
        unplaced, waiting = _queue(unplaced, by_id, view, behind=len(ahead))
        waiting += [(w, queue_rules.not_yet(w)) for w in later]
        if dry_run:  # what would wait: planned, no id
            waits = [
                replace(
                    queue_rules.queued(w, placement_id="", reason=why, now=now),
                    state=PLANNED,
                    explanation=f"would wait: {why}",
                )
                for w, why in waiting
            ]
        else:
            waits = [
                queue_rules.queued(w, placement_id=uuid.uuid4().hex, reason=why, now=now)
                for w, why in waiting
            ]
            changes += tuple(Change(kind=QUEUED, placement=p) for p in waits)
    else:
        unplaced += [
            Unplaced(
                workload_id=w.id, reason=f"{queue_rules.not_yet(w)}; not queued", penalty_yuan=0.0
            )
            for w in later
        ]
    unplaced += [
        Unplaced(workload_id=wid, reason=why, penalty_yuan=0.0) for wid, why in late.items()
    ]
    result = PlaceResult(
        placements=tuple(placements),
        unplaced=tuple(unplaced),
        solve=solve_info(plan),
        dry_run=dry_run,
        queued=tuple(waits),
    )
    return Decision(result=result, changes=changes, stamp=_stamp_place)


def _queue(
    unplaced: Sequence[Unplaced],
    by_id: Mapping[str, Workload],
    view: SitesView,
    *,
    behind: int,
) -> tuple[list[Unplaced], list[tuple[Workload, str]]]:
    """The work left out split in two: what no site could ever take (refused, saying why)
    and what waits in the queue, with why (``behind`` that much queued work ahead of it)."""
    refused: list[Unplaced] = []
    waiting: list[tuple[Workload, str]] = []
    for u in unplaced:
        never = queue_rules.never_placeable(by_id[u.workload_id], view)
        if never is not None:
            detail = "" if never in u.reason else f": {never}"
            refused.append(replace(u, reason=f"{u.reason}; not queued{detail}"))
        else:
            why = f"{u.reason}; behind {behind} queued" if behind else u.reason
            waiting.append((by_id[u.workload_id], why))
    return refused, waiting


def _planned(p: Placement, running: Placement | None) -> Placement:
    """A dry run's row: ``planned``, saying whether work already running stays or moves."""
    why = p.explanation
    if running is not None and (running.site_id, running.accelerator_model) == (
        p.site_id,
        p.accelerator_model,
    ):
        why = f"already running here: stays ({why})"
    elif running is not None:
        why = f"running at {running.site_id}: would move here ({why})"
    return replace(p, state=PLANNED, explanation=why)


def _with_down(u: Unplaced, down: Sequence[str]) -> Unplaced:
    """``u``, its reason naming the sites that are down too (the solver never saw them)."""
    return replace(u, reason=f"{u.reason}; down at {', '.join(down)}") if down else u


def _stamp_place(result: PlaceResult, committed: Mapping[str, Placement]) -> PlaceResult:
    return replace(
        result,
        placements=tuple(committed.get(p.placement_id, p) for p in result.placements),
        queued=tuple(committed.get(p.placement_id, p) for p in result.queued),
    )


# --- release ----------------------------------------------------------------------------


def release(placement_ids: Sequence[str], *, active: ActivePlacements) -> Decision[list[Placement]]:
    """Release active placements, or cancel queued work, by id; refused (nothing
    released) if one is neither active nor queued."""
    changes = []
    for pid in placement_ids:
        p = active.get(pid) or active.queued_one(pid)
        if p is None:  # ended since the router resolved the id
            raise FailedPreconditionError(f"placement {pid!r} is no longer active or queued")
        why = "cancelled while queued" if p.state == QUEUED else "released"
        changes.append(Change(kind=RELEASED, placement=replace(p, state=RELEASED, end_reason=why)))
    return Decision(
        result=[c.placement for c in changes], changes=tuple(changes), stamp=_stamp_released
    )


def _stamp_released(
    released: list[Placement], committed: Mapping[str, Placement]
) -> list[Placement]:
    return [committed.get(p.placement_id, p) for p in released]


# --- failover ---------------------------------------------------------------------------


def needs_failover(registry: SiteRegistry, site_id: str) -> bool:
    """Whether a site's work must move now: it is down and not merely held down."""
    live = registry.liveness(site_id)
    return not live.up and not live.held_down_s


async def failover(
    *,
    active: ActivePlacements,
    registry: SiteRegistry,
    sites_view: Callable[[float], SitesView],
    clock: Callable[[], float],
    move_cost: MoveCost,
    config: SolverConfig,
    solver: SolveRunner,
) -> Decision[int]:
    """Move the work of every site that is down now, or put what fits nowhere back in the
    queue (``requeued``, see :mod:`netrouter.router.queue`); the answer is how many
    placements changed."""
    down: dict[str, str] = {}
    for site_id in active.sites_with_work():
        if needs_failover(registry, site_id):
            down[site_id] = registry.liveness(site_id).reason
    stranded = [p for p in active.all() if p.site_id in down]
    if not stranded:
        return Decision(result=0)
    now = clock()
    try:
        view = sites_view(now)
    except FailedPreconditionError:
        log.warning(
            "%d placements on down sites %s: no site is up to take them",
            len(stranded),
            ", ".join(sorted(down)),
        )
        return Decision(result=0)
    work = [move_cost.remaining(p, now) for p in stranded]
    started = time.perf_counter()
    plan = await solver.batch(view.problem(work, view.free_capacity(active)), config)
    by_workload = {p.workload.id: p for p in stranded}
    changes: list[Change] = []
    for a in plan.assignments:
        old = by_workload[a.workload_id]
        moved = placement_from_solver(
            a, placement_id=old.placement_id, workload=old.workload, created_at=old.created_at
        )
        why = f"site {old.site_id} down: {down[old.site_id]}"
        changes.append(Change(kind=MOVED, placement=moved, from_site_id=old.site_id, reason=why))
    for u in plan.unplaced:
        old = by_workload[u.workload_id]
        why = f"site {old.site_id} down: {down[old.site_id]}; nowhere to go: {u.reason}"
        changes.append(queue_rules.requeued(old, reason=why, now=now))
    log.warning(
        "failover of %s: %d moved, %d back in the queue (%s, %.3f s)",
        ", ".join(sorted(down)),
        len(plan.assignments),
        len(plan.unplaced),
        plan.method,
        time.perf_counter() - started,
    )
    return Decision(result=len(changes), changes=tuple(changes))


# --- rebalance --------------------------------------------------------------------------


async def rebalance(
    *,
    commit: bool,
    max_moves: int,
    min_saving: float,
    active: ActivePlacements,
    view: SitesView,
    now: float,
    move_cost: MoveCost,
    config: SolverConfig,
    solver: SolveRunner,
) -> Decision[RebalanceResult]:
    """Re-optimise the work running on ``view``'s sites and keep the moves worth making
    (see :func:`select_moves`); they change something only with ``commit``."""
    up = {r.site_id for r in view.reports}
    running = [p for p in active.all() if p.site_id in up]
    if not running:
        result = RebalanceResult(
            moves=(),
            saving_yuan=0.0,
            committed=commit,
            solve=solve_info(NOTHING_TO_SOLVE),
            candidates=0,
        )
        return Decision(result=result)
    # Capacity as if the running work were not there: it is what is being placed.
    work = [move_cost.remaining(p, now) for p in running]
    problem = view.problem(work, view.free_capacity(active).without(running))
    plan = await solver.batch(problem, config)
    # Work on a site over its hub's PUE cap may not stay there in the plan: its move is
    # worth making whatever it saves (the plan leaves work that cannot move out, and a
    # rebalance moves only what the plan places elsewhere).
    over_cap = {
        s.id: f"{s.id}'s {problem.hub_pue_reason(s)}"
        for s in problem.sites
        if not problem.hub_pue_ok(s)
    }
    # A drained site's work moves off it as that of a site over its cap does.
    over_cap.update({s.id: f"{s.id} is drained" for s in problem.sites if s.drained})
    candidates = move_candidates(plan, running, work, view, over_cap)
    current = {p.placement_id: p for p in running}
    chosen = select_moves(
        candidates,
        current=current,
        room=view.free_capacity(active),
        over_cap=over_cap.keys(),
        max_moves=max_moves,
        min_saving=min_saving,
    )
    changes = moved_changes(chosen, "rebalance") if commit else ()
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
        solve=solve_info(plan),
        candidates=len(candidates),
    )
    return Decision(result=result, changes=changes, stamp=_stamp_rebalance)


def moved_changes(moves: Sequence[Move], why: str) -> tuple[Change, ...]:
    """The ``moved`` change of each of ``moves``, its reason prefixed with ``why``."""
    return tuple(
        Change(
            kind=MOVED,
            placement=mv.placement,
            from_site_id=mv.from_site_id,
            reason=f"{why}: {mv.reason}",
        )
        for mv in moves
    )


def move_candidates(
    plan: Plan,
    running: Sequence[Placement],
    remaining: Sequence[Workload],
    view: SitesView,
    over_cap: Mapping[str, str],
) -> list[Move]:
    """Every move the plan makes that saves money, or leaves a site in ``over_cap`` (over
    its hub's PUE cap, or drained), which says why."""
    by_workload = {p.workload.id: p for p in running}
    rest = {w.id: w for w in remaining}
    candidates: list[Move] = []
    for a in plan.assignments:
        old = by_workload[a.workload_id]
        if a.site_id == old.site_id and a.model == old.accelerator_model:
            continue
        saving = 0.0  # a site the solver cannot see (drained) has no cost to compare
        if old.site_id in view.arrays.index:
            stay = view.arrays.cost_at(
                solver_workload(rest[a.workload_id]), old.site_id, old.accelerator_model
            )
            saving = stay - a.cost_yuan
        why = over_cap.get(old.site_id)
        if why is None and saving <= 0:
            continue
        moved = placement_from_solver(
            a, placement_id=old.placement_id, workload=old.workload, created_at=old.created_at
        )
        moving = a.transfer_cost_yuan + a.migration_cost_yuan
        money = f"saves {saving:.2f} 元" if saving >= 0 else f"costs {-saving:.2f} 元 more"
        money += f" after {moving:.2f} 元 to move"
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
    return candidates


def select_moves(
    candidates: Sequence[Move],
    *,
    current: Mapping[str, Placement],
    room: Capacity,
    over_cap: Collection[str],
    max_moves: int,
    min_saving: float,
) -> list[Move]:
    """The moves to make, best first: those off a site in ``over_cap`` (whatever they
    save), then the biggest savings above ``min_saving``; at most ``max_moves``
    (0: no cap), each fitting the ``room`` left by the moves before it.

    ``current`` is each candidate's placement as it runs now, by placement id.
    """
    ranked = sorted(candidates, key=lambda m: (m.from_site_id not in over_cap, -m.saving_yuan))
    pending = [m for m in ranked if m.from_site_id in over_cap or m.saving_yuan > min_saving]
    # Apply the best moves one by one against the live capacity, so any subset the cap
    # keeps is feasible on its own (a move into room another move frees waits for it).
    room = room.copy()
    chosen: list[Move] = []
    progress = True
    while pending and progress and (not max_moves or len(chosen) < max_moves):
        progress = False
        for mv in list(pending):
            if max_moves and len(chosen) >= max_moves:
                break
            new = mv.placement
            key = (new.site_id, new.accelerator_model)
            if not room.fits(key, new.devices, new.workload.one_domain):
                continue
            old = current[mv.placement_id]
            room.take(key, new.devices)
            room.give((old.site_id, old.accelerator_model), old.devices)
            chosen.append(mv)
            pending.remove(mv)
            progress = True
    return chosen


def as_committed(moves: Sequence[Move], committed: Mapping[str, Placement]) -> tuple[Move, ...]:
    """``moves`` with each placement as the store committed it."""
    return tuple(replace(m, placement=committed.get(m.placement_id, m.placement)) for m in moves)


def _stamp_rebalance(
    result: RebalanceResult, committed: Mapping[str, Placement]
) -> RebalanceResult:
    return replace(result, moves=as_committed(result.moves, committed))
