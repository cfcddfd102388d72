"""Prometheus metrics of the router (served by :mod:`netrouter.contract.metrics_server`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from netrouter.client.types import PlacementEvent, SiteView

T = TypeVar("T")


def _read_racily(read: Callable[[], T]) -> T:
    """Call ``read`` from the scrape thread; retry if the event loop changed a dict under it."""
    for _ in range(4):
        try:
            return read()
        except RuntimeError:  # "dictionary changed size during iteration"
            continue
    return read()


class _Live(Collector):
    """Values read at scrape time: site freshness and rejected reports."""

    def __init__(
        self,
        sites: Callable[[], Sequence[SiteView]],
        rejected: Callable[[], Mapping[str, int]],
    ) -> None:
        self._sites = sites
        self._rejected = rejected

    def collect(self) -> Iterable[Metric]:
        age = GaugeMetricFamily(
            "netrouter_site_report_age_seconds",
            "Age of each site's latest report.",
            labels=["site"],
        )
        up = GaugeMetricFamily(
            "netrouter_site_up", "1 when the site may receive work.", labels=["site"]
        )
        free = GaugeMetricFamily(
            "netrouter_site_free_devices",
            "Devices free for placement, per site and model.",
            labels=["site", "model"],
        )
        agents = GaugeMetricFamily(
            "netrouter_site_agents",
            "Agents speaking for each site now (boot ids); above 1: a duplicate agent.",
            labels=["site"],
        )
        whole = GaugeMetricFamily(
            "netrouter_site_free_whole_nodes",
            "Nodes with every device free, per site and model (where the site reports its "
            "node shape).",
            labels=["site", "model"],
        )
        not_running = GaugeMetricFamily(
            "netrouter_site_placements_not_running",
            "Our placements the site has not shown running past the grace (where its agent "
            "sees placement ids).",
            labels=["site"],
        )
        unknown = GaugeMetricFamily(
            "netrouter_site_unknown_running",
            "Work the site shows running under placement ids the router does not know.",
            labels=["site"],
        )
        for view in _read_racily(self._sites):
            age.add_metric([view.site_id], view.report_age_s)
            up.add_metric([view.site_id], 1.0 if view.up else 0.0)
            agents.add_metric([view.site_id], len(view.agents))
            for a in view.accelerators:
                free.add_metric([view.site_id, a.model], a.free)
                if a.node_size:
                    whole.add_metric([view.site_id, a.model], a.whole_nodes)
            if view.sees_placements:
                not_running.add_metric([view.site_id], len(view.not_running))
                unknown.add_metric([view.site_id], len(view.unknown_running))
        rejected = CounterMetricFamily(
            "netrouter_reports_rejected",
            "Site reports and status messages dropped, by reason.",
            labels=["reason"],
        )
        for reason, n in _read_racily(self._rejected).items():
            rejected.add_metric([reason], n)
        return [age, up, agents, free, whole, not_running, unknown, rejected]


class RouterMetrics:
    """Placements, solve times, site freshness and rejected reports, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "netrouter_placement_events",
            "Committed placement events (placed, queued, started, moved, requeued, released,"
            " evicted).",
            ["kind"],
            registry=self.registry,
        )
        self.solve_seconds = Histogram(
            "netrouter_solve_seconds",
            "Time to decide a placement batch, by method.",
            ["method"],
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0),
            registry=self.registry,
        )
        self.active = Gauge(
            "netrouter_active_placements", "Active placements.", registry=self.registry
        )
        self.queued = Gauge(
            "netrouter_queued_workloads",
            "Workloads waiting in the queue for capacity.",
            registry=self.registry,
        )

    def watch_live(
        self,
        sites: Callable[[], Sequence[SiteView]],
        rejected: Callable[[], Mapping[str, int]],
    ) -> None:
        """Read site freshness and rejected-report counts at every scrape."""
        self.registry.register(_Live(sites, rejected))

    def committed(self, events: Sequence[PlacementEvent], active: int, queued: int = 0) -> None:
        for event in events:
            self.events.labels(event.kind).inc()
        self.active.set(active)
        self.queued.set(queued)

    def solved(self, method: str, seconds: float) -> None:
        self.solve_seconds.labels(method).observe(seconds)
