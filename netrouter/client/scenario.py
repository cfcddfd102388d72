"""What-if scenarios: a named list of changes to the state of the network.

A scenario file is TOML (or YAML with the same keys); examples are in examples/scenarios/::

    name = "guizhou-outage"                 # default: the file name
    description = "Gui'an loses power for the evening peak"

    [[changes]]
    kind = "site_down"
    sites = ["gz-guian-1"]

    [[changes]]
    kind = "price"                          # sites, hubs, provinces, sides pick the sites;
    provinces = ["Guangdong"]               # none of them: every site
    multiplier = 1.3                        # or tariff = [24 prices by local clock hour]

Change kinds and their keys (``targets`` = any of sites, hubs, provinces, sides):

================  =====================================================================
``site_down``     ``sites``: these sites fail (their running work must move)
``site_up``       ``sites``: these sites are up (e.g. back from an outage)
``capacity``      ``site``, ``model``, and ``add`` (negative removes) or ``set``;
                  ``power_w`` for a model the site did not have
``price``         targets; ``multiplier`` or ``tariff`` (24 元/kWh by local clock hour)
``pue``           targets; ``set`` or ``add``: the PUE now and the sustained PUE (the
                  mean the hub's cap judges; a site over its cap stays over until it is
                  the router's hysteresis under it)
``pue_cap``       ``max_pue``; ``hubs`` (default: every hub): the policy cap per hub, where
                  it is tighter than the cap the hub's sites report
``latency``       targets; ``regions`` (default all); ``set_ms``, ``add_ms`` or ``multiplier``
``link_cut``      ``a``, ``b``: the backbone link and any measured latency between them go
``link``          ``a``, ``b``, ``latency_ms``, ``bandwidth_gbps``, ``yuan_per_gb``: add or
                  replace a backbone link
``slo``           workload selector; ``set_ms``, ``multiplier`` or ``remove = true``
``demand``        workload selector; ``scale`` (2.0 doubles matching work, 0.5 halves it)
``workloads``     a new batch: ``file`` (the ``netrouter place --file`` format) or inline
                  ``workloads = [...]`` entries
``carbon_price``  ``yuan_per_kg``: the price put on each kg of CO2
``add_site``      ``id``; ``like`` (copy an existing site's labels, tariff, PUE, carbon and
                  latencies) and any of ``hub``, ``province``, ``side``, ``pue``,
                  ``carbon_kg_per_kwh``, ``tariff``, ``latency_ms`` {region: ms},
                  ``accelerators`` {model: count}, ``power_w`` {model: W}
================  =====================================================================

The workload selector (``slo``, ``demand``): ``select`` (``any``, ``inference`` = has a
latency SLO, ``training`` = has none), ``origin_regions`` and ``labels`` (all must match).

Parsing checks every key and value and names the key and line of the first bad one;
applying checks the names (sites, hubs, models) against the state and names the change.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from netrouter.client.errors import InvalidArgumentError
from netrouter.client.types import MIN_REMAINING_H, Link, Snapshot, Workload, remaining_work
from netrouter.client.workload_file import (
    WorkloadEntry,
    WorkloadFileError,
    load_workloads,
    workload_to_dict,
)
from netrouter.contract.configfile import ConfigFileError, load_file, parse_text
from netrouter.contract.limits import (
    HOURS_PER_DAY,
    MAX_BANDWIDTH_GBPS,
    MAX_CARBON_KG_PER_KWH,
    MAX_DEVICES,
    MAX_LATENCY_MS,
    MAX_POWER_W,
    MAX_PRICE_YUAN_PER_KWH,
    MAX_PUE,
    MAX_YUAN_PER_GB,
)
from netrouter.contract.site_report import (
    AcceleratorInventory,
    RegionLatency,
    SiteLabels,
    SiteReport,
    hub_caps,
)
from netrouter.contract.wire import SITE_ID_PATTERN

HOURS = HOURS_PER_DAY

# Every number has a range: what a live site could report, and factors that keep costs
# within what the solver can scale to integers (an unbounded one overflows it, or, for
# ``demand.scale``, makes copies without end).
MAX_FACTOR = 100.0
"""The largest multiplier (price, latency, SLO) and demand scale."""
MIN_FACTOR = 0.01
"""The smallest multiplier of a latency SLO (0 would remove it: use ``remove = true``)."""
MAX_CARBON_YUAN_PER_KG = 100.0
MAX_CHANGES = 1_000

Price_ = Annotated[float, Field(ge=0, le=MAX_PRICE_YUAN_PER_KWH, allow_inf_nan=False)]
Tariff = Annotated[list[Price_], Field(min_length=HOURS, max_length=HOURS)]
Factor = Annotated[float, Field(ge=0, le=MAX_FACTOR, allow_inf_nan=False)]
LatencyMs = Annotated[float, Field(ge=0, le=MAX_LATENCY_MS, allow_inf_nan=False)]
PowerW = Annotated[float, Field(gt=0, le=MAX_POWER_W, allow_inf_nan=False)]
Devices = Annotated[int, Field(ge=0, le=MAX_DEVICES)]


class ScenarioError(ValueError):
    """A scenario does not fit the state it is applied to (the message names the change)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Targets(_Strict):
    """Which sites a change applies to: those matching any list (none given: all)."""

    sites: list[str] = Field(default_factory=list)
    hubs: list[str] = Field(default_factory=list)
    provinces: list[str] = Field(default_factory=list)
    sides: list[Literal["east", "west"]] = Field(default_factory=list)

    def picks(self, r: SiteReport) -> bool:
        if not (self.sites or self.hubs or self.provinces or self.sides):
            return True
        return (
            r.site_id in self.sites
            or r.labels.hub in self.hubs
            or r.labels.province in self.provinces
            or r.labels.side in self.sides
        )

    def check(self, world: World, where: str) -> None:
        known = world.reports
        for s in self.sites:
            if s not in known:
                raise ScenarioError(f"{where}.sites: unknown site {s!r}")
        for name, values, have in (
            ("hubs", self.hubs, {r.labels.hub for r in known.values()}),
            ("provinces", self.provinces, {r.labels.province for r in known.values()}),
        ):
            for v in values:
                if v not in have:
                    raise ScenarioError(f"{where}.{name}: no site has {name[:-1]} {v!r}")


class WorkloadSelector(_Strict):
    """Which workloads a change applies to (every condition given must hold)."""

    select: Literal["any", "inference", "training"] = "any"
    origin_regions: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)

    def picks(self, w: Workload) -> bool:
        if self.select == "inference" and w.latency_slo_ms is None:
            return False
        if self.select == "training" and w.latency_slo_ms is not None:
            return False
        if self.origin_regions and w.origin_region not in self.origin_regions:
            return False
        return all(w.labels.get(k) == v for k, v in self.labels.items())


class SiteDown(_Strict):
    kind: Literal["site_down"]
    sites: list[str] = Field(min_length=1)


class SiteUp(_Strict):
    kind: Literal["site_up"]
    sites: list[str] = Field(min_length=1)


class Capacity(_Strict):
    kind: Literal["capacity"]
    site: str
    model: str
    add: int | None = Field(default=None, ge=-MAX_DEVICES, le=MAX_DEVICES)
    set: Devices | None = None
    power_w: PowerW | None = None

    @model_validator(mode="after")
    def _one(self) -> Capacity:
        if (self.add is None) == (self.set is None):
            raise ValueError("give exactly one of 'add' and 'set'")
        return self


class Price(_Targets):
    kind: Literal["price"]
    multiplier: Factor | None = None
    tariff: Tariff | None = None

    @model_validator(mode="after")
    def _one(self) -> Price:
        if (self.multiplier is None) == (self.tariff is None):
            raise ValueError("give exactly one of 'multiplier' and 'tariff'")
        return self


class Pue(_Targets):
    kind: Literal["pue"]
    set: float | None = Field(default=None, ge=1.0, le=MAX_PUE, allow_inf_nan=False)
    add: float | None = Field(default=None, ge=-2.0, le=2.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one(self) -> Pue:
        if (self.set is None) == (self.add is None):
            raise ValueError("give exactly one of 'set' and 'add'")
        return self


class PueCap(_Strict):
    kind: Literal["pue_cap"]
    max_pue: float = Field(ge=1.0, le=MAX_PUE, allow_inf_nan=False)
    hubs: list[str] = Field(default_factory=list)


class Latency(_Targets):
    kind: Literal["latency"]
    regions: list[str] = Field(default_factory=list)
    set_ms: LatencyMs | None = None
    add_ms: float | None = Field(
        default=None, ge=-MAX_LATENCY_MS, le=MAX_LATENCY_MS, allow_inf_nan=False
    )
    multiplier: Factor | None = None

    @model_validator(mode="after")
    def _one(self) -> Latency:
        if sum(v is not None for v in (self.set_ms, self.add_ms, self.multiplier)) != 1:
            raise ValueError("give exactly one of 'set_ms', 'add_ms' and 'multiplier'")
        return self


class LinkCut(_Strict):
    kind: Literal["link_cut"]
    a: str = Field(min_length=1)
    b: str = Field(min_length=1)


class LinkSet(_Strict):
    kind: Literal["link"]
    a: str = Field(min_length=1)
    b: str = Field(min_length=1)
    latency_ms: LatencyMs
    bandwidth_gbps: float = Field(default=0.0, ge=0, le=MAX_BANDWIDTH_GBPS, allow_inf_nan=False)
    yuan_per_gb: float = Field(default=0.0, ge=0, le=MAX_YUAN_PER_GB, allow_inf_nan=False)

    @model_validator(mode="after")
    def _two_ends(self) -> LinkSet:
        if self.a == self.b:
            raise ValueError("a and b must be two different nodes")
        return self


class Slo(WorkloadSelector):
    kind: Literal["slo"]
    set_ms: float | None = Field(default=None, ge=0.001, le=MAX_LATENCY_MS, allow_inf_nan=False)
    multiplier: float | None = Field(
        default=None, ge=MIN_FACTOR, le=MAX_FACTOR, allow_inf_nan=False
    )
    remove: bool = False

    @model_validator(mode="after")
    def _one(self) -> Slo:
        if sum((self.set_ms is not None, self.multiplier is not None, self.remove)) != 1:
            raise ValueError("give exactly one of 'set_ms', 'multiplier' and 'remove = true'")
        return self


class Demand(WorkloadSelector):
    kind: Literal["demand"]
    scale: Factor


class NewWorkloads(_Strict):
    kind: Literal["workloads"]
    file: str | None = None
    workloads: list[WorkloadEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one(self) -> NewWorkloads:
        if (self.file is None) == (not self.workloads):
            raise ValueError("give exactly one of 'file' and 'workloads'")
        return self


class CarbonPrice(_Strict):
    kind: Literal["carbon_price"]
    yuan_per_kg: float = Field(ge=0, le=MAX_CARBON_YUAN_PER_KG, allow_inf_nan=False)


class AddSite(_Strict):
    kind: Literal["add_site"]
    id: str = Field(pattern=SITE_ID_PATTERN.pattern)
    like: str | None = None
    hub: str | None = None
    province: str | None = None
    side: Literal["east", "west"] | None = None
    pue: float | None = Field(default=None, ge=1.0, le=MAX_PUE, allow_inf_nan=False)
    carbon_kg_per_kwh: float | None = Field(
        default=None, ge=0, le=MAX_CARBON_KG_PER_KWH, allow_inf_nan=False
    )
    tariff: Tariff | None = None
    latency_ms: dict[str, LatencyMs] = Field(default_factory=dict)
    accelerators: dict[str, Annotated[int, Field(ge=1, le=MAX_DEVICES)]] = Field(min_length=1)
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
KINDS = (
    "site_down",
    "site_up",
    "capacity",
    "price",
    "pue",
    "pue_cap",
    "latency",
    "link_cut",
    "link",
    "slo",
    "demand",
    "workloads",
    "carbon_price",
    "add_site",
)


class Scenario(_Strict):
    """A named set of changes, applied in order."""

    name: str = ""
    description: str = ""
    changes: list[Change] = Field(default_factory=list, max_length=MAX_CHANGES)


def load_scenario(path: str | Path) -> Scenario:
    """Read a TOML (or .yaml/.yml) scenario file; relative workload files are resolved
    against its folder. Raises :class:`ConfigFileError` naming the key and line."""
    path = Path(path)
    scenario = load_file(path, Scenario)
    return _finish(scenario, path.stem, path.parent)


def parse_scenario(
    text: str, *, source: str = "<scenario>", fmt: str | None = None, allow_files: bool = True
) -> Scenario:
    """A scenario from text: TOML, YAML, or (``fmt`` None) TOML unless it is a JSON object.
    Workload files are resolved from the current folder; ``allow_files=False`` (requests
    from the network) refuses them."""
    if fmt is None:
        fmt = "yaml" if text.lstrip().startswith("{") else "toml"  # JSON is YAML
    scenario = _finish(parse_text(text, Scenario, source=source, fmt=fmt), "scenario", None)
    if not allow_files:
        for i, c in enumerate(scenario.changes):
            if isinstance(c, NewWorkloads) and c.file is not None:
                raise ConfigFileError(
                    source, f"changes[{i}].file", None, "not allowed here: give workloads inline"
                )
    return scenario


def inline_files(scenario: Scenario) -> Scenario:
    """The scenario with every workload file read into inline workloads (to send it)."""
    changes = []
    for i, c in enumerate(scenario.changes):
        if isinstance(c, NewWorkloads) and c.file is not None:
            batch = _batch(c, f"{scenario.name}: changes[{i}]")
            entries = [WorkloadEntry.model_validate(workload_to_dict(w)) for w in batch]
            c = NewWorkloads(kind="workloads", workloads=entries)
        changes.append(c)
    return scenario.model_copy(update={"changes": changes})


def scenario_text(scenario: Scenario) -> str:
    """The scenario as one JSON object (what :func:`parse_scenario` reads back)."""
    return inline_files(scenario).model_dump_json(exclude_none=True)


def _finish(scenario: Scenario, default_name: str, folder: Path | None) -> Scenario:
    changes = []
    for c in scenario.changes:
        if isinstance(c, NewWorkloads) and c.file is not None and folder is not None:
            file = Path(c.file)
            c = c.model_copy(update={"file": str(file if file.is_absolute() else folder / file)})
        changes.append(c)
    return scenario.model_copy(update={"name": scenario.name or default_name, "changes": changes})


# --- the state a scenario changes ---------------------------------------------------------


@dataclass(slots=True)
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

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, at: float | None = None) -> World:
        """The snapshot's state at ``at`` (default: when it was taken): its up sites, its
        links, the rest of every active placement's work, running where it is, and which
        sites are over their hub's PUE cap."""
        at = snapshot.taken_at if at is None else at
        up = {v.site_id for v in snapshot.sites if v.up}
        work = [remaining_work(p, at, min_remaining_h=MIN_REMAINING_H) for p in snapshot.placements]
        return cls(
            at=at,
            reports={r.site_id: r for r in snapshot.site_reports},
            up=up,
            links=list(snapshot.links),
            workloads=work,
            running={p.workload.id: p.site_id for p in snapshot.placements},
            over_pue_cap={v.site_id for v in snapshot.sites if v.over_pue_cap},
            pue_cap_hysteresis=snapshot.pue_cap_hysteresis,
        )

    def copy(self) -> World:
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
        )

    def pue_caps(self) -> dict[str, float]:
        """Each hub's PUE cap: the tightest of its sites' own and the scenario's."""
        caps = hub_caps(self.reports.values())
        for hub, cap in self.hub_max_pue.items():
            caps[hub] = min(cap, caps.get(hub, cap))
        return caps


def apply(scenario: Scenario, world: World) -> World:
    """``world`` changed by every change of ``scenario`` in order (``world`` is untouched)."""
    out = world.copy()
    for i, change in enumerate(scenario.changes):
        where = f"{scenario.name}: changes[{i}] ({change.kind})"
        try:
            _APPLY[change.kind](change, out, where)
        except InvalidArgumentError as exc:
            # A value in range on its own can still make a workload or link the solver
            # refuses (an SLO scaled below its floor, a link from a node to itself).
            raise ScenarioError(f"{where}: {exc}") from exc
    return out


def _site(world: World, site: str, where: str) -> SiteReport:
    if site not in world.reports:
        raise ScenarioError(f"{where}: unknown site {site!r}")
    return world.reports[site]


def _site_down(c: SiteDown, world: World, where: str) -> None:
    for s in c.sites:
        _site(world, s, f"{where}.sites")
        world.up.discard(s)


def _site_up(c: SiteUp, world: World, where: str) -> None:
    for s in c.sites:
        _site(world, s, f"{where}.sites")
        world.up.add(s)


def _capacity(c: Capacity, world: World, where: str) -> None:
    r = _site(world, c.site, f"{where}.site")
    accelerators = list(r.accelerators)
    index = next((i for i, a in enumerate(accelerators) if a.model == c.model), None)
    if index is None:
        if c.power_w is None:
            raise ScenarioError(
                f"{where}.power_w: {c.site} has no {c.model}: give its power_w to add it"
            )
        accelerators.append(
            AcceleratorInventory(
                model=c.model, total=0, healthy=0, in_use_by_others=0, power_w=c.power_w
            )
        )
        index = len(accelerators) - 1
    a = accelerators[index]
    healthy = max(0, a.healthy + c.add) if c.add is not None else int(c.set or 0)
    total = max(healthy, a.total + (healthy - a.healthy))
    power = a.power_w if c.power_w is None else c.power_w
    accelerators[index] = replace(a, total=total, healthy=healthy, power_w=power)
    world.reports[c.site] = replace(r, accelerators=tuple(accelerators))


def _price(c: Price, world: World, where: str) -> None:
    c.check(world, where)
    for sid, r in list(world.reports.items()):
        if not c.picks(r):
            continue
        if c.multiplier is not None:
            prices = tuple(p * c.multiplier for p in r.next_24h_yuan_per_kwh)
        else:
            prices = _by_clock_hour(r, tuple(c.tariff or ()))
        world.reports[sid] = replace(
            r, next_24h_yuan_per_kwh=prices, price_now_yuan_per_kwh=prices[0]
        )


def _by_clock_hour(r: SiteReport, tariff: Sequence[float]) -> tuple[float, ...]:
    """A tariff by local clock hour as the report's 24 prices from its own hour on."""
    try:
        zone = ZoneInfo(r.timezone or "Asia/Shanghai")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Asia/Shanghai")
    first = datetime.fromtimestamp(r.timestamp, UTC).astimezone(zone).hour
    return tuple(float(tariff[(first + h) % HOURS]) for h in range(HOURS))


def _pue(c: Pue, world: World, where: str) -> None:
    c.check(world, where)
    for sid, r in list(world.reports.items()):
        if c.picks(r):
            # The site's PUE is this from now on: its sustained PUE too (a mean the report
            # does not have stays 0, so the cap judges the PUE now, as for the report).
            mean = _changed_pue(c, r.pue_mean) if r.pue_mean else 0.0
            world.reports[sid] = replace(r, pue=_changed_pue(c, r.pue), pue_mean=mean)


def _changed_pue(c: Pue, pue: float) -> float:
    value = c.set if c.set is not None else pue + float(c.add or 0.0)
    return min(MAX_PUE, max(1.0, value))


def _pue_cap(c: PueCap, world: World, where: str) -> None:
    hubs = {r.labels.hub for r in world.reports.values()}
    for h in c.hubs:
        if h not in hubs:
            raise ScenarioError(f"{where}.hubs: no site has hub {h!r}")
    for h in c.hubs or sorted(hubs):
        world.hub_max_pue[h] = min(world.hub_max_pue.get(h, math.inf), c.max_pue)


def _latency(c: Latency, world: World, where: str) -> None:
    c.check(world, where)
    regions = set(c.regions)
    for sid, r in list(world.reports.items()):
        if not c.picks(r):
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
                if c.set_ms is None:
                    continue  # nothing measured to shift or scale
                lat = RegionLatency(region=region, rtt_ms=c.set_ms)
            elif c.set_ms is not None:
                lat = replace(lat, rtt_ms=c.set_ms)
            elif c.add_ms is not None:
                lat = replace(lat, rtt_ms=max(0.0, lat.rtt_ms + c.add_ms))
            else:
                lat = replace(lat, rtt_ms=lat.rtt_ms * float(c.multiplier or 1.0))
            out.append(lat)
        world.reports[sid] = replace(r, latencies=tuple(x for x in out if x is not None))


def _link_cut(c: LinkCut, world: World, where: str) -> None:
    pair = {c.a, c.b}
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
        raise ScenarioError(f"{where}: no link or measured latency between {c.a} and {c.b}")
    world.links = kept


def _link(c: LinkSet, world: World, where: str) -> None:
    pair = {c.a, c.b}
    world.links = [link for link in world.links if {link.a, link.b} != pair]
    world.links.append(
        Link(
            a=c.a,
            b=c.b,
            latency_ms=c.latency_ms,
            bandwidth_gbps=c.bandwidth_gbps,
            yuan_per_gb=c.yuan_per_gb,
        )
    )


def _slo(c: Slo, world: World, where: str) -> None:
    pick = c
    out = []
    for w in world.workloads:
        if pick.picks(w):
            if c.remove:
                w = replace(w, latency_slo_ms=None)
            elif c.set_ms is not None:
                w = replace(w, latency_slo_ms=c.set_ms)
            elif w.latency_slo_ms is not None:
                w = replace(w, latency_slo_ms=w.latency_slo_ms * float(c.multiplier or 1.0))
        out.append(w)
    world.workloads = out


def _demand(c: Demand, world: World, where: str) -> None:
    """Each matching workload k times (k = the scale's whole part), plus one more copy
    for a share of them equal to its fraction, chosen by a hash of the id (reproducible).
    Copies are new work (``id#2``, ``id#3``, ...); a scale below 1 drops work instead."""
    pick = c
    whole, frac = divmod(c.scale, 1.0)
    out = []
    for w in world.workloads:
        if not pick.picks(w):
            out.append(w)
            continue
        copies = int(whole) + (1 if _unit(w.id) < frac else 0)
        for k in range(copies):
            if k == 0:
                out.append(w)
            else:
                out.append(replace(w, id=f"{w.id}#{k + 1}", current_site=None))
        if copies == 0:
            world.running.pop(w.id, None)
    world.workloads = out


def _unit(key: str) -> float:
    """A reproducible number in [0, 1) from ``key``."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _batch(c: NewWorkloads, where: str) -> list[Workload]:
    """The change's workloads: read from its file, or its inline entries."""
    if c.file is None:
        return [entry.to_workload() for entry in c.workloads]
    try:
        return load_workloads(c.file)
    except WorkloadFileError as exc:
        raise ScenarioError(f"{where}.file: {exc}") from exc


def _new_workloads(c: NewWorkloads, world: World, where: str) -> None:
    batch = _batch(c, where)
    have = {w.id for w in world.workloads}
    for w in batch:
        if w.id in have:
            raise ScenarioError(f"{where}: workload id {w.id!r} is already in use")
        have.add(w.id)
    world.workloads = [*world.workloads, *batch]


def _carbon_price(c: CarbonPrice, world: World, where: str) -> None:
    world.carbon_yuan_per_kg = c.yuan_per_kg


def _add_site(c: AddSite, world: World, where: str) -> None:
    if c.id in world.reports:
        raise ScenarioError(f"{where}.id: site {c.id!r} already exists")
    base = _site(world, c.like, f"{where}.like") if c.like is not None else None
    labels = base.labels if base is not None else SiteLabels()
    labels = replace(
        labels,
        name=c.id,
        hub=c.hub if c.hub is not None else labels.hub,
        province=c.province if c.province is not None else labels.province,
        side=c.side if c.side is not None else labels.side,
    )
    timestamp = base.timestamp if base is not None else world.at
    timezone = base.timezone if base is not None else "Asia/Shanghai"
    stub = SiteReport(
        site_id=c.id,
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
    if c.tariff is not None:
        prices = _by_clock_hour(stub, c.tariff)
    else:
        prices = base.next_24h_yuan_per_kwh if base is not None else ()
    power_of = {a.model: a.power_w for a in base.accelerators} if base is not None else {}
    accelerators = []
    for model, count in c.accelerators.items():
        power = c.power_w.get(model, power_of.get(model))
        if power is None:
            raise ScenarioError(f"{where}.power_w.{model}: give the board power of {model}")
        accelerators.append(
            AcceleratorInventory(
                model=model, total=count, healthy=count, in_use_by_others=0, power_w=power
            )
        )
    latencies = {lat.region: lat.rtt_ms for lat in base.latencies} if base is not None else {}
    latencies.update(c.latency_ms)
    world.reports[c.id] = replace(
        stub,
        accelerators=tuple(accelerators),
        pue=c.pue if c.pue is not None else (base.pue if base is not None else 1.0),
        pue_mean=base.pue_mean if c.pue is None and base is not None else 0.0,
        price_now_yuan_per_kwh=prices[0],
        next_24h_yuan_per_kwh=tuple(prices),
        carbon_kg_per_kwh=(
            c.carbon_kg_per_kwh
            if c.carbon_kg_per_kwh is not None
            else (base.carbon_kg_per_kwh if base is not None else 0.0)
        ),
        latencies=tuple(RegionLatency(region=k, rtt_ms=v) for k, v in sorted(latencies.items())),
    )
    world.up.add(c.id)


_APPLY: dict[str, Callable[[Any, World, str], None]] = {
    "site_down": _site_down,
    "site_up": _site_up,
    "capacity": _capacity,
    "price": _price,
    "pue": _pue,
    "pue_cap": _pue_cap,
    "latency": _latency,
    "link_cut": _link_cut,
    "link": _link,
    "slo": _slo,
    "demand": _demand,
    "workloads": _new_workloads,
    "carbon_price": _carbon_price,
    "add_site": _add_site,
}

__all__ = [
    "KINDS",
    "ConfigFileError",
    "Scenario",
    "ScenarioError",
    "World",
    "apply",
    "inline_files",
    "load_scenario",
    "parse_scenario",
    "scenario_text",
]
