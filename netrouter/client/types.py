"""Domain types the router works in and the client library returns (never protobuf)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from netrouter.client.errors import InvalidArgumentError
from netrouter.contract.limits import MAX_DURATION_H, MAX_EPOCH_S, MAX_POWER_W, MAX_PRIORITY
from netrouter.contract.names import UnknownNameError, check_model
from netrouter.contract.site_report import RegionLatency, SiteLabels, SiteReport

__all__ = [
    "AcceleratorCapacity",
    "Alternative",
    "DrainResult",
    "Link",
    "Move",
    "PlaceResult",
    "Placement",
    "PlacementEvent",
    "RebalanceResult",
    "SiteView",
    "Snapshot",
    "SolveInfo",
    "Unplaced",
    "Workload",
]

ACTIVE = "active"
FAILED = "failed"
"""Queued work that can no longer run as asked (its deadline out of reach); ``end_reason``
says why."""
QUEUED = "queued"
"""Waiting in the router's queue for capacity: no site yet; ``explanation`` says why."""
RELEASED = "released"
EVICTED = "evicted"
STATES = (ACTIVE, QUEUED, RELEASED, EVICTED, FAILED)
PLANNED = "planned"
"""The state of a dry run's rows: where the work would go, nothing placed (no id)."""

PLACED = "placed"
MOVED = "moved"
STARTED = "started"
"""Queued work that started: the placement is active where the event says."""
REQUEUED = "requeued"
"""Active work that lost its site (down, nowhere to go) and waits in the queue again."""
PREEMPTED = "preempted"
"""Preemptible work stopped for higher-priority work: it waits in the queue again."""
EVENT_KINDS = (PLACED, MOVED, RELEASED, EVICTED, QUEUED, STARTED, REQUEUED, PREEMPTED, FAILED)


RESIDENCY_FIELDS = (
    "allowed_sites",
    "allowed_hubs",
    "allowed_provinces",
    "forbidden_sites",
    "forbidden_hubs",
    "forbidden_provinces",
)
"""The workload fields that say where its data may go (data residency)."""


def residency_of(source: object) -> dict[str, Any]:
    """The residency fields read off ``source`` (a message, a file entry) as frozensets."""
    return {name: frozenset(getattr(source, name)) for name in RESIDENCY_FIELDS}


def _check_range(name: str, value: float, low: float, high: float = math.inf) -> None:
    if not math.isfinite(value) or value < low or value > high:
        raise InvalidArgumentError(name, f"must be a finite number in [{low}, {high}], got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """A unit of GPU work to place whole on one site: what the client library sends and
    the router takes in.

    ``demands`` maps each accelerator model the workload can use to the device count it
    needs on that model (8 H100 or 16 Ascend910B), spelt as
    :func:`netrouter.contract.names.check_model` says (``h100`` is ``H100``).
    ``power_w_per_device`` ``None``: the site's reported board power. ``latency_slo_ms``
    ``None``: no SLO. A non-empty ``allowed_*`` set admits only the sites, hubs or
    provinces it names; ``forbidden_*`` excludes those it names. ``data_gb`` moves from the
    origin region to a new site. ``current_site`` marks work already running there;
    moving it costs the transfer plus ``migration_cost_yuan``. ``one_domain``: work
    larger than a node needs its whole nodes in one fast-interconnect domain (NVLink or
    HCCS island) at sites that report their domains. ``earliest_start`` and ``deadline``
    (seconds since the Unix epoch; 0: now, none): when it may start and by when it must be
    done. ``preemptible``: it may be stopped and restarted elsewhere; ``restart_h``: the
    hours of work lost when it is (0: the router's setting). A bad value raises
    :class:`~netrouter.client.errors.InvalidArgumentError` naming the field
    (``demands.H100``).
    """

    id: str
    origin_region: str
    demands: Mapping[str, int]
    duration_h: float
    power_w_per_device: float | None = None
    latency_slo_ms: float | None = None
    max_pue: float | None = None
    priority: int = 0
    """0..MAX_PRIORITY; higher-priority work is placed first."""
    labels: Mapping[str, str] = field(default_factory=dict)
    allowed_sites: frozenset[str] = frozenset()
    allowed_hubs: frozenset[str] = frozenset()
    allowed_provinces: frozenset[str] = frozenset()
    forbidden_sites: frozenset[str] = frozenset()
    forbidden_hubs: frozenset[str] = frozenset()
    forbidden_provinces: frozenset[str] = frozenset()
    data_gb: float = 0.0
    current_site: str | None = None
    migration_cost_yuan: float = 0.0
    one_domain: bool = False
    earliest_start: float = 0.0
    deadline: float = 0.0
    preemptible: bool = False
    restart_h: float = 0.0

    def __post_init__(self) -> None:
        if not self.id:
            raise InvalidArgumentError("id", "must not be empty")
        if not self.origin_region:
            raise InvalidArgumentError("origin_region", "must not be empty")
        if not self.demands:
            raise InvalidArgumentError("demands", "needs at least one model")
        demands: dict[str, int] = {}
        for model, count in self.demands.items():
            if not model:
                raise InvalidArgumentError("demands", "empty model name")
            try:
                name = check_model(model)
            except UnknownNameError as exc:
                raise InvalidArgumentError(f"demands.{model}", str(exc)) from exc
            if count < 1:
                raise InvalidArgumentError(f"demands.{model}", "must be >= 1")
            if name in demands:
                raise InvalidArgumentError(f"demands.{model}", f"names {name} again")
            demands[name] = count
        if list(demands) != list(self.demands):
            object.__setattr__(self, "demands", demands)
        _check_range("duration_h", self.duration_h, 1e-6, MAX_DURATION_H)
        if self.power_w_per_device is not None:
            _check_range("power_w_per_device", self.power_w_per_device, 1.0, MAX_POWER_W)
        if self.latency_slo_ms is not None:
            _check_range("latency_slo_ms", self.latency_slo_ms, 0.001)
        if self.max_pue is not None:
            _check_range("max_pue", self.max_pue, 1.0)
        if not 0 <= self.priority <= MAX_PRIORITY:
            raise InvalidArgumentError("priority", f"must be in [0, {MAX_PRIORITY}]")
        _check_range("data_gb", self.data_gb, 0.0, 1e9)
        _check_range("migration_cost_yuan", self.migration_cost_yuan, 0.0)
        _check_range("earliest_start", self.earliest_start, 0.0, MAX_EPOCH_S)
        _check_range("deadline", self.deadline, 0.0, MAX_EPOCH_S)
        _check_range("restart_h", self.restart_h, 0.0, MAX_DURATION_H)
        if (
            self.deadline
            and self.deadline < self.earliest_start + self.duration_h * SECONDS_PER_HOUR
        ):
            raise InvalidArgumentError(
                "deadline",
                f"{self.deadline:.0f} is before earliest_start + duration_h "
                f"({self.earliest_start + self.duration_h * SECONDS_PER_HOUR:.0f}): it can never be met",
            )
        if self.current_site == "":
            raise InvalidArgumentError("current_site", "must not be empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class Alternative:
    """A site (and accelerator model there) cheaper than what a workload got, and what kept
    the workload off it (``reason_kind``: one of the solver's reason kinds, e.g. ``latency``)."""

    site_id: str
    model: str
    cost_yuan: float
    reason_kind: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Unplaced:
    """A workload a batch leaves out, why, and what leaving it out costs."""

    workload_id: str
    reason: str
    penalty_yuan: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceleratorCapacity:
    """Capacity of one accelerator model at a site, net of every use."""

    model: str
    total: int
    healthy: int
    in_use_by_others: int
    placed: int
    free: int
    power_w: float
    node_size: int = 0
    """Devices per node; 0: the site reports no shape (free is a count only)."""
    nodes_by_free: tuple[int, ...] = ()
    """``nodes_by_free[k]``: nodes with ``k`` free devices once our placements are on them,
    ``k = 0..node_size``."""
    domain_nodes: int = 0
    """The most nodes in one fast-interconnect domain; 0: the site reports no domains."""
    domains_by_whole: tuple[int, ...] = ()
    """``domains_by_whole[k]``: domains with ``k`` whole free nodes, ``k = 0..domain_nodes``."""

    @property
    def whole_nodes(self) -> int:
        """Nodes with every device free (0 without a shape)."""
        return self.nodes_by_free[-1] if self.nodes_by_free else 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteView:
    """The router's live view of one site."""

    site_id: str
    labels: SiteLabels
    up: bool
    down_reason: str
    report_age_s: float
    pue: float
    price_now_yuan_per_kwh: float
    carbon_kg_per_kwh: float
    accelerators: tuple[AcceleratorCapacity, ...]
    latencies: tuple[RegionLatency, ...]
    price_band_now: str = ""
    agents: tuple[str, ...] = ()
    """Boot ids of the agents speaking for the site now; two or more: a duplicate agent."""
    pue_source: str = ""
    pue_age_s: float = 0.0
    ttl_s: float = 0.0
    held_down_s: float = 0.0
    pue_mean: float = 0.0
    """The sustained PUE the hub's cap is judged on (0: not reported; judged on ``pue``)."""
    over_pue_cap: bool = False
    """Above its hub's cap (``labels.pue_cap``), with hysteresis: takes no new work."""
    drained: bool = False
    """Drained by an operator: takes no new work until undrained."""
    drained_at: float = 0.0
    """When it was drained (unix seconds; 0: not drained)."""
    drain_reason: str = ""
    """Why, as the operator said."""
    sees_placements: bool = False
    """Whether the site's agent shows which of our placements run there."""
    not_running: tuple[str, ...] = ()
    """Our placements there the site has not shown running past the router's grace."""
    unknown_running: tuple[str, ...] = ()
    """Placement ids the site shows running that the router does not know."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """A workload committed to a site, with what it costs there and why it is there."""

    placement_id: str
    workload: Workload
    site_id: str
    accelerator_model: str
    devices: int
    energy_kwh: float
    energy_cost_yuan: float
    cost_per_hour_yuan: float
    carbon_kg: float
    latency_ms: float | None
    explanation: str
    state: str
    created_at: float
    transfer_cost_yuan: float = 0.0
    migration_cost_yuan: float = 0.0
    carbon_cost_yuan: float = 0.0
    alternatives: tuple[Alternative, ...] = ()
    updated_at: float = 0.0
    end_reason: str = ""
    submitted_at: float = 0.0
    """When the workload was first submitted; queued work keeps it through its start and
    any requeue. 0: :attr:`created_at`."""

    @property
    def submitted(self) -> float:
        """When the workload was first submitted."""
        return self.submitted_at or self.created_at

    @property
    def workload_id(self) -> str:
        """The caller's id of the placed workload."""
        return self.workload.id

    @property
    def total_cost_yuan(self) -> float:
        """Energy, transfer, migration and carbon cost over the expected run."""
        return (
            self.energy_cost_yuan
            + self.transfer_cost_yuan
            + self.migration_cost_yuan
            + self.carbon_cost_yuan
        )


def queue_order(p: Placement) -> tuple[int, float, str]:
    """The key queued work starts in: higher priority first, then the longest waiting."""
    return (-p.workload.priority, p.submitted, p.placement_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlacementEvent:
    """One change to a placement, numbered in commit order (``event_id`` > 0)."""

    event_id: int
    kind: str  # one of EVENT_KINDS
    placement: Placement
    from_site_id: str
    at: float
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Move:
    """Running work moved (or proposed to move) from one site to another."""

    placement_id: str
    from_site_id: str
    to_site_id: str
    saving_yuan: float
    placement: Placement
    reason: str = ""
    """Why it moves: what it saves, or the old site's breach of its hub's PUE cap."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A backbone link of the network model between two nodes (demand regions or sites)."""

    a: str
    b: str
    latency_ms: float
    bandwidth_gbps: float = 0.0
    yuan_per_gb: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SolveInfo:
    """Quality of the solve behind a placement batch."""

    objective: float
    bound: float
    gap: float
    status: str
    wall_s: float
    method: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceResult:
    """What ``Place`` returns: the placements, the work left out, and the solve's quality."""

    placements: tuple[Placement, ...]
    unplaced: tuple[Unplaced, ...]
    solve: SolveInfo
    dry_run: bool
    queued: tuple[Placement, ...] = ()
    """Work waiting in the queue (state ``queued``), each with why it waits."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RebalanceResult:
    """What ``Rebalance`` proposes (or did): moves with their savings, and the solve behind."""

    moves: tuple[Move, ...]
    saving_yuan: float
    committed: bool
    solve: SolveInfo
    candidates: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DrainResult:
    """A site drained (or undrained): the site as it is now, and with ``move`` the work
    that moved off it and the work that fits nowhere else and stays."""

    site: SiteView
    moved: tuple[Move, ...] = ()
    stayed: tuple[Unplaced, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """The router's whole state at one instant, for offline what-ifs."""

    taken_at: float
    site_reports: tuple[SiteReport, ...]
    placements: tuple[Placement, ...]
    sites: tuple[SiteView, ...]
    links: tuple[Link, ...]
    last_event_id: int
    pue_cap_hysteresis: float = 0.0
    """How far under its hub's cap a site over it must come back (the router's setting)."""


SECONDS_PER_HOUR = 3600.0
MIN_REMAINING_H = 1.0 / 60.0
"""Running work with less left than this still counts as this much when re-placed."""
DEFAULT_RESTART_H = 0.25
"""Hours of running work lost when it moves (run since its last checkpoint), re-run after."""
DEFAULT_MIN_SAVING_YUAN = 1.0
"""What a rebalance move must save beyond its own cost, unless the router or request says."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveCost:
    """What moving running work costs, besides its data transfer and its own
    ``migration_cost_yuan``: the ``restart_h`` hours it re-runs (those since its last
    checkpoint), priced at its cost per hour where it runs. Running work with less than
    ``min_remaining_h`` left still counts as that much."""

    restart_h: float = DEFAULT_RESTART_H
    min_remaining_h: float = MIN_REMAINING_H

    def __post_init__(self) -> None:
        _check_range("restart_h", self.restart_h, 0.0, MAX_DURATION_H)
        _check_range("min_remaining_h", self.min_remaining_h, 0.0, MAX_DURATION_H)

    def restart_yuan(self, p: Placement) -> float:
        """The cost of re-running the hours ``p`` loses if it moves: its workload's own
        ``restart_h`` where it gives one, else this one's."""
        return (p.workload.restart_h or self.restart_h) * p.cost_per_hour_yuan

    def remaining(self, p: Placement, now: float, *, current_site: str | None = None) -> Workload:
        """The rest of running placement ``p``'s work, as a workload running at
        ``current_site`` (default: where it is) that pays the restart if it moves."""
        elapsed_h = max(0.0, now - p.created_at) / SECONDS_PER_HOUR
        remaining = max(self.min_remaining_h, p.workload.duration_h - elapsed_h)
        return self.running(replace(p.workload, duration_h=remaining), p, current_site=current_site)

    def running(self, w: Workload, p: Placement, *, current_site: str | None = None) -> Workload:
        """``w`` as work that runs at ``current_site`` (default: where ``p`` runs) and pays
        ``p``'s restart if it moves."""
        return replace(
            w,
            current_site=p.site_id if current_site is None else current_site,
            migration_cost_yuan=w.migration_cost_yuan + self.restart_yuan(p),
        )
