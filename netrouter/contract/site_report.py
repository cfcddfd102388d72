"""The site report: what an agent publishes over MQTT and the router takes in.

Its domain type, its one protobuf conversion (agent and router both use it), its validity
ranges and the rules read from it (a hub's PUE cap). A report that fails validation is
counted by reason, logged and dropped by the caller; it never touches state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from google.protobuf.message import DecodeError

from netrouter.contract.limits import (
    MAX_ACCELERATOR_TYPES,
    MAX_CARBON_KG_PER_KWH,
    MAX_DEVICES,
    MAX_DOMAIN_NODES,
    MAX_LATENCY_MS,
    MAX_NODE_SIZE,
    MAX_POWER_W,
    MAX_PRICE_YUAN_PER_KWH,
    MAX_PUE,
    MAX_REGIONS,
    MAX_RUNNING,
)
from netrouter.contract.messages import same_named
from netrouter.contract.names import canonical_model
from netrouter.contract.topics import SITE_ID_PATTERN
from netrouter.v1 import site_report_pb2 as rpb

DEFAULT_TIMEZONE = "Asia/Shanghai"
"""The zone of a tariff's clock hours when a site names none: China's one time zone."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteLabels:
    """Where a site sits in the national network."""

    name: str = ""
    hub: str = ""
    hub_name: str = ""
    province: str = ""
    side: str = ""
    latitude: float = 0.0
    longitude: float = 0.0
    pue_cap: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceleratorInventory:
    """One accelerator model at a site, as its agent reports it."""

    model: str
    total: int
    healthy: int
    in_use_by_others: int
    power_w: float
    from_static_config: bool = False
    node_size: int = 0
    """Devices of this model per node; 0: the shape is not reported (count only)."""
    nodes_by_free: tuple[int, ...] = ()
    """``nodes_by_free[k]``: nodes with exactly ``k`` free devices, ``k = 0..node_size``."""
    domain_nodes: int = 0
    """The most nodes in one fast-interconnect domain (NVLink/HCCS island); 0: unknown."""
    domains_by_whole: tuple[int, ...] = ()
    """``domains_by_whole[k]``: domains with exactly ``k`` whole free nodes,
    ``k = 0..domain_nodes`` (a node in no known domain is one of its own)."""

    @property
    def available(self) -> int:
        """Healthy devices nobody else uses: what netrouter may place on."""
        return max(0, self.healthy - self.in_use_by_others)

    @property
    def whole_nodes(self) -> int:
        """Nodes with every device free (0 when the shape is not reported)."""
        return self.nodes_by_free[-1] if self.nodes_by_free else 0

    @property
    def largest_free(self) -> int:
        """The most free devices on one node (the count when the shape is not reported)."""
        if not self.node_size:
            return self.available
        return max((k for k, n in enumerate(self.nodes_by_free) if n), default=0)


def resized(a: AcceleratorInventory, healthy: int) -> AcceleratorInventory:
    """``a`` with ``healthy`` healthy devices (``total`` shifted by as many), its node
    shape kept whole: devices added come as whole free nodes (and one part node for the
    rest); devices taken go from the nodes with the most free first."""
    healthy = max(0, healthy)
    changed = replace(a, healthy=healthy, total=max(healthy, a.total + healthy - a.healthy))
    if not a.node_size:
        return changed
    n = a.node_size
    counts, domains = list(a.nodes_by_free), list(a.domains_by_whole)
    extra = changed.available - a.available
    if extra > 0:
        counts[n] += extra // n
        counts[extra % n] += 1 if extra % n else 0
        if domains:
            domains[1] += extra // n  # each new node a domain of its own
    left = -extra
    for k in range(n, 0, -1):
        while counts[k] and left > 0:
            take = min(k, left)
            if k == n and domains:
                # A whole node goes from the domain with the fewest whole nodes.
                d = next(d for d in range(1, len(domains)) if domains[d])
                domains[d] -= 1
                domains[d - 1] += 1
            counts[k] -= 1
            counts[k - take] += 1
            left -= take
    return replace(changed, nodes_by_free=tuple(counts), domains_by_whole=tuple(domains))


def free_nodes_text(
    node_size: int, nodes_by_free: Sequence[int], domains_by_whole: Sequence[int] = ()
) -> str:
    """How free devices sit on nodes, in words agent and CLI share: ``2 whole of 8, 1×3``
    (two whole free 8-device nodes, one with 3 free; nodes with none free left out) and,
    where the interconnect domains are known, ``; 2 whole in one domain of up to 18``
    (the most whole free nodes in one domain, and the most nodes one holds)."""
    parts = [
        f"{n}×{k}" for k, n in reversed(list(enumerate(nodes_by_free))) if n and 0 < k < node_size
    ]
    whole = nodes_by_free[-1] if nodes_by_free else 0
    text = f"{whole} whole of {node_size}" + (", " + " ".join(parts) if parts else "")
    if domains_by_whole:
        most = max((k for k, n in enumerate(domains_by_whole) if n), default=0)
        text += f"; {most} whole in one domain of up to {len(domains_by_whole) - 1}"
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionLatency:
    """Round-trip latency from a demand region to a site."""

    region: str
    rtt_ms: float
    measured: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningPlacement:
    """A netrouter placement the site shows running (its work carries the placement id)."""

    placement_id: str
    model: str
    devices: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteReport:
    """A validated site report (see :mod:`netrouter.contract.site_report`)."""

    site_id: str
    boot_id: str
    sequence: int
    timestamp: float
    labels: SiteLabels
    accelerators: tuple[AcceleratorInventory, ...]
    pue: float
    price_now_yuan_per_kwh: float
    next_24h_yuan_per_kwh: tuple[float, ...]
    timezone: str
    carbon_kg_per_kwh: float
    latencies: tuple[RegionLatency, ...]
    report_interval_s: float
    band_now: str = ""
    pue_source: str = ""
    pue_age_s: float = 0.0
    pue_mean: float = 0.0
    pue_mean_window_s: float = 0.0
    pue_mean_covered_s: float = 0.0
    next_24h_bands: tuple[str, ...] = ()
    """The tariff band of each of the next 24 hours: the router reads none of them, but the
    agent sends them for the operators who read the report off the broker."""
    sees_placements: bool = False
    """Whether the agent tells our work from others': then ``in_use_by_others`` leaves out
    the work in ``running``, and each model's ``nodes_by_free`` counts it as used."""
    running: tuple[RunningPlacement, ...] = ()

    def running_devices(self, model: str) -> int:
        """Devices the site shows our placements using on ``model``."""
        return sum(r.devices for r in self.running if r.model == model)

    @property
    def sustained_pue(self) -> float:
        """The PUE the hub's cap is judged on: the mean over the window, or the PUE now
        when the agent reports no mean (0)."""
        return self.pue_mean or self.pue


# --- site reports ------------------------------------------------------------------------


def labels_from_pb(m: rpb.SiteLabels) -> SiteLabels:
    """The domain labels of a message."""
    return SiteLabels(**same_named(rpb.SiteLabels, m))


def labels_to_pb(labels: SiteLabels) -> rpb.SiteLabels:
    """The message of domain labels."""
    return rpb.SiteLabels(**same_named(rpb.SiteLabels, labels))


def latency_from_pb(m: rpb.RegionLatency) -> RegionLatency:
    """The domain latency of a message."""
    return RegionLatency(**same_named(rpb.RegionLatency, m))


def latency_to_pb(latency: RegionLatency) -> rpb.RegionLatency:
    """The message of a domain latency."""
    return rpb.RegionLatency(**same_named(rpb.RegionLatency, latency))


def report_from_pb(m: rpb.SiteReport) -> SiteReport:
    """Map a decoded report to the domain type, each model spelt as :mod:`netrouter.contract.names`
    spells it (range checks live in :mod:`netrouter.contract.site_report`)."""
    return SiteReport(
        site_id=m.site_id,
        boot_id=m.boot_id,
        sequence=m.sequence,
        timestamp=m.timestamp,
        labels=labels_from_pb(m.labels),
        accelerators=tuple(
            AcceleratorInventory(
                **same_named(
                    rpb.AcceleratorInventory,
                    a,
                    model=canonical_model(a.model),
                    nodes_by_free=tuple(a.nodes_by_free),
                    domains_by_whole=tuple(a.domains_by_whole),
                )
            )
            for a in m.accelerators
        ),
        pue=m.pue,
        price_now_yuan_per_kwh=m.tariff.price_now_yuan_per_kwh,
        next_24h_yuan_per_kwh=tuple(m.tariff.next_24h_yuan_per_kwh),
        timezone=m.tariff.timezone,
        carbon_kg_per_kwh=m.carbon_kg_per_kwh,
        latencies=tuple(latency_from_pb(x) for x in m.latencies),
        report_interval_s=m.report_interval_s,
        band_now=m.tariff.band_now,
        next_24h_bands=tuple(m.tariff.next_24h_bands),
        pue_source=m.pue_source,
        pue_age_s=m.pue_age_s,
        pue_mean=m.pue_mean,
        pue_mean_window_s=m.pue_mean_window_s,
        pue_mean_covered_s=m.pue_mean_covered_s,
        sees_placements=m.sees_placements,
        running=tuple(
            RunningPlacement(**same_named(rpb.RunningPlacement, r, model=canonical_model(r.model)))
            for r in m.running
        ),
    )


def report_to_pb(r: SiteReport) -> rpb.SiteReport:
    """The wire form of a report: the agent's to publish, the router's for snapshots."""
    return rpb.SiteReport(
        site_id=r.site_id,
        boot_id=r.boot_id,
        sequence=r.sequence,
        timestamp=r.timestamp,
        labels=labels_to_pb(r.labels),
        accelerators=[
            rpb.AcceleratorInventory(**same_named(rpb.AcceleratorInventory, a))
            for a in r.accelerators
        ],
        pue=r.pue,
        tariff=rpb.Tariff(
            price_now_yuan_per_kwh=r.price_now_yuan_per_kwh,
            next_24h_yuan_per_kwh=list(r.next_24h_yuan_per_kwh),
            timezone=r.timezone,
            band_now=r.band_now,
            next_24h_bands=list(r.next_24h_bands),
        ),
        carbon_kg_per_kwh=r.carbon_kg_per_kwh,
        latencies=[latency_to_pb(x) for x in r.latencies],
        report_interval_s=r.report_interval_s,
        pue_source=r.pue_source,
        pue_age_s=r.pue_age_s,
        pue_mean=r.pue_mean,
        pue_mean_window_s=r.pue_mean_window_s,
        pue_mean_covered_s=r.pue_mean_covered_s,
        sees_placements=r.sees_placements,
        running=[rpb.RunningPlacement(**same_named(rpb.RunningPlacement, x)) for x in r.running],
    )


MAX_REPORT_BYTES = 256 * 1024

PUE_MEAN_COVER_SLACK_S = 60.0
"""How far ``pue_mean_covered_s`` may exceed ``pue_mean_window_s`` (clock steps at the agent)."""


class ReportRejectedError(ValueError):
    """A report was refused; ``reason`` is a short stable label for metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _in_range(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ReportRejectedError("out_of_range", f"{name}={value} not in [{low}, {high}]")


def _add_new(what: str, name: str, seen: set[str]) -> None:
    """Add ``name`` to ``seen``; a report naming one ``what`` twice, or none, is refused."""
    if not name or name in seen:
        raise ReportRejectedError("out_of_range", f"{what} {name!r} empty or repeated")
    seen.add(name)


def decode_report(topic_site_id: str, payload: bytes) -> SiteReport:
    """Parse a report payload and check it is for this topic's site and in range."""
    if len(payload) > MAX_REPORT_BYTES:
        raise ReportRejectedError("too_large", f"{len(payload)} bytes > {MAX_REPORT_BYTES}")
    message = rpb.SiteReport()
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise ReportRejectedError("undecodable", str(exc)) from exc
    report = report_from_pb(message)
    if report.site_id != topic_site_id:
        raise ReportRejectedError(
            "site_mismatch", f"payload site {report.site_id!r} on topic of {topic_site_id!r}"
        )
    validate_report(report)
    return report


def validate_report(r: SiteReport) -> None:
    """Raise :class:`ReportRejectedError` unless every field of ``r`` is sane."""
    if not SITE_ID_PATTERN.match(r.site_id):
        raise ReportRejectedError("bad_site_id", f"{r.site_id!r}")
    if not r.boot_id:
        raise ReportRejectedError("out_of_range", "boot_id is empty")
    _in_range("timestamp", r.timestamp, 1.0, 1e11)
    _in_range("labels.latitude", r.labels.latitude, -90.0, 90.0)
    _in_range("labels.longitude", r.labels.longitude, -180.0, 180.0)
    if r.labels.pue_cap != 0.0:  # 0: the hub has no cap
        _in_range("labels.pue_cap", r.labels.pue_cap, 1.0, MAX_PUE)
    _in_range("pue_age_s", r.pue_age_s, 0.0, math.inf)
    _in_range("report_interval_s", r.report_interval_s, 0.01, 86_400.0)
    _in_range("pue", r.pue, 1.0, MAX_PUE)
    if r.pue_mean != 0.0:  # 0: no mean reported; the cap is judged on pue
        _in_range("pue_mean", r.pue_mean, 1.0, MAX_PUE)
    _in_range("pue_mean_window_s", r.pue_mean_window_s, 0.0, math.inf)
    _in_range(
        "pue_mean_covered_s",
        r.pue_mean_covered_s,
        0.0,
        r.pue_mean_window_s + PUE_MEAN_COVER_SLACK_S,
    )
    _in_range("carbon_kg_per_kwh", r.carbon_kg_per_kwh, 0.0, MAX_CARBON_KG_PER_KWH)
    _in_range("price_now_yuan_per_kwh", r.price_now_yuan_per_kwh, 0.0, MAX_PRICE_YUAN_PER_KWH)
    if len(r.next_24h_yuan_per_kwh) != 24:
        raise ReportRejectedError(
            "out_of_range", f"tariff has {len(r.next_24h_yuan_per_kwh)} hourly prices, needs 24"
        )
    if not all(0.0 <= p <= MAX_PRICE_YUAN_PER_KWH for p in r.next_24h_yuan_per_kwh):  # NaN too
        for i, price in enumerate(r.next_24h_yuan_per_kwh):  # name the first bad one
            _in_range(f"next_24h_yuan_per_kwh[{i}]", price, 0.0, MAX_PRICE_YUAN_PER_KWH)
    if len(r.accelerators) > MAX_ACCELERATOR_TYPES:
        raise ReportRejectedError("out_of_range", f"{len(r.accelerators)} accelerator types")
    models: set[str] = set()
    for a in r.accelerators:
        _add_new("accelerator model", a.model, models)
        if not a.in_use_by_others <= a.healthy <= a.total <= MAX_DEVICES:
            raise ReportRejectedError(
                "out_of_range",
                f"{a.model}: need in_use_by_others <= healthy <= total <= {MAX_DEVICES}, got "
                f"{a.in_use_by_others}/{a.healthy}/{a.total}",
            )
        _in_range(f"{a.model}.power_w", a.power_w, 1.0, MAX_POWER_W)
    _check_running(r)
    for a in r.accelerators:
        _check_shape(a, r.running_devices(a.model))
    if len(r.latencies) > MAX_REGIONS:
        raise ReportRejectedError("out_of_range", f"{len(r.latencies)} latency regions")
    regions: set[str] = set()
    for lat in r.latencies:
        _add_new("latency region", lat.region, regions)
        _in_range(f"latency[{lat.region}]", lat.rtt_ms, 0.0, MAX_LATENCY_MS)


def _check_running(r: SiteReport) -> None:
    """Our work the site shows running: only from an agent that sees placement ids, once
    each, on models it reports, within their available devices."""
    if r.running and not r.sees_placements:
        raise ReportRejectedError("out_of_range", "running placements without sees_placements")
    if len(r.running) > MAX_RUNNING:
        raise ReportRejectedError("out_of_range", f"{len(r.running)} running placements")
    ids: set[str] = set()
    available = {a.model: a.available for a in r.accelerators}
    for x in r.running:
        _add_new("running placement", x.placement_id, ids)
        if x.model not in available:
            raise ReportRejectedError(
                "out_of_range", f"running {x.placement_id}: model {x.model!r} not in the report"
            )
        _in_range(f"running {x.placement_id}.devices", x.devices, 1, MAX_DEVICES)
    for model, devices in available.items():
        if r.running_devices(model) > devices:
            raise ReportRejectedError(
                "out_of_range",
                f"{model}: running placements use {r.running_devices(model)} devices, "
                f"healthy - in_use_by_others = {devices}",
            )


def _check_shape(a: AcceleratorInventory, running: int) -> None:
    """A reported node shape must partition the model's available devices less those our
    running work uses (``running``)."""
    if not a.node_size:
        if a.nodes_by_free or a.domain_nodes or a.domains_by_whole:
            raise ReportRejectedError(
                "out_of_range",
                f"{a.model}: nodes_by_free, domain_nodes or domains_by_whole without node_size",
            )
        return
    _in_range(f"{a.model}.node_size", a.node_size, 1, MAX_NODE_SIZE)
    free = _weighted(a.model, "nodes_by_free", a.nodes_by_free, "node_size", a.node_size, "free")
    if free != a.available - running:
        ours = f" - running placements {running}" if running else ""
        raise ReportRejectedError(
            "out_of_range",
            f"{a.model}: nodes_by_free holds {free} free devices, but healthy - "
            f"in_use_by_others{ours} = {a.available - running}",
        )
    _check_domains(a)


def _check_domains(a: AcceleratorInventory) -> None:
    """Reported domains must hold the whole free nodes, each in one domain."""
    if not a.domain_nodes:
        if a.domains_by_whole:
            raise ReportRejectedError(
                "out_of_range", f"{a.model}: domains_by_whole without domain_nodes"
            )
        return
    _in_range(f"{a.model}.domain_nodes", a.domain_nodes, 1, MAX_DOMAIN_NODES)
    whole = _weighted(
        a.model,
        "domains_by_whole",
        a.domains_by_whole,
        "domain_nodes",
        a.domain_nodes,
        "whole free nodes",
    )
    if whole != a.whole_nodes:
        raise ReportRejectedError(
            "out_of_range",
            f"{a.model}: domains_by_whole holds {whole} whole free nodes, "
            f"nodes_by_free has {a.whole_nodes}",
        )


def _weighted(
    model: str, name: str, counts: Sequence[int], size_name: str, size: int, unit: str
) -> int:
    """``sum(k * counts[k])`` of a reported histogram, which must hold one count for each
    ``k`` in ``0..size`` (``size``: the report's ``size_name``; ``unit``: what ``k``
    counts)."""
    if len(counts) != size + 1:
        raise ReportRejectedError(
            "out_of_range",
            f"{model}: {name} has {len(counts)} counts, needs {size_name} + 1 = {size + 1} "
            f"(0..{size} {unit})",
        )
    return sum(k * n for k, n in enumerate(counts))


def hub_caps(reports: Iterable[SiteReport]) -> dict[str, float]:
    """Each hub's PUE cap: the tightest any of its sites reports (hubs without one left out)."""
    caps: dict[str, float] = {}
    for r in reports:
        cap, hub = r.labels.pue_cap, r.labels.hub
        if cap > 0 and hub:
            caps[hub] = min(cap, caps.get(hub, cap))
    return caps
