"""The HTTP ``/metrics`` endpoint both daemons (router and site agent) serve."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server


class MetricsServer:
    """A running ``/metrics`` endpoint."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        """The port the server listens on (the one chosen when asked for 0)."""
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop serving and wait for the server thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve_metrics(
    registry: CollectorRegistry, port: int, address: str = "0.0.0.0"
) -> MetricsServer:
    """Serve ``registry`` on ``address:port`` (0 picks a free port) until closed."""
    server, thread = start_http_server(port, addr=address, registry=registry)
    return MetricsServer(server, thread)


def chosen_port(flag: int | None, no_metrics: bool, configured: int | None) -> int | None:
    """The metrics port a daemon serves on, the same rule for router and agent:
    ``--no-metrics`` off, else ``--metrics-port`` (0: any free port), else the config's
    ``[metrics] port`` (none: off). Raises ``ValueError`` naming the flag when both flags
    are given or the port is out of range."""
    if no_metrics and flag is not None:
        raise ValueError("--metrics-port and --no-metrics: give one of them")
    if flag is not None and not 0 <= flag <= 65535:
        raise ValueError(f"--metrics-port: {flag} is not a port (0 to 65535)")
    if no_metrics:
        return None
    return configured if flag is None else flag
