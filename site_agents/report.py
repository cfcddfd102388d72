"""Build the ``SiteReport`` wire message from the collectors."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from netrouter.v1 import site_report_pb2 as rpb
from site_agents.collectors import (
    ConfiguredLatency,
    FixedPue,
    HourlyTariff,
    InventorySource,
    LatencySource,
    PriceSource,
    PueSource,
    StaticInventory,
)
from site_agents.config import SiteConfig
from site_agents.nvml import NvmlInventory


@dataclass(frozen=True, slots=True, kw_only=True)
class Sources:
    """The collectors one agent reads."""

    inventory: InventorySource
    price: PriceSource
    pue: PueSource
    latency: LatencySource

    @classmethod
    def from_config(cls, config: SiteConfig) -> Sources:
        """The sources the config asks for (static ones read the config file itself)."""
        inventory: InventorySource = (
            NvmlInventory(config) if config.inventory.source == "nvml" else StaticInventory(config)
        )
        return cls(
            inventory=inventory,
            price=HourlyTariff(config),
            pue=FixedPue(config),
            latency=ConfiguredLatency(config),
        )


class ReportBuilder:
    """Numbers each report of one agent run (one boot id, sequence from 1)."""

    def __init__(
        self,
        config: SiteConfig,
        sources: Sources | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.sources = sources or Sources.from_config(config)
        self.boot_id = uuid.uuid4().hex
        self.sequence = 0
        self._clock = clock

    def build(self) -> rpb.SiteReport:
        """Read every collector and return the next report."""
        now = self._clock()
        self.sequence += 1
        site = self.config.site
        tariff = self.sources.price.tariff(now)
        return rpb.SiteReport(
            site_id=site.id,
            boot_id=self.boot_id,
            sequence=self.sequence,
            timestamp=now,
            labels=rpb.SiteLabels(
                name=site.name,
                hub=site.hub,
                hub_name=site.hub_name,
                province=site.province,
                side=site.side,
                latitude=site.latitude,
                longitude=site.longitude,
                pue_cap=site.pue_cap,
            ),
            accelerators=[
                rpb.AcceleratorInventory(
                    model=i.model,
                    total=i.total,
                    healthy=i.healthy,
                    in_use_by_others=i.in_use_by_others,
                    power_w=i.power_w,
                    from_static_config=i.from_static_config,
                )
                for i in self.sources.inventory.inventory()
            ],
            pue=self.sources.pue.pue(),
            tariff=rpb.Tariff(
                price_now_yuan_per_kwh=tariff.price_now,
                next_24h_yuan_per_kwh=list(tariff.next_24h),
                timezone=tariff.timezone,
            ),
            carbon_kg_per_kwh=self.config.carbon.kg_per_kwh,
            latencies=[
                rpb.RegionLatency(region=x.region, rtt_ms=x.rtt_ms, measured=x.measured)
                for x in self.sources.latency.latencies()
            ],
            report_interval_s=self.config.publish.interval_s,
        )
