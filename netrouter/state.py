"""The router's live view of the sites and of the network between regions and sites."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import networkx as nx

from netrouter.reports import ReportRejectedError
from netrouter.types import SiteReport
from netrouter.wire import STATUS_OFFLINE, STATUS_ONLINE

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SiteEntry:
    """What the router last heard from one site."""

    site_id: str
    report: SiteReport | None = None
    received_at: float = 0.0
    status: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Liveness:
    """Whether a site may receive work now, and if not, why."""

    up: bool
    reason: str
    age_s: float


class SiteRegistry:
    """Latest accepted report and status per site; decides up/down; holds the network graph.

    A site is up when its last status is not ``offline`` and its report is younger than
    its TTL (``ttl_intervals`` × the agent's reporting period, at least ``min_ttl_s``).
    """

    def __init__(
        self,
        *,
        ttl_intervals: float = 3.0,
        min_ttl_s: float = 5.0,
        max_clock_skew_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ttl_intervals = ttl_intervals
        self._min_ttl_s = min_ttl_s
        self._max_skew_s = max_clock_skew_s
        self._clock = clock
        self._sites: dict[str, SiteEntry] = {}
        self._graph: nx.Graph | None = None

    def apply_report(self, report: SiteReport, *, live: bool = True) -> None:
        """Accept a validated report unless it is older than what we hold.

        A ``live`` report (published while we are subscribed, not a retained replay) proves
        the agent is alive, so it clears an ``offline`` heard before it: a late last will of
        a previous connection must not keep a reporting site down.
        """
        now = self._clock()
        if report.timestamp > now + self._max_skew_s:
            raise ReportRejectedError(
                "future_timestamp",
                f"{report.site_id}: stamped {report.timestamp - now:.0f} s ahead of the router",
            )
        entry = self._sites.setdefault(report.site_id, SiteEntry(site_id=report.site_id))
        held = entry.report
        if held is not None:
            if report.boot_id == held.boot_id and report.sequence <= held.sequence:
                raise ReportRejectedError(
                    "stale_sequence",
                    f"{report.site_id}: sequence {report.sequence} <= held {held.sequence}",
                )
            if report.boot_id != held.boot_id and report.timestamp < held.timestamp:
                raise ReportRejectedError(
                    "stale_sequence", f"{report.site_id}: report of an older boot {report.boot_id}"
                )
        was_up = self.liveness(report.site_id).up
        entry.report = report
        entry.received_at = now
        if live and entry.status == STATUS_OFFLINE:
            log.info("site %s reports again after 'offline'", report.site_id)
            entry.status = STATUS_ONLINE
        self._graph = None
        if not was_up and self.liveness(report.site_id).up:
            log.info("site %s is up", report.site_id)

    def apply_status(self, site_id: str, text: str) -> None:
        """Record ``online`` / ``offline`` from the status topic (offline = the last will)."""
        if text not in (STATUS_ONLINE, STATUS_OFFLINE):
            raise ReportRejectedError("bad_status", f"{site_id}: status {text[:32]!r}")
        entry = self._sites.setdefault(site_id, SiteEntry(site_id=site_id))
        if entry.status != text:
            log.info("site %s status %s", site_id, text)
        entry.status = text

    def ttl_s(self, report: SiteReport) -> float:
        """How long a report of this site stays fresh."""
        return max(self._min_ttl_s, self._ttl_intervals * report.report_interval_s)

    def liveness(self, site_id: str) -> Liveness:
        """Up or down, with the reason, judged now."""
        entry = self._sites.get(site_id)
        if entry is None or entry.report is None:
            return Liveness(up=False, reason="no report yet", age_s=float("inf"))
        now = self._clock()
        # Age from our receipt, unless the agent's own stamp says the report was already old
        # when it arrived (a retained report of a dead agent), beyond the clock-skew allowance.
        fresh_at = min(entry.received_at, entry.report.timestamp + self._max_skew_s)
        age = max(0.0, now - fresh_at)
        if entry.status == STATUS_OFFLINE:
            return Liveness(up=False, reason="agent offline (last will)", age_s=age)
        ttl = self.ttl_s(entry.report)
        if age > ttl:
            return Liveness(
                up=False, reason=f"report stale ({age:.0f} s > TTL {ttl:.0f} s)", age_s=age
            )
        return Liveness(up=True, reason="", age_s=age)

    def reports(self) -> list[SiteReport]:
        """The latest accepted report of every site, sorted by site id."""
        return [e.report for _, e in sorted(self._sites.items()) if e.report is not None]

    def up_reports(self) -> list[SiteReport]:
        """Reports of the sites that are up now."""
        return [r for r in self.reports() if self.liveness(r.site_id).up]

    # --- network model -----------------------------------------------------------------

    def graph(self) -> nx.Graph:
        """Regions and sites joined by their reported round-trip latencies."""
        if self._graph is None:
            g = nx.Graph()
            for r in self.reports():
                g.add_node(("site", r.site_id))
                for lat in r.latencies:
                    g.add_edge(("region", lat.region), ("site", r.site_id), rtt_ms=lat.rtt_ms)
            self._graph = g
        return self._graph

    def latency_ms(
        self, regions: Iterable[str], site_ids: Iterable[str]
    ) -> dict[str, dict[str, float]]:
        """Per site, the RTT from each region: the reported value, else the shortest path."""
        g = self.graph()
        sites = list(site_ids)
        table: dict[str, dict[str, float]] = {s: {} for s in sites}
        for region in set(regions):
            node = ("region", region)
            if node not in g:
                continue
            dist = nx.single_source_dijkstra_path_length(g, node, weight="rtt_ms")
            for s in sites:
                if ("site", s) in dist:
                    direct = g.get_edge_data(node, ("site", s))
                    table[s][region] = direct["rtt_ms"] if direct else dist[("site", s)]
        return table
