"""The state a what-if scenario changes: everything a plan depends on, at one instant."""

from __future__ import annotations

from dataclasses import dataclass, field

from netrouter.client.types import Link, MoveCost, Snapshot, Workload
from netrouter.contract.site_report import SiteReport, hub_caps


class ScenarioError(ValueError):
    """A scenario does not fit the state it is applied to (the message names the change)."""


# Mutable: a scenario's changes edit a copy of the world in place, one after another.
@dataclass(slots=True, kw_only=True)
class World:
    """Everything a plan depends on, at one instant, in a form scenarios can change."""

    at: float
    reports: dict[str, SiteReport]
    up: set[str]
    links: list[Link]
    workloads: list[Workload]
    running: dict[str, str] = field(default_factory=dict)
    """Workload id → the site it runs on now (running work only)."""
    carbon_yuan_per_kg: float = 0.0
    hub_max_pue: dict[str, float] = field(default_factory=dict)
    """Scenario PUE caps per hub; the tighter of these and the sites' own caps applies."""
    over_pue_cap: set[str] = field(default_factory=set)
    """Sites over their hub's PUE cap: they take work only ``pue_cap_hysteresis`` under it."""
    pue_cap_hysteresis: float = 0.0
    drained: set[str] = field(default_factory=set)
    """Sites drained by their operator: they take no work."""

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, at: float | None = None) -> World:
        """The snapshot's state at ``at`` (default: when it was taken): its up sites, its
        links, the rest of every active placement's work, running where it is, and which
        sites are over their hub's PUE cap or drained."""
        at = snapshot.taken_at if at is None else at
        up = {v.site_id for v in snapshot.sites if v.up}
        work = [MoveCost().remaining(p, at) for p in snapshot.placements]
        return cls(
            at=at,
            reports={r.site_id: r for r in snapshot.site_reports},
            up=up,
            links=list(snapshot.links),
            workloads=work,
            running={p.workload.id: p.site_id for p in snapshot.placements},
            over_pue_cap={v.site_id for v in snapshot.sites if v.over_pue_cap},
            pue_cap_hysteresis=snapshot.pue_cap_hysteresis,
            drained={v.site_id for v in snapshot.sites if v.drained},
        )

    def copy(self) -> World:
        """A copy whose containers a scenario can change without touching this one."""
        return World(
            at=self.at,
            reports=dict(self.reports),
            up=set(self.up),
            links=list(self.links),
            workloads=list(self.workloads),
            running=dict(self.running),
            carbon_yuan_per_kg=self.carbon_yuan_per_kg,
            hub_max_pue=dict(self.hub_max_pue),
            over_pue_cap=set(self.over_pue_cap),
            pue_cap_hysteresis=self.pue_cap_hysteresis,
            drained=set(self.drained),
        )

    def pue_caps(self) -> dict[str, float]:
        """Each hub's PUE cap: the tightest of its sites' own and the scenario's."""
        caps = hub_caps(self.reports.values())
        for hub, cap in self.hub_max_pue.items():
            caps[hub] = min(cap, caps.get(hub, cap))
        return caps
