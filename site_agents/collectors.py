"""What an agent measures, each behind a small protocol so real probes can replace config.

This module has the static sources (values from the config file). NVML inventory, tariff
schedules, DCIM PUE and latency probes implement the same protocols.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from site_agents.config import SiteConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class Inventory:
    """One accelerator model at the site."""

    model: str
    total: int
    healthy: int
    in_use_by_others: int
    power_w: float
    from_static_config: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Tariff:
    """The price now and for the next 24 hours (element 0 = the current hour)."""

    price_now: float
    next_24h: tuple[float, ...]
    timezone: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """Round-trip time from a demand region."""

    region: str
    rtt_ms: float
    measured: bool


class InventorySource(Protocol):
    def inventory(self) -> list[Inventory]: ...


class PriceSource(Protocol):
    def tariff(self, now: float) -> Tariff: ...


class PueSource(Protocol):
    def pue(self) -> float: ...


class LatencySource(Protocol):
    def latencies(self) -> list[Latency]: ...


@dataclass(frozen=True, slots=True)
class StaticInventory:
    """The inventory written in the config file."""

    config: SiteConfig

    def inventory(self) -> list[Inventory]:
        return [
            Inventory(
                model=a.model,
                total=a.total,
                healthy=a.healthy,
                in_use_by_others=a.in_use_by_others,
                power_w=a.power_w,
                from_static_config=True,
            )
            for a in self.config.accelerators
        ]


@dataclass(frozen=True, slots=True)
class HourlyTariff:
    """A fixed price for each local hour of the day, in the configured timezone."""

    config: SiteConfig

    def tariff(self, now: float) -> Tariff:
        zone = ZoneInfo(self.config.price.timezone)
        hour = dt.datetime.fromtimestamp(now, zone).hour
        prices = self.config.price.hourly_yuan_per_kwh
        rotated = tuple(prices[(hour + i) % 24] for i in range(24))
        return Tariff(price_now=rotated[0], next_24h=rotated, timezone=self.config.price.timezone)


@dataclass(frozen=True, slots=True)
class FixedPue:
    """The configured PUE."""

    config: SiteConfig

    def pue(self) -> float:
        return self.config.pue.value


@dataclass(frozen=True, slots=True)
class ConfiguredLatency:
    """Configured round-trip times (marked as not measured)."""

    config: SiteConfig

    def latencies(self) -> list[Latency]:
        return [
            Latency(region=region, rtt_ms=rtt, measured=False)
            for region, rtt in sorted(self.config.latency_ms.items())
        ]
