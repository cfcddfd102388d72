"""Site reports and running placements as solver input, shared by the live router and by
what-ifs (which rebuild the same input from a snapshot, changed by a scenario)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from netrouter.network import NetworkModel
from netrouter.types import Placement, SiteReport, Workload
from solver import Site

SECONDS_PER_HOUR = 3600.0
MIN_REMAINING_H = 1.0 / 60.0
"""Running work with less left than this still counts as this much when re-placed."""


def tariff_from_now(report: SiteReport, now: float) -> tuple[float, ...]:
    """The report's 24 hourly prices rotated so element 0 is the hour containing ``now``."""
    shift = math.floor(now / SECONDS_PER_HOUR) - math.floor(report.timestamp / SECONDS_PER_HOUR)
    prices = report.next_24h_yuan_per_kwh
    shift %= len(prices)
    return prices[shift:] + prices[:shift]


def hour_elapsed(now: float) -> float:
    """How far into its clock hour ``now`` is (0–1): where the tariff integration starts."""
    return (now % SECONDS_PER_HOUR) / SECONDS_PER_HOUR


def solver_sites(
    reports: Sequence[SiteReport],
    network: NetworkModel,
    *,
    fresh: Sequence[SiteReport],
    regions: Iterable[str],
    now: float,
    pue_cap_margins: Mapping[str, float] | None = None,
) -> tuple[Site, ...]:
    """The solver's view of ``reports`` at ``now`` (free capacity left empty).

    Latency from each region is the fresh measured value, else the backbone's shortest
    path; transfer prices follow the backbone path (:meth:`NetworkModel.paths`). Energy is
    priced at the PUE now; the hub's cap judges the sustained PUE (the report's mean, when
    it has one), a site over its cap by the margin it must come under (``pue_cap_margins``,
    by site id: see :mod:`netrouter.pue_policy`).
    """
    paths = network.paths(regions, fresh, [r.site_id for r in reports])
    margins = pue_cap_margins or {}
    return tuple(
        Site(
            id=r.site_id,
            pue=r.pue,
            sustained_pue=r.pue_mean or None,
            pue_cap_margin=margins.get(r.site_id, 0.0),
            hourly_price=tariff_from_now(r, now),
            carbon_kg_per_kwh=r.carbon_kg_per_kwh,
            latency_ms={region: p.latency_ms for region, p in paths[r.site_id].items()},
            free={},
            power_w={a.model: a.power_w for a in r.accelerators},
            side=r.labels.side,
            hub=r.labels.hub,
            province=r.labels.province,
            transfer_yuan_per_gb={region: p.yuan_per_gb for region, p in paths[r.site_id].items()},
        )
        for r in reports
    )


def report_regions(reports: Iterable[SiteReport]) -> set[str]:
    """Every demand region some report measures latency from."""
    return {lat.region for r in reports for lat in r.latencies}


def remaining_work(
    p: Placement, now: float, *, min_remaining_h: float, current_site: str | None = None
) -> Workload:
    """The rest of a running placement's work (at least ``min_remaining_h``), as a workload
    running at ``current_site`` (default: where it is)."""
    elapsed_h = max(0.0, now - p.created_at) / SECONDS_PER_HOUR
    remaining = max(min_remaining_h, p.workload.duration_h - elapsed_h)
    site = p.site_id if current_site is None else current_site
    return replace(p.workload, duration_h=remaining, current_site=site)
