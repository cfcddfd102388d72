"""The agent's publishing loop: retained report + online status, last will ``offline``."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiomqtt

from netrouter.wire import (
    STATUS_OFFLINE,
    STATUS_ONLINE,
    Backoff,
    BrokerAddress,
    mqtt_client,
    report_topic,
    status_topic,
)
from site_agents.config import SiteConfig
from site_agents.report import ReportBuilder, Sources

log = logging.getLogger(__name__)

MAX_KEEPALIVE_S = 600
"""Cap on the MQTT keepalive: the broker publishes the will within 1.5× of it."""


class SiteAgent:
    """Publishes one site's report every ``publish.interval_s`` until stopped.

    Never exits on a broker outage: it reconnects with exponential backoff and jitter. On a
    clean stop it publishes ``offline`` itself; on a crash the broker publishes the will.
    """

    def __init__(
        self,
        config: SiteConfig,
        broker: BrokerAddress,
        *,
        sources: Sources | None = None,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
    ) -> None:
        self.config = config
        self.broker = broker
        self.builder = ReportBuilder(config, sources)
        self.published = 0
        self._backoff = Backoff(backoff_initial_s, backoff_max_s)

    @property
    def site_id(self) -> str:
        return self.config.site.id

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Publish until ``stop`` is set (or forever), then publish ``offline``."""
        stop = stop or asyncio.Event()
        interval = self.config.publish.interval_s
        will = aiomqtt.Will(status_topic(self.site_id), STATUS_OFFLINE, qos=1, retain=True)
        while not stop.is_set():
            try:
                async with mqtt_client(
                    self.broker,
                    identifier=f"netrouter-agent-{self.site_id}-{self.builder.boot_id[:8]}",
                    will=will,
                    keepalive=min(MAX_KEEPALIVE_S, max(5, round(3 * interval))),
                ) as client:
                    await client.publish(
                        status_topic(self.site_id), STATUS_ONLINE, qos=1, retain=True
                    )
                    self._backoff.reset()
                    log.info("agent %s connected to %s", self.site_id, self.broker.url)
                    while not stop.is_set():
                        await self.publish_once(client)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), interval)
                    await client.publish(
                        status_topic(self.site_id), STATUS_OFFLINE, qos=1, retain=True
                    )
                    log.info("agent %s stopped, published offline", self.site_id)
            except aiomqtt.MqttError as exc:
                wait = self._backoff.next_wait()
                log.warning("agent %s: MQTT %s; retrying in %.1f s", self.site_id, exc, wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)

    async def publish_once(self, client: aiomqtt.Client) -> None:
        """Build and publish one retained report."""
        report = self.builder.build()
        await client.publish(
            report_topic(self.site_id), report.SerializeToString(), qos=1, retain=True
        )
        self.published += 1
