"""The agent's Prometheus metrics (served on ``[metrics] port`` when it is set)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from netrouter.contract.metrics_server import MetricsServer, serve_metrics

__all__ = ["AgentMetrics", "MetricsServer"]


class AgentMetrics:
    """Counters and timings of one agent, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reports_sent = Counter(
            "netrouter_agent_reports_sent",
            "Reports published to the broker.",
            ["trigger"],
            registry=self.registry,
        )
        self.publish_failures = Counter(
            "netrouter_agent_publish_failures",
            "Broker connections lost or refused, and publishes that failed.",
            registry=self.registry,
        )
        self.collector_failures = Counter(
            "netrouter_agent_collector_failures",
            "Reports skipped because a collector had nothing to report.",
            ["collector"],
            registry=self.registry,
        )
        self.collector_seconds = Histogram(
            "netrouter_agent_collector_seconds",
            "Time to read each collector.",
            ["collector"],
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0),
            registry=self.registry,
        )
        self.connected = Gauge(
            "netrouter_agent_connected",
            "1 while the agent is connected to the broker.",
            registry=self.registry,
        )
        self.sequence = Gauge(
            "netrouter_agent_sequence",
            "Sequence number of the last report published.",
            registry=self.registry,
        )

    @contextlib.contextmanager
    def timed(self, collector: str) -> Iterator[None]:
        """Record how long the ``with`` body (one collector read) takes."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.collector_seconds.labels(collector).observe(time.perf_counter() - start)

    def serve(self, port: int, address: str = "0.0.0.0") -> MetricsServer:
        """Serve ``/metrics`` on ``address:port`` (0 picks a free port) until closed."""
        return serve_metrics(self.registry, port, address)
