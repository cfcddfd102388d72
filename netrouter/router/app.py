"""The router service assembled: store + live state + router + gRPC + MQTT ingestion."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from netrouter.client.types import Link, PlacementEvent
from netrouter.contract.broker import BrokerAddress
from netrouter.contract.metrics_server import MetricsServer, serve_metrics
from netrouter.contract.topics import DEFAULT_TOPICS, Topics
from netrouter.planning.network import NetworkModel
from netrouter.router.auth import ServerTls, TokenAuthInterceptor, TokenTable
from netrouter.router.core import Router, RouterSettings
from netrouter.router.metrics import RouterMetrics
from netrouter.router.pue_policy import DEFAULT_HYSTERESIS
from netrouter.router.service import MAX_RECEIVE_BYTES, start_server
from netrouter.router.state import STALE_GRACE_S, SiteRegistry
from netrouter.router.store import PlacementStore
from netrouter.router.telemetry import WILL_GRACE_S, Telemetry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeSettings:
    """Everything ``netrouter serve`` needs, parsed once at the entry point."""

    mqtt: BrokerAddress
    topics: Topics = DEFAULT_TOPICS
    listen: str = "127.0.0.1:50051"
    grpc_tls: ServerTls | None = None
    tokens: TokenTable | None = None
    max_receive_bytes: int = MAX_RECEIVE_BYTES
    db_path: Path = Path("netrouter.db")
    busy_timeout_ms: int = 5000
    """How long a write waits for another holder of the SQLite file before UNAVAILABLE."""
    ttl_intervals: float = 3.0
    min_ttl_s: float = 5.0
    hold_off_s: float = 30.0
    will_grace_s: float = WILL_GRACE_S
    stale_grace_s: float = STALE_GRACE_S
    """How long a silent site's work stays put before it moves."""
    pue_cap_hysteresis: float = DEFAULT_HYSTERESIS
    """A site over its hub's PUE cap takes work again at cap − this."""
    links: tuple[Link, ...] = ()
    router: RouterSettings = field(default_factory=RouterSettings)
    shutdown_grace_s: float = 5.0
    metrics_port: int | None = None
    metrics_address: str = "127.0.0.1"


class RouterApp:
    """``async with RouterApp(settings) as app``: a running router; ``app.target`` to dial it."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.store: PlacementStore | None = None
        self.registry = SiteRegistry(
            ttl_intervals=settings.ttl_intervals,
            min_ttl_s=settings.min_ttl_s,
            hold_off_s=settings.hold_off_s,
            stale_grace_s=settings.stale_grace_s,
            pue_cap_hysteresis=settings.pue_cap_hysteresis,
        )
        self.telemetry = Telemetry(
            self.registry,
            settings.mqtt,
            topics=settings.topics,
            will_grace_s=settings.will_grace_s,
        )
        self.router: Router | None = None
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._health: object | None = None
        self._ingest: asyncio.Task[None] | None = None
        self._metrics_server: MetricsServer | None = None
        self.metrics = RouterMetrics()

    @property
    def target(self) -> str:
        """``host:port`` a client can dial."""
        host = self.settings.listen.rsplit(":", 1)[0].strip("[]")
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"{host}:{self.port}"

    async def __aenter__(self) -> RouterApp:
        try:
            await self._start()
        except BaseException:
            await self._close()
            raise
        return self

    async def _start(self) -> None:
        # The store first and the broker last: a router refused its store (another router
        # holds it) or its port serves nothing and hears nothing.
        self.store = PlacementStore(
            self.settings.db_path, busy_timeout_ms=self.settings.busy_timeout_ms
        )
        self.registry.mark_removed(self.store.removed_sites())
        self.router = Router(
            registry=self.registry,
            store=self.store,
            settings=self.settings.router,
            network=NetworkModel(self.settings.links),
            on_commit=self._committed,
            on_solve=self.metrics.solved,
        )
        await self.router.start()
        self.metrics.committed((), self.router.active_count, self.router.queued_count)
        if self.settings.metrics_port is not None:
            router = self.router
            self.metrics.watch_live(
                lambda: router.site_views(), lambda: dict(self.telemetry.rejected)
            )
            self._metrics_server = serve_metrics(
                self.metrics.registry, self.settings.metrics_port, self.settings.metrics_address
            )
            log.info(
                "metrics on http://%s:%d/metrics", self.settings.metrics_address, self.metrics_port
            )
        settings = self.settings
        self._server, self.port, self._health = await start_server(
            self.router,
            settings.listen,
            credentials=settings.grpc_tls.credentials() if settings.grpc_tls else None,
            interceptors=[TokenAuthInterceptor(settings.tokens)] if settings.tokens else [],
            max_receive_bytes=settings.max_receive_bytes,
        )
        self._ingest = asyncio.create_task(self.telemetry.run(), name="mqtt-ingest")

    @property
    def metrics_port(self) -> int:
        """The metrics endpoint's port (0 when not serving metrics)."""
        return self._metrics_server.port if self._metrics_server is not None else 0

    def _committed(self, events: Sequence[PlacementEvent]) -> None:
        assert self.router is not None
        self.metrics.committed(events, self.router.active_count, self.router.queued_count)

    async def __aexit__(self, *exc: object) -> None:
        await self._close()
        log.info("router stopped")

    async def _close(self) -> None:
        """Stop whatever has started; the store, and with it the lock on its file, last."""
        # Health goes NOT_SERVING first so balancers stop sending, then in-flight calls finish.
        if self._health is not None:
            with contextlib.suppress(Exception):
                await self._health.enter_graceful_shutdown()  # type: ignore[attr-defined]
            self._health = None
        # A watch never finishes by itself: end each now (UNAVAILABLE, so its client resumes
        # at the next router) rather than hold the shutdown for the whole grace.
        if self.router is not None:
            self.router.end_watches()
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace_s)
            self._server = None
        if self.router is not None:
            await self.router.stop()
        if self._ingest is not None:
            self._ingest.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ingest
            self._ingest = None
        if self._metrics_server is not None:
            self._metrics_server.close()
            self._metrics_server = None
        if self.store is not None:
            self.store.close()
            self.store = None
