"""MQTT ingestion: reports and status validated, applied, or counted, logged and dropped
without changing anything."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

import aiomqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netrouter.contract.broker import BrokerAddress, mqtt_client
from netrouter.contract.site_report import ReportRejectedError, SiteReport, decode_report
from netrouter.contract.topics import DEFAULT_TOPICS, AgentStatus, Topics
from netrouter.router.state import SiteRegistry
from netrouter.router.telemetry import Telemetry, handled_on_arrival
from netrouter.v1 import site_report_pb2 as rpb
from site_agents.report import ReportBuilder
from tests.helpers.factories import site_config, until

CONFIG = site_config("alpha")


def _message() -> rpb.SiteReport:
    return ReportBuilder(CONFIG).build()


def _telemetry(hold_off_s: float = 0.0) -> Telemetry:
    """Telemetry that acts on a last will at once (no grace)."""
    return Telemetry(
        SiteRegistry(hold_off_s=hold_off_s),
        BrokerAddress(host="127.0.0.1", port=1),
        will_grace_s=0.0,
    )


def test_valid_report_is_applied() -> None:
    """A well-formed report for its own topic is accepted and makes the site up."""
    t = _telemetry()
    assert t.handle(DEFAULT_TOPICS.report("alpha"), _message().SerializeToString())
    assert t.registry.liveness("alpha").up
    assert t.accepted == 1 and not t.rejected


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: setattr(m, "site_id", "beta"), "site_mismatch"),
        (lambda m: setattr(m, "pue", 0.9), "out_of_range"),
        (lambda m: setattr(m, "pue", math.nan), "out_of_range"),
        (lambda m: setattr(m, "carbon_kg_per_kwh", -1.0), "out_of_range"),
        (
            lambda m: setattr(m.accelerators[0], "healthy", m.accelerators[0].total + 1),
            "out_of_range",
        ),
        (lambda m: setattr(m.accelerators[0], "in_use_by_others", 10_000), "out_of_range"),
        (lambda m: setattr(m.accelerators[0], "power_w", math.inf), "out_of_range"),
        (lambda m: m.tariff.next_24h_yuan_per_kwh.pop(), "out_of_range"),
        (lambda m: setattr(m.tariff, "price_now_yuan_per_kwh", -0.1), "out_of_range"),
        (lambda m: setattr(m.latencies[0], "rtt_ms", math.nan), "out_of_range"),
        (lambda m: setattr(m, "boot_id", ""), "out_of_range"),
        (lambda m: setattr(m.labels, "latitude", 91.0), "out_of_range"),
        (lambda m: setattr(m.labels, "longitude", math.nan), "out_of_range"),
        (lambda m: setattr(m.labels, "pue_cap", 0.5), "out_of_range"),
        (lambda m: setattr(m, "pue_age_s", -1.0), "out_of_range"),
        (lambda m: setattr(m, "pue_age_s", math.inf), "out_of_range"),
        (lambda m: setattr(m, "pue_mean", 0.9), "out_of_range"),
        (lambda m: setattr(m, "pue_mean", 3.5), "out_of_range"),
        (lambda m: setattr(m, "pue_mean", math.nan), "out_of_range"),
        (lambda m: setattr(m, "pue_mean_window_s", -1.0), "out_of_range"),
        (lambda m: setattr(m, "pue_mean_window_s", math.inf), "out_of_range"),
        (lambda m: setattr(m, "pue_mean_covered_s", -1.0), "out_of_range"),
        (lambda m: setattr(m, "pue_mean_covered_s", math.nan), "out_of_range"),
        (
            lambda m: (
                setattr(m, "pue_mean_window_s", 3600.0),
                setattr(m, "pue_mean_covered_s", 7200.0),
            ),
            "out_of_range",
        ),
    ],
)
def test_bad_report_is_counted_and_changes_nothing(mutate: object, reason: str) -> None:
    """Each out-of-range field is rejected with its reason and leaves state untouched."""
    t = _telemetry()
    good = _message()
    assert t.handle(DEFAULT_TOPICS.report("alpha"), good.SerializeToString())
    before = t.registry.reports()
    bad = _message()
    bad.sequence = good.sequence + 1
    mutate(bad)  # type: ignore[operator]
    assert not t.handle(DEFAULT_TOPICS.report("alpha"), bad.SerializeToString())
    assert t.rejected[reason] == 1
    assert t.registry.reports() == before


def test_older_sequence_never_overwrites_newer() -> None:
    """A report with a sequence not newer than the held one is dropped as stale."""
    t = _telemetry()
    builder = ReportBuilder(CONFIG)
    first, second = builder.build(), builder.build()
    assert t.handle(DEFAULT_TOPICS.report("alpha"), second.SerializeToString())
    assert not t.handle(DEFAULT_TOPICS.report("alpha"), first.SerializeToString())
    assert t.rejected["stale_sequence"] == 1
    assert t.registry.reports()[0].sequence == second.sequence


def test_offline_status_marks_site_down_and_online_restores() -> None:
    """The last will's 'offline' takes a site down; 'online' with a fresh report brings it back."""
    t = _telemetry()
    t.handle(DEFAULT_TOPICS.report("alpha"), _message().SerializeToString())
    t.handle(DEFAULT_TOPICS.status("alpha"), b"offline")
    live = t.registry.liveness("alpha")
    assert not live.up and "offline" in live.reason
    t.handle(DEFAULT_TOPICS.status("alpha"), b"online")
    assert t.registry.liveness("alpha").up


def _graced(now: list[float]) -> Telemetry:
    """Telemetry with a 1 s grace on last wills, over a registry on a settable clock."""
    registry = SiteRegistry(hold_off_s=30.0, clock=lambda: now[0])
    return Telemetry(registry, BrokerAddress(host="127.0.0.1", port=1), will_grace_s=1.0)


def test_last_will_takes_effect_after_its_grace_unless_the_agent_shows_life() -> None:
    """A live 'offline' holds the site down (no new work, no failover) for the grace, then
    takes it down; 'online' within the grace brings it back without a hold-off."""
    now = [time.time()]
    t = _graced(now)
    t.handle(DEFAULT_TOPICS.report("alpha"), _message().SerializeToString())
    t.handle(DEFAULT_TOPICS.status("alpha"), b"offline")
    held = t.registry.liveness("alpha")
    assert not held.up and 0 < held.held_down_s <= 1.0
    t.handle(DEFAULT_TOPICS.status("alpha"), b"online")
    now[0] += 5.0
    assert t.registry.liveness("alpha").up, "the agent came back inside the grace: no hold-off"
    t.handle(DEFAULT_TOPICS.status("alpha"), b"offline")
    now[0] += 1.0
    down = t.registry.liveness("alpha")
    assert down.reason == "agent offline (last will)" and down.held_down_s == 0


def test_retained_will_holds_the_site_until_it_reports_or_goes_stale() -> None:
    """A retained 'offline' (a router starting up) holds the site without failing it over;
    a live report brings it up, and without one the TTL takes it down."""
    now = [time.time()]
    for comes_back in (True, False):
        t = _graced(now)
        message = ReportBuilder(site_config("alpha", interval_s=2.0)).build()
        message.timestamp = now[0]
        t.handle(DEFAULT_TOPICS.report("alpha"), message.SerializeToString(), retained=True)
        t.handle(DEFAULT_TOPICS.status("alpha"), b"offline", retained=True)
        assert t.registry.liveness("alpha").held_down_s > 0
        now[0] += 3.0
        assert t.registry.liveness("alpha").held_down_s > 0
        if comes_back:
            message.sequence += 1
            message.timestamp = now[0]
            t.handle(DEFAULT_TOPICS.report("alpha"), message.SerializeToString())
            assert t.registry.liveness("alpha").up
        else:
            now[0] += 3.5  # past the TTL: 3 × 2 s
            stale = t.registry.liveness("alpha")
            assert not stale.up and not stale.held_down_s and "stale" in stale.reason


def test_wills_of_a_broker_shutting_down_are_set_aside() -> None:
    """Wills heard just before our connection drops, and replayed as retained when we
    reconnect, leave up a site whose agent reports again; a will heard long before stays."""
    now = [time.time()]
    t = _graced(now)
    t.sessions = 1
    for site in ("alpha", "beta"):
        message = ReportBuilder(site_config(site)).build()
        message.timestamp = now[0]
        t.handle(DEFAULT_TOPICS.report(site), message.SerializeToString())
    t.handle(DEFAULT_TOPICS.status("beta"), b"offline")
    now[0] += 2.0
    assert not t.registry.liveness("beta").up  # beta's agent really went away
    t.handle(DEFAULT_TOPICS.status("alpha"), b"offline")  # the broker shutting down...
    t.registry.broker_lost()  # ...then dropping us
    t.sessions = 2
    t.handle(DEFAULT_TOPICS.status("alpha"), b"offline", retained=True)  # the stored will, replayed
    t.handle(DEFAULT_TOPICS.status("beta"), b"offline", retained=True)
    now[0] += 2.0
    assert t.registry.liveness("alpha").up
    assert t.registry.liveness("beta").reason == "agent offline (last will)"
    assert not t.rejected


def test_site_back_from_an_outage_is_held_down_for_the_hold_off() -> None:
    """A flapping site stays down for the hold-off after it comes back, then is up."""
    now = [1000.0]
    registry = SiteRegistry(hold_off_s=30.0, clock=lambda: now[0])
    builder = ReportBuilder(site_config("alpha", interval_s=60.0), clock=lambda: now[0])
    registry.apply_report(decode_report("alpha", builder.build().SerializeToString()))
    assert registry.liveness("alpha").up  # the first report is not held
    registry.apply_status("alpha", AgentStatus("offline"))
    now[0] += 1.0
    registry.apply_report(decode_report("alpha", builder.build().SerializeToString()))
    held = registry.liveness("alpha")
    assert not held.up and "held down" in held.reason and held.held_down_s == 30.0
    now[0] += 20.0
    registry.apply_status("alpha", AgentStatus("offline"))  # flaps again inside the hold
    now[0] += 1.0
    registry.apply_report(decode_report("alpha", builder.build().SerializeToString()))
    assert registry.liveness("alpha").held_down_s == 30.0  # the hold starts over
    now[0] += 29.0
    assert not registry.liveness("alpha").up
    now[0] += 1.5
    assert registry.liveness("alpha").up


def test_stale_report_marks_site_down() -> None:
    """A report older than its TTL makes the site down."""
    now = [1_000_000.0]
    registry = SiteRegistry(ttl_intervals=3, min_ttl_s=1.0, clock=lambda: now[0])
    message = _message()
    message.timestamp = now[0]
    registry.apply_report(decode_report("alpha", message.SerializeToString()))
    assert registry.liveness("alpha").up
    now[0] += 3 * CONFIG.publish.interval_s + 1.01
    live = registry.liveness("alpha")
    assert not live.up and "stale" in live.reason


def test_unknown_status_and_topic_are_rejected() -> None:
    """Garbage on the status topic or a foreign topic is counted, not applied."""
    t = _telemetry()
    assert not t.handle(DEFAULT_TOPICS.status("alpha"), b"maybe")
    assert not t.handle("netrouter/v1/sites/alpha/other", b"x")
    assert t.rejected == {"bad_status": 1, "bad_topic": 1}
    assert t.registry.reports() == []


@pytest.mark.parametrize("site_id", ["ALPHA", "", "东数西算", "a" * 64, "-x"])
def test_status_for_a_malformed_site_id_is_rejected_and_stores_nothing(site_id: str) -> None:
    """A status topic naming no valid site id is counted as a bad topic and gets no entry."""
    t = _telemetry()
    before = t.registry.liveness(site_id)
    assert not t.handle(DEFAULT_TOPICS.status(site_id), b"offline")
    assert t.rejected == {"bad_topic": 1} and t.accepted == 0
    assert t.registry.liveness(site_id) == before
    assert site_id not in vars(t.registry)["_sites"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_crash_the_decoder(payload: bytes) -> None:
    """Arbitrary payloads either decode to a valid report or raise ReportRejectedError."""
    t = _telemetry()
    with contextlib.suppress(ReportRejectedError):
        decode_report("alpha", payload)
    t.handle(DEFAULT_TOPICS.report("alpha"), payload)
    assert t.accepted + sum(t.rejected.values()) == 1


def test_live_report_after_a_late_last_will_brings_site_back() -> None:
    """An 'offline' from a dead earlier connection is overridden by the next live report."""
    t = _telemetry()
    builder = ReportBuilder(CONFIG)
    t.handle(DEFAULT_TOPICS.report("alpha"), builder.build().SerializeToString())
    t.handle(DEFAULT_TOPICS.status("alpha"), b"offline")
    assert not t.registry.liveness("alpha").up
    t.handle(DEFAULT_TOPICS.report("alpha"), builder.build().SerializeToString(), retained=True)
    assert not t.registry.liveness("alpha").up, "a retained replay proves nothing"
    t.handle(DEFAULT_TOPICS.report("alpha"), builder.build().SerializeToString())
    assert t.registry.liveness("alpha").up


def test_clock_skew_within_allowance_is_tolerated_and_beyond_rejected() -> None:
    """An agent 20 s behind stays up; a report stamped far in the future is refused."""
    now = [2_000_000.0]
    registry = SiteRegistry(
        ttl_intervals=3, min_ttl_s=15.0, max_clock_skew_s=30.0, clock=lambda: now[0]
    )
    behind = _message()
    behind.timestamp = now[0] - 20.0
    registry.apply_report(decode_report("alpha", behind.SerializeToString()))
    assert registry.liveness("alpha").up
    ahead = _message()
    ahead.timestamp = now[0] + 3600.0
    with pytest.raises(ReportRejectedError) as info:
        registry.apply_report(decode_report("alpha", ahead.SerializeToString()))
    assert info.value.reason == "future_timestamp"


def _mqtt_message(topic: str, payload: bytes) -> aiomqtt.Message:
    return aiomqtt.Message(topic, payload, qos=1, retain=False, mid=0, properties=None)


class _BrokenRegistry(SiteRegistry):
    """A registry with a bug for one site: applying its report raises."""

    def apply_report(self, report: SiteReport, *, live: bool = True) -> None:
        if report.site_id == "beta":
            raise KeyError("a bug")
        super().apply_report(report, live=live)


def test_messages_are_handled_on_arrival_and_a_bug_drops_only_its_message() -> None:
    """The incoming queue aiomqtt fills keeps nothing: each message is applied as it is put,
    in order; one whose handling hits a bug is counted and logged, and the next applies."""
    registry = _BrokenRegistry(hold_off_s=0.0)
    t = Telemetry(registry, BrokerAddress(host="127.0.0.1", port=1), will_grace_s=0.0)
    queue = handled_on_arrival(t._on_message)()
    beta = ReportBuilder(site_config("beta")).build().SerializeToString()
    first, second = _message(), _message()
    second.sequence = first.sequence + 1
    for topic, payload in [
        (DEFAULT_TOPICS.report("alpha"), first.SerializeToString()),
        (DEFAULT_TOPICS.report("beta"), beta),
        (DEFAULT_TOPICS.status("alpha"), b"offline"),
        (DEFAULT_TOPICS.report("alpha"), second.SerializeToString()),
    ]:
        queue.put_nowait(_mqtt_message(topic, payload))
    assert queue.empty()
    assert t.accepted == 3 and t.rejected == {"internal_error": 1}
    held = registry.report("alpha")
    assert held is not None and held.sequence == second.sequence
    assert registry.liveness("alpha").up  # the live report after the will
    assert registry.report("beta") is None


def test_live_report_counts_from_receipt_whatever_the_agents_clock() -> None:
    """A report heard live is fresh from its receipt even when the agent's clock is two
    minutes behind; the same report replayed retained is judged by its stamp: stale."""
    now = [time.time()]
    for live in (True, False):
        registry = SiteRegistry(clock=lambda: now[0])
        message = ReportBuilder(CONFIG).build()
        message.timestamp = now[0] - 120.0
        registry.apply_report(decode_report("alpha", message.SerializeToString()), live=live)
        liveness = registry.liveness("alpha")
        assert liveness.up is live
        if not live:
            assert liveness.reason.startswith("report stale")


def test_capacity_version_moves_only_when_up_sites_or_their_devices_may_change() -> None:
    """A report that repeats its site's inventory leaves ``capacity_version`` (what the
    router's site view is cached by) alone; a new site, other device counts and a status
    change each move it."""
    t = _telemetry()
    message = _message()

    def send(**accelerator: int) -> None:
        message.sequence += 1
        for field, value in accelerator.items():
            setattr(message.accelerators[0], field, value)
        assert t.handle(DEFAULT_TOPICS.report("alpha"), message.SerializeToString())

    send()  # a new site
    version = t.registry.capacity_version
    send()  # the same inventory again
    assert t.registry.capacity_version == version
    held = t.registry.report("alpha")
    assert held is not None and held.sequence == message.sequence  # yet it was applied
    send(in_use_by_others=message.accelerators[0].in_use_by_others + 1)
    assert t.registry.capacity_version == version + 1
    assert t.handle(DEFAULT_TOPICS.status("alpha"), b"offline")
    assert t.registry.capacity_version == version + 2
    send()  # back, live: up again
    assert t.registry.capacity_version == version + 3


UNREACHABLE = BrokerAddress(host="127.0.0.1", port=1)


def _clocked_telemetry(clock: list[float], topics: Topics = DEFAULT_TOPICS) -> Telemetry:
    registry = SiteRegistry(min_ttl_s=10.0, clock=lambda: clock[0])
    return Telemetry(registry, UNREACHABLE, topics=topics, will_grace_s=1.0)


def _report_bytes(site_id: str, clock: list[float]) -> bytes:
    builder = ReportBuilder(site_config(site_id, interval_s=1.0), clock=lambda: clock[0])
    return builder.build().SerializeToString()


def test_a_custom_prefix_ignores_the_default_one() -> None:
    """A router under another prefix refuses reports published under the default one."""
    clock = [1_000.0]
    t = _clocked_telemetry(clock, Topics("fleet-b/v1"))
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
