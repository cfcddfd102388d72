"""Which sites and which workloads a scenario's change applies to."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from netrouter.client.types import Workload
from netrouter.client.world import ScenarioError, World
from netrouter.contract.configfile import unknown_name
from netrouter.contract.site_report import SiteReport


class StrictModel(BaseModel):
    """A scenario document part: unknown keys are errors and values never change after
    parsing."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSelector(StrictModel):
    """Which sites a change applies to: those matching any list (none given: all)."""

    sites: list[str] = Field(default_factory=list)
    hubs: list[str] = Field(default_factory=list)
    provinces: list[str] = Field(default_factory=list)
    sides: list[Literal["east", "west"]] = Field(default_factory=list)

    def picks(self, r: SiteReport) -> bool:
        """Whether the change applies to the site of report ``r``."""
        if not (self.sites or self.hubs or self.provinces or self.sides):
            return True
        return (
            r.site_id in self.sites
            or r.labels.hub in self.hubs
            or r.labels.province in self.provinces
            or r.labels.side in self.sides
        )

    def check(self, world: World, where: str) -> None:
        """Raise :class:`ScenarioError` for a site, hub or province ``world`` lacks."""
        known = world.reports
        for s in self.sites:
            if s not in known:
                raise ScenarioError(f"{where}.sites: {unknown_name('site', s, sorted(known))}")
        for name, values, have in (
            ("hubs", self.hubs, {r.labels.hub for r in known.values()}),
            ("provinces", self.provinces, {r.labels.province for r in known.values()}),
        ):
            for v in values:
                if v not in have:
                    raise ScenarioError(f"{where}.{name}: no site has {name[:-1]} {v!r}")


class WorkloadSelector(StrictModel):
    """Which workloads a change applies to (every condition given must hold)."""

    select: Literal["any", "inference", "training"] = "any"
    origin_regions: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)

    def picks(self, w: Workload) -> bool:
        """Whether the change applies to workload ``w``."""
        if self.select == "inference" and w.latency_slo_ms is None:
            return False
        if self.select == "training" and w.latency_slo_ms is not None:
            return False
        if self.origin_regions and w.origin_region not in self.origin_regions:
            return False
        return all(w.labels.get(k) == v for k, v in self.labels.items())
