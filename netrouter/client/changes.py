"""The kinds of change a what-if scenario makes, each a model that checks its own keys and
knows how to ``apply`` itself to a :class:`~netrouter.client.world.World`.

:data:`Change` is the one list of kinds (a scenario file's ``kind`` picks the model); the
file format is described in :mod:`netrouter.client.scenario`. Parsing checks every key and
value; applying checks the names (sites, hubs, models) against the state and raises
:class:`~netrouter.client.world.ScenarioError` naming the change.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator

from netrouter.client.selectors import SiteSelector, StrictModel, WorkloadSelector
from netrouter.client.types import Link, Workload
from netrouter.client.workload_file import WorkloadEntry, WorkloadFileError, load_workloads
from netrouter.client.world import ScenarioError, World
from netrouter.contract import limits
from netrouter.contract.configfile import unknown_name
from netrouter.contract.messages import same_fields
from netrouter.contract.site_report import (
    DEFAULT_TIMEZONE,
    AcceleratorInventory,
    RegionLatency,
    SiteLabels,
    SiteReport,
    resized,
)
from netrouter.contract.topics import SITE_ID_PATTERN

# Every number has a range: what a live site could report, and factors that keep costs
# within what the solver can scale to integers (an unbounded one overflows it, or, for
# ``demand.scale``, makes copies without end).
MAX_FACTOR = 100.0
"""The largest multiplier (price, latency, SLO) and demand scale."""
MIN_FACTOR = 0.01
"""The smallest multiplier of a latency SLO (0 would remove it: use ``remove = true``)."""
MAX_CARBON_YUAN_PER_KG = 100.0

PriceYuan = Annotated[float, Field(ge=0, le=limits.MAX_PRICE_YUAN_PER_KWH, allow_inf_nan=False)]
Tariff = Annotated[
    list[PriceYuan], Field(min_length=limits.HOURS_PER_DAY, max_length=limits.HOURS_PER_DAY)
]
Factor = Annotated[float, Field(ge=0, le=MAX_FACTOR, allow_inf_nan=False)]
LatencyMs = Annotated[float, Field(ge=0, le=limits.MAX_LATENCY_MS, allow_inf_nan=False)]
PowerW = Annotated[float, Field(gt=0, le=limits.MAX_POWER_W, allow_inf_nan=False)]
Devices = Annotated[int, Field(ge=0, le=limits.MAX_DEVICES)]


class SiteDown(StrictModel):
    """These sites fail: their running work must move."""

    kind: Literal["site_down"]
    sites: list[str] = Field(min_length=1)

    def apply(self, world: World, where: str) -> None:
        """Mark the sites down."""
        for s in self.sites:
            _site(world, s, f"{where}.sites")
            world.up.discard(s)


class SiteUp(StrictModel):
    """These sites are up (e.g. back from an outage)."""

    kind: Literal["site_up"]
    sites: list[str] = Field(min_length=1)

    def apply(self, world: World, where: str) -> None:
        """Mark the sites up."""
        for s in self.sites:
            _site(world, s, f"{where}.sites")
            world.up.add(s)


class Capacity(StrictModel):
    """A site gains or loses devices of one model (``power_w`` for a model it lacked)."""

    kind: Literal["capacity"]
    site: str
    model: str
    add: int | None = Field(default=None, ge=-limits.MAX_DEVICES, le=limits.MAX_DEVICES)
    set: Devices | None = None
    power_w: PowerW | None = None

    @model_validator(mode="after")
    def _one(self) -> Capacity:
        if (self.add is None) == (self.set is None):
            raise ValueError("give exactly one of 'add' and 'set'")
        return self

    def apply(self, world: World, where: str) -> None:
        """Set or shift the site's healthy devices of the model, adding the model if new."""
        r = _site(world, self.site, f"{where}.site")
        accelerators = list(r.accelerators)
        index = next((i for i, a in enumerate(accelerators) if a.model == self.model), None)
        if index is None:
            if self.power_w is None:
                raise ScenarioError(
                    f"{where}.power_w: {self.site} has no {self.model}: give its power_w to add it"
                )
            accelerators.append(
                AcceleratorInventory(
                    model=self.model, total=0, healthy=0, in_use_by_others=0, power_w=self.power_w
                )
            )
            index = len(accelerators) - 1
        a = accelerators[index]
        healthy = a.healthy + self.add if self.add is not None else int(self.set or 0)
        power = a.power_w if self.power_w is None else self.power_w
        accelerators[index] = replace(resized(a, healthy), power_w=power)
        world.reports[self.site] = replace(r, accelerators=tuple(accelerators))


class Price(SiteSelector):
    """The picked sites' prices scaled, or a tariff by local clock hour."""

    kind: Literal["price"]
    multiplier: Factor | None = None
    tariff: Tariff | None = None

    @model_validator(mode="after")
    def _one(self) -> Price:
        if (self.multiplier is None) == (self.tariff is None):
            raise ValueError("give exactly one of 'multiplier' and 'tariff'")
        return self

    def apply(self, world: World, where: str) -> None:
        """Scale the picked sites' 24 prices, or replace them by the tariff."""
        self.check(world, where)
        for sid, r in list(world.reports.items()):
            if not self.picks(r):
                continue
            if self.multiplier is not None:
                prices = tuple(p * self.multiplier for p in r.next_24h_yuan_per_kwh)
            else:
                prices = _by_clock_hour(r, tuple(self.tariff or ()))
            world.reports[sid] = replace(
                r, next_24h_yuan_per_kwh=prices, price_now_yuan_per_kwh=prices[0]
            )


class Pue(SiteSelector):
    """The picked sites' PUE set or shifted, the sustained PUE with it."""

    kind: Literal["pue"]
    set: float | None = Field(default=None, ge=1.0, le=limits.MAX_PUE, allow_inf_nan=False)
    add: float | None = Field(default=None, ge=-2.0, le=2.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one(self) -> Pue:
        if (self.set is None) == (self.add is None):
            raise ValueError("give exactly one of 'set' and 'add'")
        return self

    def apply(self, world: World, where: str) -> None:
        """Set or shift the picked sites' PUE and sustained PUE, within [1, limits.MAX_PUE]."""
        self.check(world, where)
        for sid, r in list(world.reports.items()):
            if self.picks(r):
                # The site's PUE is this from now on: its sustained PUE too (a mean the report
                # does not have stays 0, so the cap judges the PUE now, as for the report).
                mean = self._changed(r.pue_mean) if r.pue_mean else 0.0
                world.reports[sid] = replace(r, pue=self._changed(r.pue), pue_mean=mean)

    def _changed(self, pue: float) -> float:
        value = self.set if self.set is not None else pue + float(self.add or 0.0)
        return min(limits.MAX_PUE, max(1.0, value))


class PueCap(SiteSelector):
    """A policy PUE cap on the hubs of the picked sites, where it is tighter than the sites'
    own. Sites are picked as for ``price`` (``sides = ["west"]``: every western hub); a cap
    is a hub's, so it holds for every site of a picked site's hub."""

    kind: Literal["pue_cap"]
    max_pue: float = Field(ge=1.0, le=limits.MAX_PUE, allow_inf_nan=False)

    def apply(self, world: World, where: str) -> None:
        """Tighten the cap of the picked sites' hubs (none picked by name: every hub)."""
        self.check(world, where)
        hubs = sorted({r.labels.hub for r in world.reports.values() if self.picks(r)})
        for h in hubs:
            world.hub_max_pue[h] = min(world.hub_max_pue.get(h, math.inf), self.max_pue)


class Latency(SiteSelector):
    """The picked sites' RTTs to some regions set, shifted or scaled."""

    kind: Literal["latency"]
    regions: list[str] = Field(default_factory=list)
    set_ms: LatencyMs | None = None
    add_ms: float | None = Field(
        default=None, ge=-limits.MAX_LATENCY_MS, le=limits.MAX_LATENCY_MS, allow_inf_nan=False
    )
    multiplier: Factor | None = None

    @model_validator(mode="after")
    def _one(self) -> Latency:
        if sum(v is not None for v in (self.set_ms, self.add_ms, self.multiplier)) != 1:
            raise ValueError("give exactly one of 'set_ms', 'add_ms' and 'multiplier'")
        return self

    def apply(self, world: World, where: str) -> None:
        """Set, shift or scale the picked sites' RTTs to the regions (none named: all)."""
        self.check(world, where)
        regions = set(self.regions)
        for sid, r in list(world.reports.items()):
            if not self.picks(r):
                continue
            measured = {lat.region: lat for lat in r.latencies}
            wanted = regions or set(measured)
            out = []
            for region in sorted(wanted | set(measured)):
                lat = measured.get(region)
                if region not in wanted:
                    out.append(lat)
                    continue
                if lat is None:
                    if self.set_ms is None:
                        continue  # nothing measured to shift or scale
                    lat = RegionLatency(region=region, rtt_ms=self.set_ms)
                elif self.set_ms is not None:
                    lat = replace(lat, rtt_ms=self.set_ms)
                elif self.add_ms is not None:
                    lat = replace(lat, rtt_ms=max(0.0, lat.rtt_ms + self.add_ms))
                else:
                    lat = replace(lat, rtt_ms=lat.rtt_ms * float(self.multiplier or 1.0))
                out.append(lat)
            world.reports[sid] = replace(r, latencies=tuple(x for x in out if x is not None))


class LinkCut(StrictModel):
    """A backbone link, and any measured latency between its ends, goes."""

    kind: Literal["link_cut"]
    a: str = Field(min_length=1)
    b: str = Field(min_length=1)

    def apply(self, world: World, where: str) -> None:
        """Remove the link and the measured latencies between its ends."""
        pair = {self.a, self.b}
        kept = [link for link in world.links if {link.a, link.b} != pair]
        cut_measured = False
        for sid, r in list(world.reports.items()):
            if sid in pair:
                other = (pair - {sid}).pop() if len(pair) == 2 else sid
                lats = tuple(lat for lat in r.latencies if lat.region != other)
                if len(lats) != len(r.latencies):
                    cut_measured = True
                    world.reports[sid] = replace(r, latencies=lats)
        if len(kept) == len(world.links) and not cut_measured:
            raise ScenarioError(
                f"{where}: no link or measured latency between {self.a} and {self.b}"
            )
        world.links = kept


class LinkSet(StrictModel):
    """A backbone link is added or replaced."""

    kind: Literal["link"]
    a: str = Field(min_length=1)
    b: str = Field(min_length=1)
    latency_ms: LatencyMs
    bandwidth_gbps: float = Field(
        default=0.0, ge=0, le=limits.MAX_BANDWIDTH_GBPS, allow_inf_nan=False
    )
    yuan_per_gb: float = Field(default=0.0, ge=0, le=limits.MAX_YUAN_PER_GB, allow_inf_nan=False)

    @model_validator(mode="after")
    def _two_ends(self) -> LinkSet:
        if self.a == self.b:
            raise ValueError("a and b must be two different nodes")
        return self

    def apply(self, world: World, where: str) -> None:
        """Add the link, replacing any between the same ends."""
        pair = {self.a, self.b}
        world.links = [link for link in world.links if {link.a, link.b} != pair]
        world.links.append(Link(**same_fields(Link, self)))


class Slo(WorkloadSelector):
    """The picked workloads' latency SLO set, scaled or removed."""

    kind: Literal["slo"]
    set_ms: float | None = Field(
        default=None, ge=0.001, le=limits.MAX_LATENCY_MS, allow_inf_nan=False
    )
    multiplier: float | None = Field(
        default=None, ge=MIN_FACTOR, le=MAX_FACTOR, allow_inf_nan=False
    )
    remove: bool = False

    @model_validator(mode="after")
    def _one(self) -> Slo:
        if sum((self.set_ms is not None, self.multiplier is not None, self.remove)) != 1:
            raise ValueError("give exactly one of 'set_ms', 'multiplier' and 'remove = true'")
        return self

    def apply(self, world: World, where: str) -> None:
        """Set, scale or remove the picked workloads' latency SLO."""
        out = []
        for w in world.workloads:
            if self.picks(w):
                if self.remove:
                    w = replace(w, latency_slo_ms=None)
                elif self.set_ms is not None:
                    w = replace(w, latency_slo_ms=self.set_ms)
                elif w.latency_slo_ms is not None:
                    w = replace(w, latency_slo_ms=w.latency_slo_ms * float(self.multiplier or 1.0))
            out.append(w)
        world.workloads = out


class Demand(WorkloadSelector):
    """The picked workloads scaled: copied, or some dropped."""

    kind: Literal["demand"]
    scale: Factor

    def apply(self, world: World, where: str) -> None:
        """Each matching workload k times (k = the scale's whole part), plus one more copy
        for a share of them equal to its fraction, chosen by a hash of the id (reproducible).
        Copies are new work (``id#2``, ``id#3``, ..., the next suffix no workload has, so a
        second scaling copies again rather than naming a copy twice); a scale below 1 drops
        work instead."""
        whole, frac = divmod(self.scale, 1.0)
        out = []
        taken = {w.id for w in world.workloads}
        for w in world.workloads:
            if not self.picks(w):
                out.append(w)
                continue
            copies = int(whole) + (1 if _unit(w.id) < frac else 0)
            for k in range(copies):
                if k == 0:
                    out.append(w)
                else:
                    n = k + 1
                    while f"{w.id}#{n}" in taken:
                        n += 1
                    taken.add(f"{w.id}#{n}")
                    out.append(replace(w, id=f"{w.id}#{n}", current_site=None))
            if copies == 0:
                world.running.pop(w.id, None)
        world.workloads = out


class NewWorkloads(StrictModel):
    """A new batch of work, from a workload file or inline."""

    kind: Literal["workloads"]
    file: str | None = None
    workloads: list[WorkloadEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one(self) -> NewWorkloads:
        if (self.file is None) == (not self.workloads):
            raise ValueError("give exactly one of 'file' and 'workloads'")
        return self

    def apply(self, world: World, where: str) -> None:
        """Add the batch; a workload id already in use is refused."""
        batch = self.batch(where)
        have = {w.id for w in world.workloads}
        for w in batch:
            if w.id in have:
                raise ScenarioError(f"{where}: workload id {w.id!r} is already in use")
            have.add(w.id)
        world.workloads = [*world.workloads, *batch]

    def batch(self, where: str) -> list[Workload]:
        """The change's workloads: read from its file, or its inline entries."""
        if self.file is None:
            return [entry.to_workload() for entry in self.workloads]
        try:
            return load_workloads(self.file)
        except WorkloadFileError as exc:
            raise ScenarioError(f"{where}.file: {exc}") from exc


class CarbonPrice(StrictModel):
    """A price on each kg of CO2."""

    kind: Literal["carbon_price"]
    yuan_per_kg: float = Field(ge=0, le=MAX_CARBON_YUAN_PER_KG, allow_inf_nan=False)

    def apply(self, world: World, where: str) -> None:
        """Set the carbon price."""
        world.carbon_yuan_per_kg = self.yuan_per_kg


class AddSite(StrictModel):
    """A new site, on its own or copied from one ``like`` it."""

    kind: Literal["add_site"]
    id: str = Field(pattern=SITE_ID_PATTERN.pattern)
    like: str | None = None
    hub: str | None = None
    province: str | None = None
    side: Literal["east", "west"] | None = None
    pue: float | None = Field(default=None, ge=1.0, le=limits.MAX_PUE, allow_inf_nan=False)
    carbon_kg_per_kwh: float | None = Field(
        default=None, ge=0, le=limits.MAX_CARBON_KG_PER_KWH, allow_inf_nan=False
    )
    tariff: Tariff | None = None
    latency_ms: dict[str, LatencyMs] = Field(default_factory=dict)
    accelerators: dict[str, Annotated[int, Field(ge=1, le=limits.MAX_DEVICES)]] = Field(
        min_length=1
    )
    power_w: dict[str, PowerW] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _complete(self) -> AddSite:
        if self.like is None:
            missing = [
                k
                for k in ("hub", "province", "side", "pue", "carbon_kg_per_kwh", "tariff")
                if getattr(self, k) is None
            ]
            if missing:
                raise ValueError(f"without 'like', also give: {', '.join(missing)}")
        return self

    def apply(self, world: World, where: str) -> None:
        """Add the site, up, from ``like`` and the keys given."""
        if self.id in world.reports:
            raise ScenarioError(f"{where}.id: site {self.id!r} already exists")
        base = _site(world, self.like, f"{where}.like") if self.like is not None else None
        labels = base.labels if base is not None else SiteLabels()
        labels = replace(
            labels,
            name=self.id,
            hub=self.hub if self.hub is not None else labels.hub,
            province=self.province if self.province is not None else labels.province,
            side=self.side if self.side is not None else labels.side,
        )
        timestamp = base.timestamp if base is not None else world.at
        timezone = base.timezone if base is not None else DEFAULT_TIMEZONE
        stub = SiteReport(
            site_id=self.id,
            boot_id="what-if",
            sequence=0,
            timestamp=timestamp,
            labels=labels,
            accelerators=(),
            pue=0.0,
            price_now_yuan_per_kwh=0.0,
            next_24h_yuan_per_kwh=(),
            timezone=timezone,
            carbon_kg_per_kwh=0.0,
            latencies=(),
            report_interval_s=base.report_interval_s if base is not None else 10.0,
        )
        if self.tariff is not None:
            prices = _by_clock_hour(stub, self.tariff)
        else:
            prices = base.next_24h_yuan_per_kwh if base is not None else ()
        power_of = {a.model: a.power_w for a in base.accelerators} if base is not None else {}
        accelerators = []
        for model, count in self.accelerators.items():
            power = self.power_w.get(model, power_of.get(model))
            if power is None:
                raise ScenarioError(f"{where}.power_w.{model}: give the board power of {model}")
            accelerators.append(
                AcceleratorInventory(
                    model=model, total=count, healthy=count, in_use_by_others=0, power_w=power
                )
            )
        latencies = {lat.region: lat.rtt_ms for lat in base.latencies} if base is not None else {}
        latencies.update(self.latency_ms)
        world.reports[self.id] = replace(
            stub,
            accelerators=tuple(accelerators),
            pue=self.pue if self.pue is not None else (base.pue if base is not None else 1.0),
            pue_mean=base.pue_mean if self.pue is None and base is not None else 0.0,
            price_now_yuan_per_kwh=prices[0],
            next_24h_yuan_per_kwh=tuple(prices),
            carbon_kg_per_kwh=(
                self.carbon_kg_per_kwh
                if self.carbon_kg_per_kwh is not None
                else (base.carbon_kg_per_kwh if base is not None else 0.0)
            ),
            latencies=tuple(
                RegionLatency(region=k, rtt_ms=v) for k, v in sorted(latencies.items())
            ),
        )
        world.up.add(self.id)


Change = Annotated[
    SiteDown
    | SiteUp
    | Capacity
    | Price
    | Pue
    | PueCap
    | Latency
    | LinkCut
    | LinkSet
    | Slo
    | Demand
    | NewWorkloads
    | CarbonPrice
    | AddSite,
    Field(discriminator="kind"),
]


def _kinds() -> tuple[str, ...]:
    """Each model's ``kind``, in the order of :data:`Change`."""
    union, _ = get_args(Change)
    return tuple(get_args(model.model_fields["kind"].annotation)[0] for model in get_args(union))


KINDS = _kinds()
"""Every change kind a scenario may name."""


def _site(world: World, site: str, where: str) -> SiteReport:
    if site not in world.reports:
        raise ScenarioError(f"{where}: {unknown_name('site', site, sorted(world.reports))}")
    return world.reports[site]


def _by_clock_hour(r: SiteReport, tariff: Sequence[float]) -> tuple[float, ...]:
    """A tariff by local clock hour as the report's 24 prices from its own hour on."""
    try:
        zone = ZoneInfo(r.timezone or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(DEFAULT_TIMEZONE)
    first = datetime.fromtimestamp(r.timestamp, UTC).astimezone(zone).hour
    return tuple(
        float(tariff[(first + h) % limits.HOURS_PER_DAY]) for h in range(limits.HOURS_PER_DAY)
    )


def _unit(key: str) -> float:
    """A reproducible number in [0, 1) from ``key``."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64
