"""The site agent's TOML configuration (see examples/sites/*.toml)."""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from netrouter.contract.broker import BrokerSection
from netrouter.contract.configfile import NestedValueError, load_toml
from netrouter.contract.limits import (
    MAX_ACCELERATOR_TYPES,
    MAX_DEVICES,
    MAX_POWER_W,
    MAX_PUE,
    MAX_REGIONS,
)
from netrouter.contract.names import (
    NATIONAL_REGIONS,
    UnknownNameError,
    canonical_region,
    check_model,
    check_region_ids,
)
from netrouter.contract.site_report import DEFAULT_TIMEZONE
from netrouter.contract.topics import SITE_ID_PATTERN

T = TypeVar("T")

Price = Annotated[float, Field(ge=0, le=20, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSection(_Strict):
    id: str
    name: str = ""
    hub: str = ""
    hub_name: str = ""
    province: str = ""
    side: Literal["east", "west"]
    latitude: float = Field(default=0.0, ge=-90, le=90)
    longitude: float = Field(default=0.0, ge=-180, le=180)
    pue_cap: float = Field(default=0.0, ge=0, le=MAX_PUE)
    regions: tuple[str, ...] = Field(default=NATIONAL_REGIONS, max_length=MAX_REGIONS)
    """The demand regions ``[latency_ms]`` and ``[latency_probe] targets`` may name: the
    same set as the router's ``[network] regions``."""

    @field_validator("regions")
    @classmethod
    def _region_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_region_ids(value)

    @field_validator("pue_cap")
    @classmethod
    def _cap_or_none(cls, value: float) -> float:
        if value != 0.0 and value < 1.0:  # the router refuses a report with such a cap
            raise ValueError("must be 0 (no cap) or at least 1")
        return value

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not SITE_ID_PATTERN.match(value):
            raise ValueError("must be lowercase letters, digits and '-', at most 63 characters")
        return value


MIN_INTERVAL_S = 0.05
"""The shortest report period (and collector check interval) an agent accepts."""
DEFAULT_SUMMARY_INTERVAL_S = 300.0
"""How often ``run`` logs its one-line summary by default: every 5 minutes."""


class PublishSection(_Strict):
    """``interval_s``: the report period. Collectors are read every ``check_interval_s``
    (at most the period) and a significant change (capacity, health, price band, our
    running placements) is published at once. Every ``summary_interval_s`` (0: never)
    ``run`` logs one INFO line: the reports sent since the last one, in all, and the last
    error."""

    # The router accepts periods in [0.01 s, 1 day]; an hour is plenty for a liveness signal.
    interval_s: float = Field(default=5.0, ge=MIN_INTERVAL_S, le=3600, allow_inf_nan=False)
    check_interval_s: float | None = Field(
        default=None, ge=MIN_INTERVAL_S, le=3600, allow_inf_nan=False
    )
    summary_interval_s: float = Field(
        default=DEFAULT_SUMMARY_INTERVAL_S, ge=0, le=86_400, allow_inf_nan=False
    )

    @property
    def check_s(self) -> float:
        """How often the collectors are read: ``check_interval_s``, by default 1 s (or the
        period, when that is shorter)."""
        if self.check_interval_s is not None:
            return self.check_interval_s
        return min(1.0, self.interval_s)

    @model_validator(mode="after")
    def _check_within_period(self) -> PublishSection:
        if self.check_interval_s is not None and self.check_interval_s > self.interval_s:
            raise ValueError(
                f"check_interval_s ({self.check_interval_s:g}) must be at most "
                f"interval_s ({self.interval_s:g})"
            )
        return self


class AcceleratorSection(_Strict):
    model: str = Field(min_length=1)
    # The router's ranges for a reported inventory (netrouter.contract.limits).
    total: int = Field(ge=0, le=MAX_DEVICES)
    healthy: int = Field(ge=0, le=MAX_DEVICES)
    in_use_by_others: int = Field(default=0, ge=0, le=MAX_DEVICES)
    power_w: float = Field(ge=1, le=MAX_POWER_W, allow_inf_nan=False)

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        return check_model(value)

    @model_validator(mode="after")
    def _counts_nest(self) -> AcceleratorSection:
        if not self.in_use_by_others <= self.healthy <= self.total:
            raise ValueError("need in_use_by_others <= healthy <= total")
        return self


MAX_PUE_MEAN_WINDOW_H = 366 * 24.0
"""The longest window a sustained PUE may be taken over: a year."""


class PueSection(_Strict):
    """PUE: a fixed ``value``, or read from the site's DCIM (a JSON file or HTTP endpoint).

    For ``file`` and ``http`` the number sits at ``json_path`` (dots between keys, list
    indices as numbers; empty when the document is the number). A reading is used while it
    is at most ``max_age_s`` old, its age taken from ``timestamp_path`` (Unix seconds or ISO
    8601) when given, else from the file's modification time or the fetch time. Without a
    fresh reading the agent reports ``value`` when one is configured; otherwise it publishes
    nothing until a reading arrives (the router then treats the site as stale).

    Every report also carries the sustained PUE, the hub's cap being a policy on it: the
    mean over the last ``mean_window_h`` hours. For ``fixed`` that is ``value``. For
    ``file`` and ``http`` it is the DCIM's own figure at ``mean_json_path`` when given (in
    the same document, read with the reading), else the time-weighted mean of the readings
    the agent took, about one per ``poll_s``, each standing for at most ``max_age_s``.
    ``state_file`` keeps those readings across restarts.
    """

    source: Literal["fixed", "file", "http"] = "fixed"
    value: float | None = Field(default=None, ge=1.0, le=MAX_PUE, allow_inf_nan=False)
    path: str = ""
    url: str = ""
    json_path: str = ""
    timestamp_path: str = ""
    max_age_s: float = Field(default=900.0, gt=0, allow_inf_nan=False)
    poll_s: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    timeout_s: float = Field(default=2.0, gt=0, le=60, allow_inf_nan=False)
    mean_window_h: float = Field(default=168.0, gt=0, le=MAX_PUE_MEAN_WINDOW_H, allow_inf_nan=False)
    mean_json_path: str = ""
    state_file: str = ""

    @property
    def mean_window_s(self) -> float:
        """The sustained PUE's window in seconds."""
        return self.mean_window_h * 3600.0

    @model_validator(mode="after")
    def _source_needs(self) -> PueSection:
        if self.source == "fixed" and self.value is None:
            raise ValueError('source "fixed" needs value')
        if self.source == "fixed" and (self.mean_json_path or self.state_file):
            raise ValueError(
                'mean_json_path and state_file are for source "file" or "http" (with "fixed" '
                "the sustained PUE is value)"
            )
        if self.source == "file" and not self.path:
            raise ValueError('source "file" needs path')
        if self.source == "http" and not self.url.startswith(("http://", "https://")):
            raise ValueError('source "http" needs url = "http://..." or "https://..."')
        if self.source == "http" and self.poll_s > self.max_age_s:
            raise ValueError(
                f"poll_s ({self.poll_s:g}) must be at most max_age_s ({self.max_age_s:g}), "
                "or every reading goes stale before the next one"
            )
        return self


class LatencyProbeSection(_Strict):
    """TCP-connect probes to each demand region's endpoint (``HOST:PORT``).

    Each probe round connects ``samples`` times per region and reports the median; rounds
    run every ``interval_s``. A region whose probes all fail reports its configured
    ``[latency_ms]`` value instead (marked not measured), or is left out.
    """

    targets: dict[str, str] = Field(default_factory=dict)
    samples: int = Field(default=5, ge=1, le=100)
    timeout_s: float = Field(default=1.0, gt=0, le=30, allow_inf_nan=False)
    interval_s: float = Field(default=60.0, gt=0, le=86_400, allow_inf_nan=False)

    @field_validator("targets")
    @classmethod
    def _host_port(cls, value: dict[str, str]) -> dict[str, str]:
        for region, target in value.items():
            split_host_port(target, key=region)
        return value

    @model_validator(mode="after")
    def _round_fits(self) -> LatencyProbeSection:
        longest = self.samples * self.timeout_s
        if longest > self.interval_s:
            raise ValueError(
                f"samples × timeout_s ({longest:g} s) must fit in interval_s ({self.interval_s:g})"
            )
        return self


def split_host_port(target: str, *, key: str = "") -> tuple[str, int]:
    """``("host", port)`` from ``"host:port"`` or ``"[v6]:port"``."""
    host, sep, port = target.rpartition(":")
    host = host.strip("[]")
    bad = ValueError(
        f"{key}: {target!r} is not HOST:PORT" if key else f"{target!r} is not HOST:PORT"
    )
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise bad
    try:
        host.encode("idna")
    except UnicodeError as exc:
        raise bad from exc
    return host, int(port)


class MetricsSection(_Strict):
    """Prometheus metrics on ``http://ADDRESS:PORT/metrics``. No ``port`` (the default)
    means off; ``port = 0`` picks any free port, which ``run`` logs (as the router does)."""

    port: int | None = Field(default=None, ge=0, le=65535)
    address: str = "0.0.0.0"

    @field_validator("address")
    @classmethod
    def _ip(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IP address to listen on") from exc
        return value


BANDS = ("sharp", "peak", "flat", "valley", "deep_valley")
"""Time-of-use bands, dearest first: 尖峰, 高峰, 平段, 低谷, 深谷."""

Band = Literal["sharp", "peak", "flat", "valley", "deep_valley"]


def parse_hours(span: str) -> list[int]:
    """The local hours in ``"HH-HH"`` (half-open; ``"22-06"`` wraps past midnight)."""
    parts = span.split("-")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f'hour range {span!r} is not like "08-11"')
    start, end = (int(p) for p in parts)
    if not (0 <= start <= 23 and 1 <= end <= 24) or start == end:
        raise ValueError(
            f"hour range {span!r} needs 0 <= start <= 23, 1 <= end <= 24, start != end"
        )
    return list(range(start, end)) if start < end else [*range(start, 24), *range(end)]


class SeasonSection(_Strict):
    """The bands of each local hour in some months, and (optionally) their prices."""

    name: str = ""
    months: list[Annotated[int, Field(ge=1, le=12)]] = Field(min_length=1)
    prices: dict[Band, Price] = Field(default_factory=dict)
    hours: dict[Band, list[str]]

    @model_validator(mode="after")
    def _every_hour_once(self) -> SeasonSection:
        missing = [hour for hour, band in enumerate(self.band_of_hour()) if band is None]
        if missing:
            raise ValueError(f"hours {missing} have no band")
        return self

    def band_of_hour(self) -> list[Band | None]:
        """The band of each local hour 0..23 (None: no band); raises ``ValueError`` if an
        hour is in two bands."""
        bands: list[Band | None] = [None] * 24
        for band, spans in self.hours.items():
            for span in spans:
                for hour in parse_hours(span):
                    if bands[hour] is not None:
                        raise ValueError(f"hour {hour} is in both {bands[hour]} and {band}")
                    bands[hour] = band
        return bands


class TariffSection(_Strict):
    """A time-of-use schedule: band prices, and the band of every hour by season.

    ``prices`` apply to every season; a season's own ``prices`` override them (e.g. a
    summer mark-up). Every month is in exactly one season and every hour of a season in
    exactly one band; hours are local to ``timezone``.
    """

    timezone: str = DEFAULT_TIMEZONE
    source: str = ""
    prices: dict[Band, Price] = Field(default_factory=dict)
    seasons: list[SeasonSection] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _complete(self) -> TariffSection:
        owner: dict[int, int] = {}
        for index, season in enumerate(self.seasons):
            for month in season.months:
                if month in owner:
                    raise ValueError(f"month {month} is in seasons {owner[month]} and {index}")
                owner[month] = index
            for band in season.hours:
                if band not in season.prices and band not in self.prices:
                    raise ValueError(
                        f"season {index} uses band {band} but no price is given for it"
                    )
        missing = sorted(set(range(1, 13)) - set(owner))
        if missing:
            raise ValueError(f"months {missing} are in no season")
        return self

    def price(self, season: SeasonSection, band: Band) -> float:
        """The price of ``band`` in ``season``."""
        return season.prices.get(band, self.prices.get(band, 0.0))


class CarbonSection(_Strict):
    kg_per_kwh: float = Field(ge=0, le=5, allow_inf_nan=False)


def _pod_placement_join(series: str, pod_label: str) -> str:
    """``series`` (one per device, with the pod's namespace and ``pod_label``) less the
    devices of pods carrying a netrouter placement id (kube-state-metrics' ``kube_pod_labels``
    with the ``netrouter.io/placement-id`` label allowlisted). Without that family every pod
    counts as someone else's: less free capacity is reported, never more."""
    keyed = (
        series
        if pod_label == "pod"
        else f'label_replace({series}, "pod", "$1", "{pod_label}", "(.+)")'
    )
    return (
        f"({keyed} unless on (namespace, pod) "
        'kube_pod_labels{label_netrouter_io_placement_id!=""})'
    )


_NODE_SCRATCH = "netrouter_node"
"""A label the default queries name the node in before it becomes ``node`` (so an
exporter's own ``node`` label can be one of the candidates without being overwritten)."""


PLACEMENT_LABEL = "label_netrouter_io_placement_id"
"""kube-state-metrics' label for the pod label ``netrouter.io/placement-id``."""


def _pod_placements(series: str, pod_label: str) -> str:
    """``series`` (one per device, with the pod's namespace and ``pod_label``) of the pods
    that carry a netrouter placement id, each labelled ``placement_id`` with it: the devices
    :func:`_pod_placement_join` leaves out. ``max by`` makes the pod labels one series per
    pod however many kube-state-metrics replicas are scraped."""
    keyed = (
        series
        if pod_label == "pod"
        else f'label_replace({series}, "pod", "$1", "{pod_label}", "(.+)")'
    )
    joined = (
        f"({keyed} * on (namespace, pod) group_left ({PLACEMENT_LABEL}) "
        f"max by (namespace, pod, {PLACEMENT_LABEL}) "
        f'(kube_pod_labels{{{PLACEMENT_LABEL}!=""}}))'
    )
    return f'label_replace({joined}, "placement_id", "$1", "{PLACEMENT_LABEL}", "(.+)")'


def _by_node_model(expr: str, node: str, model: str, *, by: str = "") -> str:
    """``count by (node, model)`` of ``expr``, its ``node`` and ``model`` labels taken from
    the exporter's labels ``node`` (a list: the first present wins) and ``model``; ``by``
    adds labels to group by (``placement_id``).

    ``instance`` among the node labels names the node by the scrape target's host, the
    port dropped (``10.0.3.7:8082`` is node ``10.0.3.7``): an exporter scraped once per
    node, such as npu-exporter, labels no node itself."""
    for label in reversed(node.split(",")):
        value = "(.+?)(?::[0-9]+)?" if label == "instance" else "(.+)"
        expr = f'label_replace({expr}, "{_NODE_SCRATCH}", "$1", "{label}", "{value}")'
    expr = f'label_replace({expr}, "node", "$1", "{_NODE_SCRATCH}", "(.+)")'
    expr = f'label_replace({expr}, "model", "$1", "{model}", "(.+)")'
    return f"count by (node, model{', ' + by if by else ''}) ({expr})"


_DCGM_DEVICE = "DCGM_FI_DEV_POWER_USAGE"
_DCGM_NODE = "hostname,Hostname"  # dcgm-exporter after 4.5.3-4.8.2 renamed Hostname
_CRITICAL_XIDS = (48, 63, 64, 74, 79, 92, 94, 95, 119, 120)  # as site_agents.nvml
_DCGM_UNHEALTHY = (
    "max by (UUID, Hostname, hostname, modelName) ("
    + " or ".join(f"DCGM_FI_DEV_XID_ERRORS == {x}" for x in _CRITICAL_XIDS)
    + " or DCGM_FI_DEV_ROW_REMAP_FAILURE == 1"
    " or DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS > 0"
    " or DCGM_FI_DEV_ROW_REMAP_PENDING == 1"
    " or DCGM_FI_DEV_RETIRED_PENDING > 0"
    " or DCGM_FI_DEV_ECC_DBE_VOL_TOTAL > 0)"
)
_NPU_NODE = "node,instance"  # npu-exporter has no node label: the scrape target's host
_NPU_DEVICE = "npu_chip_info_health_status"

DEFAULT_QUERIES: dict[str, str] = {
    "gpu_devices": _by_node_model(_DCGM_DEVICE, _DCGM_NODE, "modelName"),
    "gpu_unhealthy": _by_node_model(_DCGM_UNHEALTHY, _DCGM_NODE, "modelName"),
    "gpu_in_use_by_others": _by_node_model(
        _pod_placement_join(_DCGM_DEVICE + '{pod!=""}', "pod"), _DCGM_NODE, "modelName"
    ),
    "gpu_power_draw_w": (
        "sum by (node, model) ("
        + _by_node_model(_DCGM_DEVICE, _DCGM_NODE, "modelName")
        .removeprefix("count by (node, model) (")
        .removesuffix(")")
        + ")"
    ),
    "npu_devices": _by_node_model(_NPU_DEVICE, _NPU_NODE, "model_name"),
    "npu_unhealthy": _by_node_model(_NPU_DEVICE + " == 0", _NPU_NODE, "model_name"),
    "npu_in_use_by_others": _by_node_model(
        _pod_placement_join(_NPU_DEVICE + '{pod_name!=""}', "pod_name"), _NPU_NODE, "model_name"
    ),
    "npu_power_draw_w": (
        "sum by (node, model) ("
        + _by_node_model("npu_chip_info_power", _NPU_NODE, "model_name")
        .removeprefix("count by (node, model) (")
        .removesuffix(")")
        + ")"
    ),
    "node_domains": (
        "label_replace(max by (node, label_nvidia_com_gpu_clique) (kube_node_labels{"
        'label_nvidia_com_gpu_clique!=""}), "domain", "$1", "label_nvidia_com_gpu_clique", '
        '"(.+)")'
    ),
    "gpu_placements": _by_node_model(
        _pod_placements(_DCGM_DEVICE + '{pod!=""}', "pod"),
        _DCGM_NODE,
        "modelName",
        by="placement_id",
    ),
    "npu_placements": _by_node_model(
        _pod_placements(_NPU_DEVICE + '{pod_name!=""}', "pod_name"),
        _NPU_NODE,
        "model_name",
        by="placement_id",
    ),
}
"""The default PromQL per fact, for dcgm-exporter, Huawei's npu-exporter and
kube-state-metrics (metric and label names: tests/data/exporters/SOURCES.md). Each answers
a vector with labels ``node`` and ``model``: a count of devices (power: watts). The
placement queries also label each count with the ``placement_id`` of netrouter's pods on
those devices; they run only with ``sees_placements``. ``node_domains`` answers one series
per node labelled ``node`` and ``domain``, the node's fast-interconnect domain (NVLink or
HCCS island): by default GPU feature discovery's node label ``nvidia.com/gpu.clique`` (set on
multi-node NVLink systems such as GB200 NVL72), through kube-state-metrics'
``kube_node_labels`` once allowlisted (``--metric-labels-allowlist=nodes=[nvidia.com/gpu.clique]``).
No answer: the domains are unknown."""

DOMAIN_QUERY = "node_domains"
"""The query naming each node's interconnect domain."""

DEVICE_QUERIES = ("gpu_devices", "npu_devices")
"""The queries that say which devices exist; the others qualify them."""

PLACEMENT_QUERIES = {"gpu_devices": "gpu_placements", "npu_devices": "npu_placements"}
"""Per device query, the query of the devices netrouter's placements use among them."""

DEFAULT_EXPORTER_MODELS: dict[str, str] = {
    "NVIDIA H100 80GB HBM3": "H100",
    "NVIDIA H100 PCIe": "H100",
    "NVIDIA H200": "H200",
    "NVIDIA H20": "H20",
    "NVIDIA H800": "H800",
    "NVIDIA A100-SXM4-80GB": "A100",
    "NVIDIA A800-SXM4-80GB": "A800",
    "910B1-Ascend-V1": "Ascend910B",
    "910B2-Ascend-V1": "Ascend910B",
    "910B3-Ascend-V1": "Ascend910B",
    "910B4-Ascend-V1": "Ascend910B",
}
"""Exporter model labels and their canonical names; ``[inventory.prometheus] model_names``
adds to and overrides these. A label not listed is read as NVML's names are (the word after
"NVIDIA") or, for Ascend's ``NNNX#-Ascend-V#``, as ``AscendNNNX``."""


def _check_model_names(value: dict[str, str]) -> dict[str, str]:
    spelt = {}
    for exporter_name, model in value.items():
        try:
            spelt[exporter_name] = check_model(model)
        except UnknownNameError as exc:
            raise NestedValueError((exporter_name,), str(exc)) from exc
    return spelt


class PrometheusSection(_Strict):
    """``[inventory.prometheus]``: the site's Prometheus and what to ask it.

    Every collection runs each query in ``queries`` (an empty string turns one off) at
    ``url``/api/v1/query. ``model_names`` maps exporter model labels to model names;
    ``board_power_w`` gives a model's board power (else its ``[[accelerators]]`` power_w).

    ``fallback``: what is reported while Prometheus fails (down, an error, or no devices at
    all): ``last_good`` the last good inventory for ``grace_s``, then the static
    ``[[accelerators]]``; ``static`` the static list at once; ``none`` nothing (the report
    is not published and the router marks the site stale).

    ``sees_placements``: the agent reads which netrouter placements run here (the
    placement queries) and reports them, counting their devices as used in each model's
    shape. Set it only where kube-state-metrics exports the pod label
    (``--metric-labels-allowlist=pods=[netrouter.io/placement-id]``): an empty answer
    cannot tell "none of our work runs" from "the label is not exported", and the router
    flags every placement a site that sees placements does not show running. Each device
    query given needs its placement query.
    """

    url: str = "http://127.0.0.1:9090"
    timeout_s: float = Field(default=5.0, gt=0, le=60, allow_inf_nan=False)
    queries: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_QUERIES))
    model_names: dict[str, str] = Field(default_factory=dict)
    board_power_w: dict[str, Annotated[float, Field(ge=1, le=MAX_POWER_W, allow_inf_nan=False)]] = (
        Field(default_factory=dict)
    )
    fallback: Literal["last_good", "static", "none"] = "last_good"
    grace_s: float = Field(default=300.0, gt=0, le=86_400, allow_inf_nan=False)
    sees_placements: bool = False

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError('must be "http://..." or "https://..."')
        return value.rstrip("/")

    @field_validator("queries")
    @classmethod
    def _known_queries(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name not in DEFAULT_QUERIES:
                raise NestedValueError(
                    (name,), f"unknown query; the queries are {', '.join(DEFAULT_QUERIES)}"
                )
        merged = {**DEFAULT_QUERIES, **{k: v.strip() for k, v in value.items()}}
        if not any(merged[name] for name in DEVICE_QUERIES):
            raise ValueError(f"at least one of {' and '.join(DEVICE_QUERIES)} must be given")
        return merged

    @field_validator("model_names")
    @classmethod
    def _model_spelling(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_model_names(value)

    @field_validator("board_power_w")
    @classmethod
    def _power_models(cls, value: dict[str, float]) -> dict[str, float]:
        out = {}
        for model, watts in value.items():
            try:
                out[check_model(model)] = watts
            except UnknownNameError as exc:
                raise NestedValueError((model,), str(exc)) from exc
        return out

    @model_validator(mode="after")
    def _placements_read(self) -> PrometheusSection:
        if self.sees_placements:
            for devices, placements in PLACEMENT_QUERIES.items():
                if self.queries[devices] and not self.queries[placements]:
                    raise ValueError(
                        f"sees_placements needs queries.{placements} while "
                        f"queries.{devices} is given"
                    )
        return self

    @property
    def exporter_models(self) -> dict[str, str]:
        """Exporter model labels to model names: the defaults with ``model_names`` over them."""
        return {**DEFAULT_EXPORTER_MODELS, **self.model_names}


class InventorySection(_Strict):
    """Where the accelerator inventory comes from.

    ``nvml`` reads NVIDIA devices through NVML and falls back to ``[[accelerators]]`` when
    NVML or the driver is missing; models NVML cannot see always come from the config.
    ``own_process_names``: substrings of process names that are netrouter's own work (any
    other compute process makes its device "in use by others"). ``model_names`` maps NVML
    device names to model names when the default (the word after "NVIDIA") is not right.
    ``prometheus`` queries the site's Prometheus (``[inventory.prometheus]``) for every
    node's devices; see :class:`PrometheusSection`.
    """

    source: Literal["static", "nvml", "prometheus"] = "static"
    own_process_names: list[str] = Field(default_factory=list)
    model_names: dict[str, str] = Field(default_factory=dict)
    prometheus: PrometheusSection = PrometheusSection()

    @field_validator("model_names")
    @classmethod
    def _model_spelling(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_model_names(value)


class SiteConfig(_Strict):
    """A whole site config file."""

    site: SiteSection
    publish: PublishSection = PublishSection()
    inventory: InventorySection = InventorySection()
    accelerators: list[AcceleratorSection] = Field(min_length=1, max_length=MAX_ACCELERATOR_TYPES)
    pue: PueSection
    latency_probe: LatencyProbeSection = LatencyProbeSection()
    broker: BrokerSection = BrokerSection()
    metrics: MetricsSection = MetricsSection()
    tariff: TariffSection
    carbon: CarbonSection
    latency_ms: dict[str, Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)]] = Field(
        default_factory=dict
    )

    @field_validator("accelerators")
    @classmethod
    def _unique_models(cls, value: list[AcceleratorSection]) -> list[AcceleratorSection]:
        models = [a.model for a in value]
        if len(set(models)) != len(models):
            raise ValueError("each accelerator model may appear once")
        return value

    @field_validator("latency_probe")
    @classmethod
    def _probed_regions(
        cls, value: LatencyProbeSection, info: ValidationInfo
    ) -> LatencyProbeSection:
        site = info.data.get("site")
        if site is None:  # [site] is refused already
            return value
        targets = _by_region(value.targets, site.regions, "targets")
        return value if targets == value.targets else value.model_copy(update={"targets": targets})

    @field_validator("latency_ms")
    @classmethod
    def _finite(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        if any(not math.isfinite(v) for v in value.values()):
            raise ValueError("latencies must be finite")
        site = info.data.get("site")
        return value if site is None else _by_region(value, site.regions)

    @model_validator(mode="after")
    def _some_region(self) -> SiteConfig:
        if not self.latency_ms and not self.latency_probe.targets:
            raise ValueError("give [latency_ms] values or [latency_probe] targets for a region")
        regions = set(self.latency_ms) | set(self.latency_probe.targets)
        if "" in regions or len(regions) > MAX_REGIONS:
            raise ValueError(
                f"[latency_ms] and [latency_probe] targets name 1 to {MAX_REGIONS} regions, "
                "none of them empty"
            )
        return self


def _by_region(values: dict[str, T], regions: tuple[str, ...], *keys: str) -> dict[str, T]:
    """``values`` keyed by each key's region as ``regions`` spells it (``JJJ`` is ``jjj``);
    a key naming no region is refused by name."""
    out: dict[str, T] = {}
    for key, value in values.items():
        try:
            region = canonical_region(key, regions)
        except UnknownNameError as exc:
            raise NestedValueError((*keys, key), f"{exc} (as [site] regions says)") from exc
        if region in out:
            raise NestedValueError((*keys, key), f"region {region} is given twice")
        out[region] = value
    return out


def load_site_config(path: str | Path) -> SiteConfig:
    """Read and validate a site config; errors name the key and line."""
    return load_toml(path, SiteConfig)


def load_site_configs(folder: Path) -> list[SiteConfig]:
    """Every ``*.toml`` site config in ``folder``, sorted by file name."""
    return [load_site_config(p) for p in sorted(folder.glob("*.toml"))]
