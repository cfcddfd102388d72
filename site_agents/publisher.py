"""The agent's publishing loop: retained report + online status, last will ``offline``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time

import aiomqtt

from netrouter.v1 import site_report_pb2 as rpb
from netrouter.wire import (
    STATUS_OFFLINE,
    STATUS_ONLINE,
    Backoff,
    BrokerAddress,
    mqtt_client,
    report_topic,
    status_topic,
)
from site_agents.collectors import CollectorError
from site_agents.config import SiteConfig
from site_agents.metrics import AgentMetrics
from site_agents.report import ReportBuilder, Sources, significant_change

log = logging.getLogger(__name__)

MAX_KEEPALIVE_S = 600
"""Cap on the MQTT keepalive: the broker publishes the will within 1.5× of it."""


class SiteAgent:
    """Publishes one site's report every ``publish.interval_s`` until stopped.

    Collectors are read every ``publish.check_interval_s``; a significant change (capacity,
    health, price band) is published at once instead of at the next period. Never exits on
    a broker outage: it reconnects with exponential backoff and jitter, and publishes a
    fresh report on every (re)connection. On a clean stop it publishes ``offline`` itself;
    on a crash the broker publishes the will.
    """

    def __init__(
        self,
        config: SiteConfig,
        broker: BrokerAddress,
        *,
        sources: Sources | None = None,
        metrics: AgentMetrics | None = None,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
    ) -> None:
        self.config = config
        self.broker = broker
        self.metrics = metrics or AgentMetrics()
        self.builder = ReportBuilder(
            config,
            sources or Sources.from_config(config, background_probes=True),
            metrics=self.metrics,
        )
        self.published = 0
        self.connections = 0
        self._backoff = Backoff(backoff_initial_s, backoff_max_s)
        self._last: rpb.SiteReport | None = None
        self._last_sent = -math.inf
        self._failing_collector: str | None = None
        self._connected = False

    @property
    def site_id(self) -> str:
        return self.config.site.id

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Publish until ``stop`` is set (or forever), then publish ``offline``."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            session = asyncio.create_task(self._session(stop))
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({session, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not session.done() and not self._connected:
                session.cancel()  # stop while still connecting: nothing to say goodbye on
            try:
                await session
            except asyncio.CancelledError:
                if not session.cancelled():
                    raise
            except (aiomqtt.MqttError, OSError) as exc:  # OSError: TLS files, sockets
                self._connected = False
                self.metrics.connected.set(0)
                self.metrics.publish_failures.inc()
                wait = self._backoff.next_wait()
                log.warning("agent %s: MQTT %s; retrying in %.1f s", self.site_id, exc, wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
        self.metrics.connected.set(0)

    async def _session(self, stop: asyncio.Event) -> None:
        """One broker connection: online, reports until ``stop``, then offline."""
        publish = self.config.publish
        check = publish.check_s
        will = aiomqtt.Will(status_topic(self.site_id), STATUS_OFFLINE, qos=1, retain=True)
        async with mqtt_client(
            self.broker,
            identifier=f"netrouter-agent-{self.site_id}-{self.builder.boot_id[:8]}",
            will=will,
            keepalive=min(MAX_KEEPALIVE_S, max(5, round(3 * publish.interval_s))),
        ) as client:
            self._connected = True  # from here a stop says goodbye instead of cancelling
            await client.publish(status_topic(self.site_id), STATUS_ONLINE, qos=1, retain=True)
            self._backoff.reset()
            self._last = None  # a restarted broker may have lost the retained report
            self.connections += 1
            self.metrics.connected.set(1)
            log.info("agent %s connected to %s", self.site_id, self.broker.url)
            while not stop.is_set():
                await self.tick(client)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), check)
            await client.publish(status_topic(self.site_id), STATUS_OFFLINE, qos=1, retain=True)
            self._connected = False
            log.info("agent %s stopped, published offline", self.site_id)

    async def tick(self, client: aiomqtt.Client) -> str | None:
        """Read the collectors; publish when the period is up or something significant
        changed. Returns why it published, or None."""
        try:
            report = await asyncio.to_thread(self.builder.collect)
        except CollectorError as exc:
            self.metrics.collector_failures.labels(exc.collector).inc()
            if exc.collector != self._failing_collector:
                log.error("agent %s: not reporting: %s", self.site_id, exc)
            self._failing_collector = exc.collector
            return None
        if self._failing_collector is not None:
            log.info("agent %s: %s works again, reporting", self.site_id, self._failing_collector)
            self._failing_collector = None
        trigger = significant_change(self._last, report)
        if trigger is None:
            if time.monotonic() - self._last_sent < self.config.publish.interval_s:
                return None
            trigger = "period"
        await self.publish(client, report, trigger)
        return trigger

    async def publish(self, client: aiomqtt.Client, report: rpb.SiteReport, trigger: str) -> None:
        """Number and publish one retained report."""
        self.builder.number(report)
        await client.publish(
            report_topic(self.site_id), report.SerializeToString(), qos=1, retain=True
        )
        self._last = report
        self._last_sent = time.monotonic()
        self.published += 1
        self.metrics.reports_sent.labels(trigger).inc()
        self.metrics.sequence.set(report.sequence)
        if trigger not in {"period", "first"}:
            log.info(
                "agent %s: %s changed, published report %d", self.site_id, trigger, report.sequence
            )
