"""What an agent measures, each behind a small protocol, and the sources read from config.

NVML inventory (:mod:`site_agents.nvml`), DCIM PUE and latency probes
(:mod:`site_agents.probes`) implement the same protocols.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from netrouter.contract.limits import MAX_DOMAIN_NODES, MAX_NODE_SIZE
from netrouter.contract.site_report import RunningPlacement
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
    node_size: int = 0
    """Devices per node; 0: the shape is unknown (the report carries a count only)."""
    nodes_by_free: tuple[int, ...] = ()
    """``nodes_by_free[k]``: nodes with exactly ``k`` free devices, ``k = 0..node_size``."""
    domain_nodes: int = 0
    """The most nodes in one fast-interconnect domain; 0: unknown."""
    domains_by_whole: tuple[int, ...] = ()
    """``domains_by_whole[k]``: domains with exactly ``k`` whole free nodes."""


@dataclass(frozen=True, slots=True)
class Shape:
    """How one model's free devices sit on its nodes, as a report carries it (see
    :class:`netrouter.contract.site_report.AcceleratorInventory`)."""

    node_size: int = 0
    nodes_by_free: tuple[int, ...] = ()
    domain_nodes: int = 0
    domains_by_whole: tuple[int, ...] = ()


def node_shape(nodes: Iterable[tuple[int, int]], domains: Iterable[str] | None = None) -> Shape:
    """The shape of one model's nodes, each given as ``(devices, free devices)`` on that
    node and, where known, its interconnect domain (``""``: none known): ``node_size`` is
    the most devices any node has, ``nodes_by_free[k]`` the number of nodes with exactly
    ``k`` free (free clamped to ``0..devices``); with ``domains`` naming any,
    ``domains_by_whole[k]`` the domains with ``k`` whole free nodes (a node in none is a
    domain of its own) and ``domain_nodes`` the most nodes in one. Empty (not reported)
    when there are no devices, or a node holds more than a report may carry
    (``MAX_NODE_SIZE``); domains are left out when one holds more nodes than a report may
    carry (``MAX_DOMAIN_NODES``)."""
    pairs = [(devices, min(max(free, 0), devices)) for devices, free in nodes]
    size = max((devices for devices, _ in pairs), default=0)
    if not 0 < size <= MAX_NODE_SIZE:
        return Shape()
    histogram = [0] * (size + 1)
    for _, free in pairs:
        histogram[free] += 1
    names = list(domains) if domains is not None else []
    if not any(names):
        return Shape(size, tuple(histogram))
    members: dict[str, int] = {}
    whole: dict[str, int] = {}
    for i, ((_, free), name) in enumerate(zip(pairs, names, strict=True)):
        key = name or f"\0{i}"  # a node in no known domain: one of its own
        members[key] = members.get(key, 0) + 1
        whole[key] = whole.get(key, 0) + (free == size)
    most = max(members.values())
    if most > MAX_DOMAIN_NODES:
        return Shape(size, tuple(histogram))
    by_whole = [0] * (most + 1)
    for n in whole.values():
        by_whole[n] += 1
    return Shape(size, tuple(histogram), most, tuple(by_whole))


@dataclass(frozen=True, slots=True, kw_only=True)
class Tariff:
    """The price now and for the next 24 hours (element 0 = the current hour)."""

    price_now: float
    next_24h: tuple[float, ...]
    timezone: str
    band_now: str
    bands_24h: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PueMean:
    """The sustained PUE: the mean over ``window_s``, from readings spanning ``covered_s``
    of it (``value`` 0: no reading in the window)."""

    value: float
    window_s: float
    covered_s: float


NO_PUE_MEAN = PueMean(value=0.0, window_s=0.0, covered_s=0.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class PueReading:
    """A PUE value, where it came from (``config``, ``file``, ``http``) and its age, with
    the sustained PUE (the mean over the configured window) beside it."""

    value: float
    source: str
    age_s: float
    mean: PueMean = NO_PUE_MEAN


class CollectorError(RuntimeError):
    """A collector has nothing to report (the agent skips this report and says why)."""

    def __init__(self, collector: str, message: str) -> None:
        super().__init__(f"{collector}: {message}")
        self.collector = collector


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """Round-trip time from a demand region."""

    region: str
    rtt_ms: float
    measured: bool


class InventorySource(Protocol):
    def inventory(self) -> list[Inventory]: ...


@runtime_checkable
class PlacementSource(Protocol):
    """An inventory source that may also tell netrouter's running work from others'.

    ``placements()`` answers for its last ``inventory()``: the placements it showed
    running, one per placement id, whose devices that inventory's shape counts as used;
    or None when that read did not see placement ids (not configured, a query failed, a
    fallback inventory). Sources without the method (NVML, static) never see them."""

    def placements(self) -> tuple[RunningPlacement, ...] | None: ...


class PriceSource(Protocol):
    def tariff(self, now: float) -> Tariff: ...


class PueSource(Protocol):
    def reading(self, now: float) -> PueReading: ...


class LatencySource(Protocol):
    def latencies(self) -> list[Latency]: ...


@dataclass(frozen=True, slots=True)
class StaticInventory:
    """The inventory written in the config file.

    Its shape is left unreported (``node_size`` 0): the config gives counts per model, not
    how they split into nodes, and a shape is never guessed: the report carries the counts
    only."""

    config: SiteConfig

    def inventory(self) -> list[Inventory]:
        return [
            Inventory(**a.model_dump(), from_static_config=True) for a in self.config.accelerators
        ]


class TimeOfUseTariff:
    """The configured time-of-use schedule: each hour's band by season, each band's price.

    Each of the next 24 hours is looked up at its own local date, so the window follows a
    season change at midnight on the first of a month.
    """

    def __init__(self, config: SiteConfig) -> None:
        schedule = config.tariff
        self._timezone = schedule.timezone
        self._zone = ZoneInfo(schedule.timezone)
        # (band, price) of every local hour, per month: resolved once, read every report.
        self._hours: dict[int, list[tuple[str, float]]] = {}
        for season in schedule.seasons:
            hours: list[tuple[str, float]] = [
                (band, schedule.price(season, band))
                for band in season.band_of_hour()
                if band is not None  # the config validator has made every hour have one
            ]
            for month in season.months:
                self._hours[month] = hours

    def tariff(self, now: float) -> Tariff:
        hours = []
        for step in range(24):
            local = dt.datetime.fromtimestamp(now + 3600 * step, self._zone)
            hours.append(self._hours[local.month][local.hour])
        bands, prices = zip(*hours, strict=True)
        return Tariff(
            price_now=prices[0],
            next_24h=prices,
            timezone=self._timezone,
            band_now=bands[0],
            bands_24h=bands,
        )


DEFAULT_PUE_MEAN_WINDOW_S = 7 * 86_400.0
"""The sustained PUE's window when none is configured (``[pue] mean_window_h`` = 168)."""


@dataclass(frozen=True, slots=True)
class FixedPue:
    """The configured PUE; being fixed, it is also its own mean over the whole window."""

    value: float
    mean_window_s: float = DEFAULT_PUE_MEAN_WINDOW_S

    def reading(self, now: float) -> PueReading:
        mean = PueMean(value=self.value, window_s=self.mean_window_s, covered_s=self.mean_window_s)
        return PueReading(value=self.value, source="config", age_s=0.0, mean=mean)
