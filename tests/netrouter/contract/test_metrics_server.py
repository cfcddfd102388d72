"""The /metrics endpoint: a real HTTP server on a free port, serving its registry, closed."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from netrouter.contract.metrics_server import chosen_port, serve_metrics


def test_the_registry_is_served_on_a_chosen_port_until_closed() -> None:
    registry = CollectorRegistry()
    counter = Counter("netrouter_test_things", "Things counted by the test.", registry=registry)
    counter.inc(3)
    server = serve_metrics(registry, 0, "127.0.0.1")
    try:
        assert server.port > 0
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            body = response.read().decode()
        assert "netrouter_test_things_total 3.0" in body
        counter.inc()
        with urllib.request.urlopen(url, timeout=10) as response:
            assert "netrouter_test_things_total 4.0" in response.read().decode()
    finally:
        server.close()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", server.port)) != 0


def test_the_metrics_port_rule_both_daemons_share() -> None:
    """--no-metrics is off, else the flag (0: any port), else the config; both flags, or a
    port out of range, are refused naming the flag."""
    assert chosen_port(None, False, 9464) == 9464
    assert chosen_port(0, False, 9464) == 0
    assert chosen_port(None, True, 9464) is None
    assert chosen_port(None, False, None) is None
    with pytest.raises(ValueError, match="give one of them"):
        chosen_port(9000, True, None)
    with pytest.raises(ValueError, match="--metrics-port: 70000 is not a port"):
        chosen_port(70000, False, None)
