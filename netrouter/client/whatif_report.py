"""What a what-if returns: the baseline and each scenario side by side (plain data).

Built by :mod:`netrouter.planning.whatif`; sent as JSON over the ``WhatIf`` RPC.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

WHATIF_TIME_LIMIT_S = 5.0
"""The default time limit of each what-if solve (the baseline and each scenario)."""
WHATIF_RELATIVE_GAP = 1e-3


class SiteRow(BaseModel):
    """One site in one result."""

    site_id: str
    hub: str = ""
    side: str = ""
    latitude: float = 0.0
    longitude: float = 0.0
    up: bool = True
    capacity: int = 0
    """Healthy devices not used by others (all models)."""
    devices: int = 0
    """Devices our plan uses there."""
    utilisation: float = 0.0
    placed: int = 0
    cost_yuan: float = 0.0
    energy_kwh: float = 0.0


class SideRow(BaseModel):
    """Work on one side (east or west) of the country."""

    placed: int = 0
    devices: int = 0
    energy_kwh: float = 0.0
    cost_yuan: float = 0.0


class UnplacedRow(BaseModel):
    """A workload the plan leaves out, and why."""

    workload_id: str
    reason: str


class SolveRow(BaseModel):
    """How the solve went: objective, bound, gap, status, method and time."""

    objective: float
    bound: float
    gap: float
    status: str
    method: str
    wall_s: float


class Result(BaseModel):
    """One state solved: totals, the split by side and site, and where each workload went."""

    cost_yuan: float
    """Energy, transfer, migration and carbon cost over the placed work's remaining runs."""
    cost_per_hour_yuan: float
    cost_per_day_yuan: float
    """The next 24 hours at each site's time-of-use prices (one-off costs included)."""
    energy_kwh: float
    energy_per_day_kwh: float
    carbon_kg: float
    placed: int
    unplaced: int
    slo_violations: int
    """Work with a latency SLO whose site breaks it in this state (it must move or stop)."""
    sides: dict[str, SideRow]
    sites: list[SiteRow]
    latencies_ms: list[float]
    """Latency of every placed workload that has an origin latency (for a CDF)."""
    where: dict[str, str]
    """Workload id → the site it runs on ("" if left out)."""
    unplaced_work: list[UnplacedRow]
    solve: SolveRow


class MoveRow(BaseModel):
    """A workload the scenario places elsewhere than the baseline, and why."""

    workload_id: str
    from_site: str
    """"" if the baseline left it out."""
    to_site: str
    """"" if the scenario leaves it out."""
    reason: str


class Flow(BaseModel):
    """How many workloads move from one site to another (an empty site: left out)."""

    from_site: str
    to_site: str
    workloads: int


class Diff(BaseModel):
    """Scenario − baseline."""

    cost_yuan: float
    cost_per_hour_yuan: float
    cost_per_day_yuan: float
    energy_kwh: float
    carbon_kg: float
    placed: int
    unplaced: int
    slo_violations: int
    west_share_delta: float
    """Change in the share of devices on the west side."""
    moved: int
    moves: list[MoveRow]
    flows: list[Flow]
    added: int
    """Workloads only in the scenario (new work, more demand)."""
    removed: int
    """Workloads only in the baseline (less demand)."""


class ScenarioResult(BaseModel):
    """One scenario's figures and its difference from the baseline."""

    name: str
    description: str = ""
    result: Result
    diff: Diff


class WhatIfReport(BaseModel):
    """The baseline and every scenario, for one state at one instant."""

    taken_at: float
    at: float
    baseline: Result
    scenarios: list[ScenarioResult] = Field(default_factory=list)


def west_share(result: Result) -> float:
    """The share of placed devices on the west side."""
    total = sum(s.devices for s in result.sides.values())
    west = result.sides.get("west")
    return (west.devices / total) if west is not None and total else 0.0
