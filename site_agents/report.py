"""Build the ``SiteReport`` wire message from the collectors.

The agent fills in the domain :class:`~netrouter.contract.site_report.SiteReport` and sends
it through the contract's one conversion, the same the router decodes with.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from netrouter.contract.messages import same_fields
from netrouter.contract.site_report import (
    AcceleratorInventory,
    RegionLatency,
    SiteLabels,
    SiteReport,
    report_to_pb,
)
from netrouter.v1 import site_report_pb2 as rpb
from site_agents.collectors import (
    CollectorError,
    FixedPue,
    InventorySource,
    LatencySource,
    PlacementSource,
    PriceSource,
    PueSource,
    StaticInventory,
    TimeOfUseTariff,
)
from site_agents.config import SiteConfig
from site_agents.metrics import AgentMetrics
from site_agents.nvml import NvmlInventory
from site_agents.probes import DcimPue, TcpLatencyProbe
from site_agents.prometheus import PrometheusInventory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sources:
    """The collectors one agent reads."""

    inventory: InventorySource
    price: PriceSource
    pue: PueSource
    latency: LatencySource

    @classmethod
    def from_config(cls, config: SiteConfig, *, background_probes: bool = False) -> Sources:
        """The sources the config asks for (static ones read the config file itself).

        ``background_probes``: latency probe rounds run in a thread of their own (the
        daemon), instead of inside the report that finds them due (``once``, ``check``).
        """
        inventory: InventorySource
        if config.inventory.source == "nvml":
            inventory = NvmlInventory(config)
        elif config.inventory.source == "prometheus":
            inventory = PrometheusInventory(config)
        else:
            inventory = StaticInventory(config)
        pue: PueSource
        if config.pue.source == "fixed":
            assert config.pue.value is not None  # the config validator requires it
            pue = FixedPue(config.pue.value, config.pue.mean_window_s)
        else:
            pue = DcimPue(config.pue)
        return cls(
            inventory=inventory,
            price=TimeOfUseTariff(config),
            pue=pue,
            latency=TcpLatencyProbe(config, background=background_probes),
        )


def _running(report: rpb.SiteReport) -> tuple[bool, set[tuple[str, str, int]]]:
    return report.sees_placements, {(r.placement_id, r.model, r.devices) for r in report.running}


def significant_change(before: rpb.SiteReport | None, after: rpb.SiteReport) -> str | None:
    """Why ``after`` must be published at once (our running placements, capacity, health,
    price band), or None."""
    if before is None:
        return "first"
    if _running(before) != _running(after):
        return "running"
    old = {a.model: a for a in before.accelerators}
    new = {a.model: a for a in after.accelerators}
    if old.keys() != new.keys() or any(
        (old[m].total, old[m].in_use_by_others, list(old[m].nodes_by_free))
        != (new[m].total, new[m].in_use_by_others, list(new[m].nodes_by_free))
        for m in new
    ):
        return "capacity"
    if any(old[m].healthy != new[m].healthy for m in new):
        return "health"
    if before.tariff.band_now != after.tariff.band_now:
        return "price-band"
    return None


class ReportBuilder:
    """Reads the collectors and numbers the reports of one agent run (one boot id)."""

    def __init__(
        self,
        config: SiteConfig,
        sources: Sources | None = None,
        *,
        clock: Callable[[], float] = time.time,
        metrics: AgentMetrics | None = None,
    ) -> None:
        self.config = config
        self.sources = sources or Sources.from_config(config)
        self.boot_id = uuid.uuid4().hex
        self.sequence = 0
        self.metrics = metrics or AgentMetrics()
        self._clock = clock

    def build(self) -> rpb.SiteReport:
        """Read every collector and return the next numbered report."""
        return self.number(self.collect())

    def number(self, report: rpb.SiteReport) -> rpb.SiteReport:
        """Stamp ``report`` with this run's boot id and the next sequence number."""
        self.sequence += 1
        report.boot_id = self.boot_id
        report.sequence = self.sequence
        return report

    @contextlib.contextmanager
    def _reading(self, collector: str) -> Iterator[None]:
        """Time one collector; any error it raises becomes a ``CollectorError`` naming it."""
        with self.metrics.timed(collector):
            try:
                yield
            except CollectorError:
                raise
            except Exception as exc:
                log.debug("collector %s failed", collector, exc_info=True)
                raise CollectorError(collector, f"{type(exc).__name__}: {exc}") from exc

    def collect(self) -> rpb.SiteReport:
        """Read every collector (may block on probes); raises ``CollectorError``."""
        now = self._clock()
        site = self.config.site
        with self._reading("price"):
            tariff = self.sources.price.tariff(now)
        with self._reading("pue"):
            pue = self.sources.pue.reading(now)
        with self._reading("inventory"):
            inventory = self.sources.inventory.inventory()
            source = self.sources.inventory
            running = source.placements() if isinstance(source, PlacementSource) else None
        with self._reading("latency"):
            latencies = self.sources.latency.latencies()
        report = SiteReport(
            site_id=site.id,
            boot_id="",  # stamped with the sequence when the report is sent (number)
            sequence=0,
            timestamp=now,
            labels=SiteLabels(
                name=site.name,
                hub=site.hub,
                hub_name=site.hub_name,
                province=site.province,
                side=site.side,
                latitude=site.latitude,
                longitude=site.longitude,
                pue_cap=site.pue_cap,
            ),
            accelerators=tuple(
                AcceleratorInventory(**same_fields(AcceleratorInventory, i)) for i in inventory
            ),
            pue=pue.value,
            pue_source=pue.source,
            pue_age_s=pue.age_s,
            pue_mean=pue.mean.value,
            pue_mean_window_s=pue.mean.window_s,
            pue_mean_covered_s=pue.mean.covered_s,
            price_now_yuan_per_kwh=tariff.price_now,
            next_24h_yuan_per_kwh=tuple(tariff.next_24h),
            timezone=tariff.timezone,
            band_now=tariff.band_now,
            next_24h_bands=tuple(tariff.bands_24h),
            carbon_kg_per_kwh=self.config.carbon.kg_per_kwh,
            latencies=tuple(
                RegionLatency(region=x.region, rtt_ms=x.rtt_ms, measured=x.measured)
                for x in latencies
            ),
            report_interval_s=self.config.publish.interval_s,
            sees_placements=running is not None,
            running=running or (),
        )
        return report_to_pb(report)
