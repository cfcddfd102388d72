"""MQTT ingestion: subscribe to site reports and status, validate, apply; reconnect forever."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Callable

import aiomqtt

from netrouter.contract.backoff import Backoff
from netrouter.contract.broker import BrokerAddress, mqtt_client
from netrouter.contract.site_report import ReportRejectedError, decode_report
from netrouter.contract.topics import (
    DEFAULT_TOPICS,
    SITE_ID_PATTERN,
    STATUS_OFFLINE,
    AgentStatus,
    Topics,
)
from netrouter.router.state import SiteRegistry

log = logging.getLogger(__name__)

WILL_GRACE_S = 0.25
"""How long a live last will waits for a sign of life (or for our own connection to drop,
as it does right after a shutting-down broker publishes every agent's will) before its
site's work moves: part of the failover time, so short."""


def handled_on_arrival(
    handle: Callable[[aiomqtt.Message], None],
) -> type[asyncio.Queue[aiomqtt.Message]]:
    """An incoming-message queue class for aiomqtt that hands each message to ``handle`` as
    it is decoded, keeping none.

    Handling a report is short and never waits, so it runs in the socket's read callback:
    nothing queues in the router (its memory is bounded by the sites, whatever the backlog)
    and no task is made per message. A backlog waits in the socket and the broker, which
    applies its own per-client limits; a site's next report supersedes any it dropped.
    """

    class HandledOnArrival(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            handle(item)

    return HandledOnArrival


class Telemetry:
    """Feeds accepted reports and status changes into a :class:`SiteRegistry`.

    Rejected messages are counted by reason in :attr:`rejected`, logged and dropped.

    An ``offline`` holds its site down at once (no new work) but fails it over only when
    the agent has shown no life for a grace: ``will_grace_s`` for a live will, and for a
    retained one (old news, of unknown age) until the agent goes silent. A live will is
    set aside when our own connection drops within its grace: a broker that shuts down
    publishes every agent's will and then drops us, and those wills say nothing about the
    agents. So is a retained ``offline`` replayed when we reconnect, for an agent we hold
    as online (a persistent broker stored those wills); if that agent did die, its TTL
    takes the site down. While we are cut off from the broker, no TTL runs
    (:meth:`SiteRegistry.broker_lost`), and on reconnection each site starts a fresh one.
    """

    def __init__(
        self,
        registry: SiteRegistry,
        broker: BrokerAddress,
        *,
        topics: Topics = DEFAULT_TOPICS,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        will_grace_s: float = WILL_GRACE_S,
    ) -> None:
        self.registry = registry
        self.broker = broker
        self.topics = topics
        self.will_grace_s = will_grace_s
        self.sessions = 0
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self._backoff = Backoff(backoff_initial_s, backoff_max_s)
        self._queue_type = handled_on_arrival(self._on_message)

    def _on_message(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        raw = bytes(payload) if isinstance(payload, bytes | bytearray) else b""
        try:
            self.handle(str(message.topic), raw, retained=message.retain)
        except Exception:
            # Ingestion must outlive any bug in one message's handling; say so loudly.
            self.rejected["internal_error"] += 1
            log.exception("failed handling a message on %s; dropped", str(message.topic)[:128])

    async def run(self) -> None:
        """Subscribe and apply messages until cancelled, reconnecting with backoff."""
        while True:
            try:
                async with mqtt_client(self.broker, queue_type=self._queue_type) as client:
                    # Reports at QoS 0: each is a state the next supersedes, retained by the
                    # broker and replayed on every subscription, so a redelivery guarantee
                    # buys nothing (our session is clean) and its PUBACK costs a write per
                    # report. A status (the last will) keeps QoS 1.
                    topics = self.topics
                    await client.subscribe([(topics.report_filter, 0), (topics.status_filter, 1)])
                    log.info(
                        "subscribed to site reports on %s under %s", self.broker.url, topics.prefix
                    )
                    self.sessions += 1
                    self.registry.broker_connected()
                    self._backoff.reset()
                    # Messages are handled as they arrive (handled_on_arrival); this only
                    # waits for the connection to drop.
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError as exc:
                self.registry.broker_lost()
                wait = self._backoff.next_wait()
                log.warning("MQTT %s: %s; reconnecting in %.1f s", self.broker.url, exc, wait)
                await asyncio.sleep(wait)
            except Exception:
                # Ingestion must outlive any bug in one message's handling; say so loudly.
                wait = self._backoff.next_wait()
                log.exception("MQTT ingestion failed; restarting in %.1f s", wait)
                await asyncio.sleep(wait)

    def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> bool:
        """Apply one message; return whether it was accepted."""
        parsed = self.topics.parse(topic)
        try:
            if parsed is None:
                raise ReportRejectedError("bad_topic", topic[:128])
            site_id, kind = parsed
            if not SITE_ID_PATTERN.match(site_id):
                # Checked here for the status topic too, so no junk id ever gets an entry.
                raise ReportRejectedError("bad_topic", f"site id {site_id[:64]!r}")
            if kind == "status":
                try:
                    status = AgentStatus.parse(payload)
                except ValueError as exc:
                    raise ReportRejectedError("bad_status", f"{site_id}: {exc}") from exc
                self.registry.apply_status(
                    site_id,
                    status,
                    live=not retained,
                    grace_s=math.inf if retained else self.will_grace_s,
                    replay=retained and self.sessions > 1 and status.state == STATUS_OFFLINE,
                )
            else:
                self.registry.apply_report(decode_report(site_id, payload), live=not retained)
        except ReportRejectedError as exc:
            self.rejected[exc.reason] += 1
            log.warning("dropped message on %s: %s", topic[:128], exc)
            return False
        self.accepted += 1
        return True
