"""Domain types the router works in and the client library returns (never protobuf)."""

from __future__ import annotations

from dataclasses import dataclass

from solver import Unplaced, Workload

__all__ = [
    "AcceleratorCapacity",
    "AcceleratorInventory",
    "PlaceResult",
    "Placement",
    "RegionLatency",
    "SiteLabels",
    "SiteReport",
    "SiteView",
    "SolveInfo",
    "Unplaced",
    "Workload",
]

ACTIVE = "active"
RELEASED = "released"


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

    @property
    def workload_id(self) -> str:
        """The caller's id of the placed workload."""
        return self.workload.id


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
