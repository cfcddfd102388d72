"""The queue: work that cannot start now waits, durably, and starts once capacity allows.

Work ``Place`` cannot start now is queued (state ``queued``, no site, ``explanation`` saying
why it waits) unless no site could ever take it (:func:`never_placeable`: a model no site
has, more devices than any site holds, an SLO or residency no site meets), which is refused
at once. :func:`start_queued` starts what it can, in queue order: higher priority first,
then the longest waiting (:attr:`Placement.submitted`). A workload that cannot start keeps
the capacity it could use from the work behind it (no lower-priority or younger work takes
it meanwhile, so nothing waits for capacity taken after it arrived; strict order, no
backfill); new work placed while work waits does not take it either (:func:`ahead_of`).
Work that cannot start may stop running ``preemptible`` work of strictly lower priority
(:func:`victims`: never equal or higher, the lowest priority and then the least restart
cost first, never a chain of stops in one decision); the stopped work goes back to the
queue (``preempted``), keeping when it was submitted. Active work whose site goes down and
that fits nowhere else goes back to the queue (``requeued``), keeping when it was
submitted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable
from dataclasses import replace

import solver
from netrouter.client.errors import RouterError
from netrouter.client.types import (
    FAILED,
    PREEMPTED,
    QUEUED,
    REQUEUED,
    SECONDS_PER_HOUR,
    STARTED,
    MoveCost,
    Placement,
    Workload,
)
from netrouter.planning.problem import NOTHING_TO_SOLVE, placement_from_solver, solver_workload
from netrouter.router.active import ActivePlacements
from netrouter.router.background import Periodic
from netrouter.router.ids import utc_time
from netrouter.router.operations import Decision
from netrouter.router.site_view import Capacity, Key, SitesView
from netrouter.router.store import Change
from solver.model import unoffered_reason

log = logging.getLogger(__name__)

PlaceOne = Callable[[SitesView, Workload, Capacity], solver.Plan]
"""The single-workload path: the plan for one workload on a view with this capacity."""

__all__ = [
    "QueueStarter",
    "ahead_of",
    "due",
    "failed",
    "hold",
    "never_placeable",
    "not_yet",
    "out_of_time",
    "queued",
    "requeued",
    "start_queued",
    "victims",
]


def queued(
    workload: Workload,
    *,
    placement_id: str,
    reason: str,
    now: float,
    submitted_at: float | None = None,
) -> Placement:
    """Work waiting in the queue, saying why: new (submitted ``now``), or back in it
    keeping when it was first ``submitted_at``."""
    return Placement(
        placement_id=placement_id,
        workload=workload,
        site_id="",
        accelerator_model="",
        devices=0,
        energy_kwh=0.0,
        energy_cost_yuan=0.0,
        cost_per_hour_yuan=0.0,
        carbon_kg=0.0,
        latency_ms=None,
        explanation=f"waits: {reason}",
        state=QUEUED,
        created_at=now,
        submitted_at=now if submitted_at is None else submitted_at,
    )


def due(workload: Workload, now: float) -> bool:
    """Whether ``workload`` may start now (its earliest start has come)."""
    return workload.earliest_start <= now


def not_yet(workload: Workload) -> str:
    """Why work waits for its earliest start."""
    return f"its earliest start is {utc_time(workload.earliest_start)}"


def out_of_time(workload: Workload, now: float) -> str | None:
    """Why ``workload`` cannot meet its deadline even if it started now, or at its earliest
    start if later (``None``: it still can, or it has none)."""
    if not workload.deadline:
        return None
    start = max(now, workload.earliest_start)
    end = start + workload.duration_h * SECONDS_PER_HOUR
    if end <= workload.deadline:
        return None
    return (
        f"its deadline {utc_time(workload.deadline)} cannot be met: "
        f"{workload.duration_h:g} h from {utc_time(start)} ends {utc_time(end)}"
    )


def failed(p: Placement, *, reason: str) -> Change:
    """Queued work that can no longer run as asked."""
    return Change(kind=FAILED, placement=replace(p, state=FAILED, end_reason=reason), reason=reason)


def requeued(p: Placement, *, reason: str, now: float) -> Change:
    """Active work back in the queue (its site gone, nowhere to go), keeping its id and
    when it was submitted."""
    back = queued(
        p.workload, placement_id=p.placement_id, reason=reason, now=now, submitted_at=p.submitted
    )
    return Change(kind=REQUEUED, placement=back, from_site_id=p.site_id, reason=reason)


def never_placeable(workload: Workload, view: SitesView) -> str | None:
    """Why no site up could ever take ``workload``, even empty (``None``: some could).

    A site could take it on a model it demands when the site has that many devices (on
    nodes: enough nodes, in one interconnect domain where it asks for one), meets its
    latency SLO from its origin, and its residency admits it. PUE and price change, so they
    do not make work never placeable."""
    w = solver_workload(workload)
    offered = {m for s in view.sites for m in s.power_w}
    unoffered = unoffered_reason(w, offered)
    if unoffered is not None:
        return unoffered
    totals = {
        (r.site_id, a.model): a.total for r in view.reports for a in r.accelerators if a.total
    }
    why: list[str] = []
    for site in view.sites:
        reason = _why_not(w, site, totals, view)
        if reason is None:
            return None
        why.append(f"{site.id}: {reason}")
    return f"no site could ever take it ({'; '.join(why)})"


def _out_of_reach(w: solver.Workload, site: solver.Site) -> str | None:
    """Why ``site`` is never for ``w`` whatever its capacity: residency or latency."""
    if not w.admits(site):
        return "residency"
    rtt = site.latency_ms.get(w.origin_region, math.inf)
    if w.latency_slo_ms is not None and rtt > w.latency_slo_ms:
        return f"latency {rtt:.1f} ms above SLO {w.latency_slo_ms:.1f} ms"
    return None


def _why_not(
    w: solver.Workload, site: solver.Site, totals: dict[Key, int], view: SitesView
) -> str | None:
    reach = _out_of_reach(w, site)
    if reach is not None:
        return reach
    sizes = []
    for model, need in w.demands.items():
        if model not in site.power_w:
            continue
        total = totals.get((site.id, model), 0)
        if need > total:
            sizes.append(f"{need} {model} needed, {total} installed")
            continue
        shape = view.shape_of.get((site.id, model))
        if shape is not None and need > shape.node_size:
            nodes = sum(shape.nodes_by_free)
            if shape.nodes_for(need) > nodes:
                sizes.append(f"{shape.nodes_for(need)} nodes of {model} needed, {nodes} there")
                continue
            if shape.in_domain(need, w.one_domain) and shape.nodes_for(need) > shape.domain_nodes:
                sizes.append(
                    f"{shape.nodes_for(need)} nodes of {model} in one interconnect domain "
                    f"needed, at most {shape.domain_nodes} in one"
                )
                continue
        return None
    return ", ".join(sizes) if sizes else "none of its models"


def start_queued(
    *,
    active: ActivePlacements,
    view: SitesView,
    now: float,
    place_one: PlaceOne,
    move_cost: MoveCost,
) -> Decision[int]:
    """Start the queued work that fits now, in queue order; the answer is how many
    changed. Work whose deadline is out of reach fails; work not yet due is left as it
    is. Work that does not fit may preempt (:func:`victims`); else it holds the (site,
    model) pairs it could use against the work behind it (see the module docstring)."""
    waiting = active.queued()
    if not waiting:
        return Decision(result=0)
    capacity = view.free_capacity(active).copy()
    up = {s.id: s for s in view.sites}
    changes: list[Change] = []
    held: set[Key] = set()
    preempted: set[str] = set()
    for q in waiting:
        late = out_of_time(q.workload, now)
        if late is not None:
            changes.append(failed(q, reason=late))
            continue
        if not due(q.workload, now):
            continue  # holds nothing until it may start
        usable = _could_use(q.workload, up.values())
        need = q.workload.demands
        # No pair with the devices free: no need to ask the solver (a large queue behind
        # held capacity costs a scan, not a solve per workload).
        roomy = any(capacity.free(k) >= need[k[1]] for k in usable)
        plan = place_one(view, q.workload, capacity) if roomy else NOTHING_TO_SOLVE
        if not plan.assignments:
            keys = [k for k in usable if k not in held]
            found = (  # priority 0 has nothing below it to stop
                victims(q, keys, active, capacity, move_cost, skip=preempted)
                if q.workload.priority > 0
                else None
            )
            if found is not None:
                key, chosen = found
                trial = capacity.copy()
                for v in chosen:
                    trial.give(key, v.devices)
                plan = place_one(view, q.workload, trial)
                if plan.assignments:  # else nothing is stopped for it
                    capacity = trial
                    preempted.update(v.placement_id for v in chosen)
                    changes += [_preempted(v, by=q, now=now) for v in chosen]
        if plan.assignments:
            (a,) = plan.assignments
            started = replace(
                placement_from_solver(
                    a, placement_id=q.placement_id, workload=q.workload, created_at=now
                ),
                submitted_at=q.submitted,
            )
            capacity.take((a.site_id, a.model), a.devices)
            changes.append(Change(kind=STARTED, placement=started))
            continue
        held.update(usable)
        _hold_pairs(capacity, usable)
    return Decision(result=len(changes), changes=tuple(changes))


def victims(
    q: Placement,
    keys: Iterable[Key],
    active: ActivePlacements,
    capacity: Capacity,
    move_cost: MoveCost,
    *,
    skip: Collection[str] = (),
) -> tuple[Key, list[Placement]] | None:
    """The running work ``q`` may stop to start now, and where: on one (site, model) pair
    of ``keys``, preemptible work of strictly lower priority (never equal or higher), the
    lowest priority first, then the least restart cost (:meth:`MoveCost.restart_yuan`: the
    hours it loses), as few as make ``q`` fit; the pair where that costs least. ``None``:
    no pair frees enough."""
    need = q.workload.demands
    best: tuple[float, Key, list[Placement]] | None = None
    for key in keys:
        devices = need.get(key[1])
        if devices is None:
            continue
        running = [
            p
            for pid in active.on(key)
            if (p := active.get(pid)) is not None
            and pid not in skip
            and p.workload.preemptible
            and p.workload.priority < q.workload.priority
        ]
        running.sort(
            key=lambda p: (
                p.workload.priority,
                move_cost.restart_yuan(p),
                -p.devices,
                p.placement_id,
            )
        )
        trial = capacity.copy()
        chosen: list[Placement] = []
        for p in running:
            trial.give(key, p.devices)
            chosen.append(p)
            if trial.fits(key, devices, q.workload.one_domain):
                cost = sum(move_cost.restart_yuan(v) for v in chosen)
                if best is None or cost < best[0]:
                    best = (cost, key, chosen)
                break
    return None if best is None else (best[1], best[2])


def _preempted(v: Placement, *, by: Placement, now: float) -> Change:
    """Running work stopped for higher-priority work: back in the queue, keeping when it
    was submitted (or failed, when its deadline is then out of reach)."""
    why = (
        f"preempted at {v.site_id} by {by.workload.id} "
        f"(priority {by.workload.priority} > {v.workload.priority})"
    )
    late = out_of_time(v.workload, now)
    if late is not None:
        stopped = replace(v, state=FAILED, end_reason=f"{why}; {late}")
        return Change(kind=FAILED, placement=stopped, from_site_id=v.site_id, reason=why)
    back = queued(
        v.workload, placement_id=v.placement_id, reason=why, now=now, submitted_at=v.submitted
    )
    return Change(kind=PREEMPTED, placement=back, from_site_id=v.site_id, reason=why)


def hold(
    capacity: Capacity, waiting: Iterable[Placement], sites: Iterable[solver.Site]
) -> Capacity:
    """``capacity`` with every (site, model) pair the ``waiting`` work could use taken:
    held for it against work behind it in the queue (returned for chaining)."""
    sites = list(sites)
    for q in waiting:
        _hold_pairs(capacity, _could_use(q.workload, sites))
    return capacity


def _hold_pairs(capacity: Capacity, keys: Iterable[Key]) -> None:
    """Take every free device of these (site, model) pairs: held for waiting work."""
    for key in keys:
        if free := capacity.free(key):
            capacity.take(key, free)


def ahead_of(
    active: ActivePlacements, workloads: Iterable[Workload], now: float
) -> list[Placement]:
    """The queued work new ``workloads`` may not jump: all of it that may start now, of at
    least the lowest priority among them (queued work is older, so it goes first within a
    priority)."""
    lowest = min((w.priority for w in workloads), default=0)
    return [q for q in active.queued() if q.workload.priority >= lowest and due(q.workload, now)]


def _could_use(workload: Workload, sites: Iterable[solver.Site]) -> list[Key]:
    """The (site, model) pairs ``workload`` could run on, capacity aside."""
    w = solver_workload(workload)
    out = []
    for site in sites:
        if site.drained or _out_of_reach(w, site) is not None:
            continue
        if w.max_pue is not None and site.pue > w.max_pue:
            continue
        out += [(site.id, m) for m in w.demands if m in site.power_w]
    return out


class QueueStarter:
    """Calls ``start`` while work is queued: at once when :meth:`poke`\\ d (capacity freed
    by a release or a failover), else every ``interval_s`` when ``signature`` (what the
    capacity depends on: the sites' reports, our placements) changed since the last try."""

    def __init__(
        self,
        *,
        waiting: Callable[[], int],
        signature: Callable[[], Hashable],
        start: Callable[[], Awaitable[int]],
        interval_s: float,
    ) -> None:
        self._waiting, self._signature, self._start = waiting, signature, start
        self._task = Periodic(self._try, interval_s, "queue-starter")
        self._tried: Hashable = None

    def start(self) -> None:
        """Start watching (once)."""
        self._task.start()

    async def stop(self) -> None:
        """Stop watching."""
        await self._task.stop()

    def poke(self) -> None:
        """Try now: capacity may have freed."""
        self._tried = None
        self._task.wake()

    async def _try(self) -> None:
        if not self._waiting():
            return
        signature = self._signature()
        if signature == self._tried:
            return
        self._tried = signature
        try:
            started = await self._start()
        except RouterError as exc:
            log.error("starting queued work failed: %s; retrying", exc)
            self._tried = None
        else:
            if started:
                log.info("started %d queued workloads", started)
