"""The agent's metrics: collector timings and counters, served over real HTTP."""

from __future__ import annotations

import urllib.request

import pytest

from site_agents.metrics import AgentMetrics


def test_timed_records_each_read_even_when_it_fails() -> None:
    metrics = AgentMetrics()
    with metrics.timed("inventory"):
        pass
    with pytest.raises(RuntimeError), metrics.timed("inventory"):
        raise RuntimeError("boom")
    value = metrics.registry.get_sample_value
    assert value("netrouter_agent_collector_seconds_count", {"collector": "inventory"}) == 2.0
    assert value("netrouter_agent_collector_seconds_count", {"collector": "pue"}) is None


def test_the_counters_are_served_on_metrics() -> None:
    metrics = AgentMetrics()
    metrics.reports_sent.labels("first").inc()
    metrics.reports_sent.labels("period").inc(2)
    metrics.connected.set(1)
    metrics.sequence.set(3)
    server = metrics.serve(0, "127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    finally:
        server.close()
    assert 'netrouter_agent_reports_sent_total{trigger="first"} 1.0' in text
    assert 'netrouter_agent_reports_sent_total{trigger="period"} 2.0' in text
    assert "netrouter_agent_connected 1.0" in text
    assert "netrouter_agent_sequence 3.0" in text
