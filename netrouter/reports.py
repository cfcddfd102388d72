"""Decode and validate MQTT site reports before anything is applied.

A report that fails here is counted by reason, logged and dropped by the caller; it never
touches state.
"""

from __future__ import annotations

import math

from google.protobuf.message import DecodeError

from netrouter.convert import report_from_pb
from netrouter.errors import RouterError
from netrouter.limits import (
    MAX_ACCELERATOR_TYPES,
    MAX_CARBON_KG_PER_KWH,
    MAX_DEVICES,
    MAX_LATENCY_MS,
    MAX_POWER_W,
    MAX_PRICE_YUAN_PER_KWH,
    MAX_PUE,
    MAX_REGIONS,
)
from netrouter.types import SiteReport
from netrouter.v1 import site_report_pb2 as rpb
from netrouter.wire import SITE_ID_PATTERN

MAX_REPORT_BYTES = 256 * 1024

PUE_MEAN_COVER_SLACK_S = 60.0
"""How far ``pue_mean_covered_s`` may exceed ``pue_mean_window_s`` (clock steps at the agent)."""


class ReportRejectedError(RouterError):
    """A report was refused; ``reason`` is a short stable label for metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _in_range(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ReportRejectedError("out_of_range", f"{name}={value} not in [{low}, {high}]")


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
        if not a.model or a.model in models:
            raise ReportRejectedError(
                "out_of_range", f"accelerator model {a.model!r} empty or repeated"
            )
        models.add(a.model)
        if not a.in_use_by_others <= a.healthy <= a.total <= MAX_DEVICES:
            raise ReportRejectedError(
                "out_of_range",
                f"{a.model}: need in_use_by_others <= healthy <= total <= {MAX_DEVICES}, got "
                f"{a.in_use_by_others}/{a.healthy}/{a.total}",
            )
        _in_range(f"{a.model}.power_w", a.power_w, 1.0, MAX_POWER_W)
    if len(r.latencies) > MAX_REGIONS:
        raise ReportRejectedError("out_of_range", f"{len(r.latencies)} latency regions")
    regions: set[str] = set()
    for lat in r.latencies:
        if not lat.region or lat.region in regions:
            raise ReportRejectedError(
                "out_of_range", f"latency region {lat.region!r} empty or repeated"
            )
        regions.add(lat.region)
        _in_range(f"latency[{lat.region}]", lat.rtt_ms, 0.0, MAX_LATENCY_MS)
