"""The clusters as the trace replay sees them: each site's static capacity and the price of
every hour of the replay at its time-of-use tariff."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from netrouter.planning.replay_nodes import Layout
from netrouter.planning.traces import H100_EQUIVALENT
from site_agents.collectors import TimeOfUseTariff
from site_agents.config import SiteConfig
from solver import NodeShape, Site


# eq=False: the hourly prices are an array, and two replays never compare their networks.
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Network:
    """The clusters as the replay sees them: static capacity, each hour's prices."""

    configs: tuple[SiteConfig, ...]
    start: float  # unix seconds of the replay's start
    hourly: np.ndarray  # sites × hours: price (元/kWh) of each hour of the replay
    layout: Layout = field(default_factory=dict)
    """Per (site, model), its nodes (size, free) at the start; empty: counted in devices."""

    @classmethod
    def from_configs(cls, configs: Sequence[SiteConfig], start: float, hours: int) -> Network:
        """The sites of ``configs``, priced for ``hours`` from ``start`` (unix seconds)."""
        tariffs = [TimeOfUseTariff(c) for c in configs]
        days = math.ceil(hours / 24) + 1
        hourly = np.array(
            [
                [p for d in range(days) for p in t.tariff(start + 86_400 * d).next_24h]
                for t in tariffs
            ],
            dtype=np.float64,
        )
        return cls(configs=tuple(configs), start=start, hourly=hourly)

    def with_layout(self, layout: Layout) -> Network:
        """The same network with its devices laid on these nodes (their free devices must
        be each (site, model)'s free ones)."""
        free = self.free()
        for key, nodes in layout.items():
            if sum(f for _, f in nodes) != free.get(key, 0):
                raise ValueError(f"the nodes of {key} do not hold its {free.get(key, 0)} devices")
        return replace(self, layout=dict(layout))

    def priced_until(self, hours: int) -> Network:
        """The same network priced for at least ``hours`` and the day after (the solver
        reads a day ahead): each hour past its prices costs what the same hour of the
        day before did, so the tariff's hours of day go on as they were."""
        have, need = self.hourly.shape[1], hours + 25
        if have >= need:
            return self
        if have < 24:
            raise ValueError("the network needs a day of prices to repeat")
        cols = np.arange(need)
        cols = np.where(cols < have, cols, have - 24 + (cols - have) % 24)
        return replace(self, hourly=self.hourly[:, cols])

    @property
    def ids(self) -> list[str]:
        """The site ids, in the order of every per-site array."""
        return [c.site.id for c in self.configs]

    def free(self) -> dict[tuple[str, str], int]:
        """Devices each (site, model) may give the replay: healthy, not used by others."""
        return {
            (c.site.id, a.model): max(0, a.healthy - a.in_use_by_others)
            for c in self.configs
            for a in c.accelerators
        }

    def capacity_h100(self) -> float:
        """The free devices in H100s."""
        return sum(n * H100_EQUIVALENT.get(m, 1.0) for (_, m), n in self.free().items())

    def hub_caps(self) -> dict[str, float]:
        """Each hub's PUE cap, from the sites that report one."""
        return {c.site.hub: c.site.pue_cap for c in self.configs if c.site.hub and c.site.pue_cap}

    def unplaced_yuan_per_kwh(self, hours: int) -> float:
        """Twice the dearest facility price per IT kWh anywhere in the replay (fixed, so a
        job's penalty is proportional to its run time)."""
        pue = np.array([c.pue.value or 1.0 for c in self.configs])
        return 2.0 * float((pue[:, None] * self.hourly[:, : max(1, hours)]).max())

    def sites(
        self,
        t_h: float,
        used: dict[tuple[str, str], int] | None = None,
        shapes: Mapping[tuple[str, str], NodeShape] | None = None,
    ) -> list[Site]:
        """The solver's sites at ``t_h`` hours in, less the devices in ``used``, with the
        node ``shapes`` of the (site, model)s that have one (their free devices must agree)."""
        hour = int(t_h)
        free_now = self.free()
        out = []
        for i, c in enumerate(self.configs):
            free = {
                a.model: max(
                    0, free_now[(c.site.id, a.model)] - (used or {}).get((c.site.id, a.model), 0)
                )
                for a in c.accelerators
            }
            out.append(
                Site(
                    id=c.site.id,
                    pue=c.pue.value or 1.0,
                    hourly_price=tuple(float(p) for p in self.hourly[i, hour : hour + 24]),
                    carbon_kg_per_kwh=c.carbon.kg_per_kwh,
                    latency_ms=dict(c.latency_ms),
                    free=free,
                    power_w={a.model: a.power_w for a in c.accelerators},
                    side=c.site.side,
                    hub=c.site.hub,
                    province=c.site.province,
                    shape={
                        a.model: shapes[(c.site.id, a.model)]
                        for a in c.accelerators
                        if shapes and (c.site.id, a.model) in shapes
                    },
                )
            )
        return out
