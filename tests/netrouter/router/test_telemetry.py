"""MQTT ingestion: each message is validated, applied or counted and dropped by reason."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from netrouter.contract.wire import DEFAULT_TOPICS, AgentStatus, BrokerAddress, Topics, mqtt_client
from netrouter.router.state import SiteRegistry
from netrouter.router.telemetry import Telemetry
from site_agents.report import ReportBuilder
from tests.factories import site_config, until

UNREACHABLE = BrokerAddress(host="127.0.0.1", port=1)


def _telemetry(clock: list[float], topics: Topics = DEFAULT_TOPICS) -> Telemetry:
    registry = SiteRegistry(min_ttl_s=10.0, clock=lambda: clock[0])
    return Telemetry(registry, UNREACHABLE, topics=topics, will_grace_s=1.0)


def _report_bytes(site_id: str, clock: list[float]) -> bytes:
    builder = ReportBuilder(site_config(site_id, interval_s=1.0), clock=lambda: clock[0])
    return builder.build().SerializeToString()


def test_a_valid_report_is_applied_and_counted() -> None:
    """A report on its own site's topic brings the site up and counts as accepted."""
    clock = [1_000.0]
    t = _telemetry(clock)
    assert t.handle(DEFAULT_TOPICS.report("alpha"), _report_bytes("alpha", clock))
    assert t.accepted == 1 and not t.rejected
    assert t.registry.liveness("alpha").up


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("netrouter/v1/sites/alpha/report", b"\xff\xfe not protobuf", "undecodable"),
        ("netrouter/v1/sites/beta/report", None, "site_mismatch"),
        ("netrouter/v1/sites/Bad Id/report", None, "bad_topic"),
        ("elsewhere/sites/alpha/report", None, "bad_topic"),
        ("netrouter/v1/sites/alpha/status", b"sleeping", "bad_status"),
    ],
)
def test_a_bad_message_is_counted_by_reason_and_changes_nothing(
    topic: str, payload: bytes | None, reason: str
) -> None:
    """Each kind of bad message is dropped under its own reason; no site appears."""
    clock = [1_000.0]
    t = _telemetry(clock)
    body = _report_bytes("alpha", clock) if payload is None else payload
    assert not t.handle(topic, body)
    assert dict(t.rejected) == {reason: 1}
    assert t.accepted == 0
    assert t.registry.reports() == []


def test_a_live_offline_holds_the_site_down_at_once() -> None:
    """A live last will takes the site off new work before its grace runs out."""
    clock = [1_000.0]
    t = _telemetry(clock)
    t.handle(DEFAULT_TOPICS.report("alpha"), _report_bytes("alpha", clock))
    boot = t.registry.agents("alpha")[0]
    assert t.handle(DEFAULT_TOPICS.status("alpha"), AgentStatus("offline", boot).payload.encode())
    liveness = t.registry.liveness("alpha")
    assert not liveness.up
    assert liveness.held_down_s > 0


def test_a_custom_prefix_ignores_the_default_one() -> None:
    """A router under another prefix refuses reports published under the default one."""
    clock = [1_000.0]
    t = _telemetry(clock, Topics("fleet-b/v1"))
    assert not t.handle(DEFAULT_TOPICS.report("alpha"), _report_bytes("alpha", clock))
    assert t.handle("fleet-b/v1/sites/alpha/report", _report_bytes("alpha", clock))


@pytest.mark.mqtt
async def test_run_ingests_retained_reports_from_a_real_broker(broker: BrokerAddress) -> None:
    """Run against a broker: a retained report published before it subscribes is applied."""
    clock = [1_000.0]
    async with mqtt_client(broker) as client:
        await client.publish(
            DEFAULT_TOPICS.report("alpha"), _report_bytes("alpha", clock), qos=1, retain=True
        )
    registry = SiteRegistry(min_ttl_s=10.0, clock=lambda: clock[0])
    telemetry = Telemetry(registry, broker)
    task = asyncio.create_task(telemetry.run())
    try:
        await until(lambda: registry.report("alpha") is not None, "the retained report")
        assert telemetry.sessions == 1
        assert telemetry.accepted >= 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
