"""The agent's publishing loop: retained report + online status, last will ``offline``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

import aiomqtt

from netrouter.contract.backoff import Backoff
from netrouter.contract.broker import BrokerAddress, mqtt_client
from netrouter.contract.topics import STATUS_OFFLINE, STATUS_ONLINE, AgentStatus, Topics
from netrouter.v1 import site_report_pb2 as rpb
from site_agents.collectors import CollectorError
from site_agents.config import SiteConfig
from site_agents.metrics import AgentMetrics
from site_agents.report import ReportBuilder, Sources, significant_change

log = logging.getLogger(__name__)

KEEPALIVE_S = 5
"""The MQTT keepalive: a connection cut without a word (a network path gone) is noticed by
the agent within about this long, and the broker publishes the will within 1.5× of it."""


class SiteAgent:
    """Publishes one site's report every ``publish.interval_s`` until stopped.

    Collectors are read every ``publish.check_interval_s``; a significant change (capacity,
    health, price band) is published at once instead of at the next period. Never exits on
    a broker outage: it notices a lost connection at once (the broker closing it) or within
    the keepalive, reconnects with exponential backoff and jitter (each wait at most
    ``backoff_max_s``), and publishes ``online`` and a fresh report on every (re)connection.
    On a clean stop it publishes ``offline`` itself; on a crash the broker publishes the
    will. Both carry the agent's boot id, so they speak for this agent only.

    The agent listens to its own site's status: an ``offline`` it did not send (a stray
    second agent's will, a broker that thought it dead) is answered with ``online`` at once,
    so the site's retained status is this agent's.

    Each publish is logged at DEBUG. Every ``publish.summary_interval_s`` (by ``clock``) one
    INFO line says whether the agent is connected, how many reports it sent since the last
    such line and in all, and its last error, so an operator sees reports flowing in the
    agent's own log.
    """

    def __init__(
        self,
        config: SiteConfig,
        broker: BrokerAddress,
        *,
        sources: Sources | None = None,
        metrics: AgentMetrics | None = None,
        topics: Topics | None = None,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.broker = broker
        self.topics = topics or Topics(config.broker.topic_prefix)
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
        self.answered_offline = 0
        """``offline`` messages for this site that the agent did not send and answered."""
        self.last_error: str | None = None
        """The last thing that went wrong (a broker outage, a collector with nothing)."""
        self._last_error_at = 0.0
        self._clock = clock
        self._summary_at = clock()
        self._summary_published = 0

    @property
    def site_id(self) -> str:
        """The id of the site this agent speaks for."""
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
                self._error(f"MQTT {exc}")
                log.warning("agent %s: MQTT %s; retrying in %.1f s", self.site_id, exc, wait)
                self.summarise_if_due()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
        self.metrics.connected.set(0)

    def _error(self, what: str) -> None:
        self.last_error = what
        self._last_error_at = self._clock()

    def summarise_if_due(self) -> str | None:
        """Log the summary line at INFO when ``publish.summary_interval_s`` has passed since
        the last one; returns the line, or None when it is not due (or summaries are off)."""
        every = self.config.publish.summary_interval_s
        now = self._clock()
        if not every or now - self._summary_at < every:
            return None
        sent = self.published - self._summary_published
        if self.last_error is None:
            error = "none"
        else:
            error = f"{_ago(now - self._last_error_at)} ago: {self.last_error}"
        line = (
            f"agent {self.site_id}: "
            + (f"connected to {self.broker.url}" if self._connected else "not connected")
            + f"; {sent} report{'s' * (sent != 1)} sent in the last {_ago(now - self._summary_at)}"
            f", {self.published} in all"
            + (f" (last sequence {self._last.sequence})" if self._last is not None else "")
            + f"; last error: {error}"
        )
        log.info("%s", line)
        self._summary_at = now
        self._summary_published = self.published
        return line

    async def _session(self, stop: asyncio.Event) -> None:
        """One broker connection: online, reports until ``stop``, then offline."""
        check = self.config.publish.check_s
        status_topic = self.topics.status(self.site_id)
        online = AgentStatus(STATUS_ONLINE, self.builder.boot_id).payload
        offline = AgentStatus(STATUS_OFFLINE, self.builder.boot_id).payload
        will = aiomqtt.Will(status_topic, offline, qos=1, retain=True)
        async with mqtt_client(
            self.broker,
            identifier=f"netrouter-agent-{self.site_id}-{self.builder.boot_id[:8]}",
            will=will,
            keepalive=KEEPALIVE_S,
        ) as client:
            self._connected = True  # from here a stop says goodbye instead of cancelling
            await client.publish(status_topic, online, qos=1, retain=True)
            await client.subscribe(status_topic, qos=1)
            self._backoff.reset()
            self._last = None  # a restarted broker may have lost the retained report
            self.connections += 1
            self.metrics.connected.set(1)
            log.info(
                "agent %s (boot %s) connected to %s under %s",
                self.site_id,
                self.builder.boot_id,
                self.broker.url,
                self.topics.prefix,
            )
            # The listener ends (raising MqttError) the moment the connection drops.
            listener = asyncio.create_task(self._listen(client, online), name="status-listener")
            try:
                while not stop.is_set():
                    await self.tick(client)
                    self.summarise_if_due()
                    stopped = asyncio.create_task(stop.wait())
                    await asyncio.wait(
                        {stopped, listener}, timeout=check, return_when=asyncio.FIRST_COMPLETED
                    )
                    stopped.cancel()
                    if listener.done():
                        await listener  # raises what ended it
                        raise aiomqtt.MqttError("the broker ended the message stream")
            finally:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await listener
            await client.publish(status_topic, offline, qos=1, retain=True)
            self._connected = False
            log.info("agent %s stopped, published offline", self.site_id)

    async def _listen(self, client: aiomqtt.Client, online: str) -> None:
        """Answer every ``offline`` on this site's status topic with ``online``: while this
        agent runs, nobody else's word takes its site down."""
        async for message in client.messages:
            payload = message.payload
            raw = bytes(payload) if isinstance(payload, bytes | bytearray) else b""
            try:
                status = AgentStatus.parse(raw)
            except ValueError:
                continue
            if status.state != STATUS_OFFLINE:
                continue
            sender = f"agent {status.boot_id}" if status.boot_id else "someone"
            log.warning(
                "agent %s: %s published 'offline' for this site; answering 'online'",
                self.site_id,
                sender,
            )
            self.answered_offline += 1
            await client.publish(self.topics.status(self.site_id), online, qos=1, retain=True)

    async def tick(self, client: aiomqtt.Client) -> str | None:
        """Read the collectors; publish when the period is up or something significant
        changed. Returns why it published, or None."""
        try:
            report = await asyncio.to_thread(self.builder.collect)
        except CollectorError as exc:
            self.metrics.collector_failures.labels(exc.collector).inc()
            self._error(str(exc))
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
            self.topics.report(self.site_id), report.SerializeToString(), qos=1, retain=True
        )
        self._last = report
        self._last_sent = time.monotonic()
        self.published += 1
        self.metrics.reports_sent.labels(trigger).inc()
        self.metrics.sequence.set(report.sequence)
        log.debug(
            "agent %s: published report %d (%s) on %s",
            self.site_id,
            report.sequence,
            trigger,
            self.topics.report(self.site_id),
        )
        if trigger not in {"period", "first"}:
            log.info(
                "agent %s: %s changed, published report %d", self.site_id, trigger, report.sequence
            )


def _ago(seconds: float) -> str:
    """A span as the summary line says it: seconds under 2 minutes, then minutes, then hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
