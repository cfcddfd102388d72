"""Domain types the router works in and the client library returns (never protobuf)."""

from __future__ import annotations

from dataclasses import dataclass

import solver
from netrouter.errors import InvalidArgumentError
from netrouter.names import UnknownNameError, check_model
from solver import Alternative, InvalidProblemError, Unplaced

__all__ = [
    "AcceleratorCapacity",
    "AcceleratorInventory",
    "Alternative",
    "Link",
    "Move",
    "PlaceResult",
    "Placement",
    "PlacementEvent",
    "RebalanceResult",
    "RegionLatency",
    "SiteLabels",
    "SiteReport",
    "SiteView",
    "Snapshot",
    "SolveInfo",
    "Unplaced",
    "Workload",
]

ACTIVE = "active"
RELEASED = "released"
EVICTED = "evicted"
STATES = (ACTIVE, RELEASED, EVICTED)

PLACED = "placed"
MOVED = "moved"
EVENT_KINDS = (PLACED, MOVED, RELEASED, EVICTED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload(solver.Workload):
    """A unit of GPU work to place whole on one site (every field: :class:`solver.Workload`).

    What the client library sends and the router takes in. Accelerator models are spelt
    as :func:`netrouter.names.check_model` says (``h100`` is ``H100``). A bad value raises
    :class:`~netrouter.errors.InvalidArgumentError` naming the field (``demands.H100``).
    """

    def __post_init__(self) -> None:
        try:
            solver.Workload.__post_init__(self)
        except InvalidProblemError as exc:
            raise InvalidArgumentError(exc.field, exc.message) from exc
        demands: dict[str, int] = {}
        for model, count in self.demands.items():
            try:
                name = check_model(model)
            except UnknownNameError as exc:
                raise InvalidArgumentError(f"demands.{model}", str(exc)) from exc
            if name in demands:
                raise InvalidArgumentError(f"demands.{model}", f"names {name} again")
            demands[name] = count
        if list(demands) != list(self.demands):
            object.__setattr__(self, "demands", demands)


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteLabels:
    """Where a site sits in the national network."""

    name: str = ""
    hub: str = ""
    hub_name: str = ""
    province: str = ""
    side: str = ""
    latitude: float = 0.0
    longitude: float = 0.0
    pue_cap: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceleratorInventory:
    """One accelerator model at a site, as its agent reports it."""

    model: str
    total: int
    healthy: int
    in_use_by_others: int
    power_w: float
    from_static_config: bool = False

    @property
    def available(self) -> int:
        """Healthy devices nobody else uses: what netrouter may place on."""
        return max(0, self.healthy - self.in_use_by_others)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionLatency:
    """Round-trip latency from a demand region to a site."""

    region: str
    rtt_ms: float
    measured: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteReport:
    """A validated site report (see :mod:`netrouter.reports`)."""

    site_id: str
    boot_id: str
    sequence: int
    timestamp: float
    labels: SiteLabels
    accelerators: tuple[AcceleratorInventory, ...]
    pue: float
    price_now_yuan_per_kwh: float
    next_24h_yuan_per_kwh: tuple[float, ...]
    timezone: str
    carbon_kg_per_kwh: float
    latencies: tuple[RegionLatency, ...]
    report_interval_s: float
    band_now: str = ""
    pue_source: str = ""
    pue_age_s: float = 0.0
    pue_mean: float = 0.0
    pue_mean_window_s: float = 0.0
    pue_mean_covered_s: float = 0.0

    @property
    def sustained_pue(self) -> float:
        """The PUE the hub's cap is judged on: the mean over the window, or the PUE now
        when the agent reports no mean (0)."""
        return self.pue_mean or self.pue


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RebalanceResult:
    """What ``Rebalance`` proposes (or did): moves with their savings, and the solve behind."""

    moves: tuple[Move, ...]
    saving_yuan: float
    committed: bool
    solve: SolveInfo
    candidates: int


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
