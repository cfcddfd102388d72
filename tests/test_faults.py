"""Faults against real processes: a router killed mid-stream, a broker restarted, agents
killed with and without their last will, reports out of order, an unwritable store."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from netrouter.client.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    RpcError,
    UnavailableError,
)
from netrouter.client.router_client import RouterClient
from netrouter.client.types import Placement
from netrouter.contract.broker import BrokerAddress, mqtt_client
from netrouter.contract.topics import DEFAULT_TOPICS
from netrouter.router.app import RouterApp, ServeSettings
from site_agents.config import SiteConfig
from site_agents.report import ReportBuilder
from tests.helpers.factories import site_config, site_dict, until, workload, write_site_toml
from tests.helpers.processes import Mosquitto, StartAgent, StartRouter

pytestmark = pytest.mark.mqtt


LONG_LIVED = 60.0
"""Reporting period of sites fed one retained report: fresh for the whole test (3 × 60 s)."""


async def publish_reports(broker: BrokerAddress, configs: list[SiteConfig]) -> None:
    """One retained report per site, as its agent would publish it (no agent process)."""
    async with mqtt_client(broker) as client:
        for config in configs:
            report = ReportBuilder(config).build().SerializeToString()
            await client.publish(DEFAULT_TOPICS.report(config.site.id), report, qos=1, retain=True)


async def sites_up(target: str, count: int, timeout: float = 30.0) -> None:
    """Wait until a router process sees ``count`` sites up."""
    deadline = time.monotonic() + timeout
    async with RouterClient(target, timeout_s=5) as client:
        while sum(s.up for s in await client.list_sites()) < count:
            assert time.monotonic() < deadline, f"{count} sites not up after {timeout} s"
            await asyncio.sleep(0.05)


def stored(db: Path) -> list[tuple[str, str, str, str]]:
    """(workload, placement, site, state) of every row of a store file, read by SQLite."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT workload_id, placement_id, site_id, state FROM placements ORDER BY seq"
        ).fetchall()
    return [tuple(r) for r in rows]


def event_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


# --- the router killed -------------------------------------------------------------------

PLACERS = 4
PER_PLACER = 30
"""4 × 30 one-device workloads for 2 × 40 devices: the pools end full."""


@pytest.mark.slow
async def test_router_sigkill_mid_stream_keeps_every_acknowledged_placement_once(
    mosquitto: Mosquitto, router_process: StartRouter
) -> None:
    """SIGKILL amid concurrent single-workload Place calls: after a restart every acknowledged
    placement is there, no workload is placed twice, and the pools are full, never over."""
    sites = [
        site_config("west", price=0.3, h100=40, interval_s=LONG_LIVED),
        site_config("east", price=1.0, h100=40, interval_s=LONG_LIVED),
    ]
    await publish_reports(mosquitto.address, sites)
    router = router_process(mosquitto.address)
    await sites_up(router.target, 2)

    acked: dict[str, Placement] = {}
    landed: set[str] = set()  # ALREADY_EXISTS on a retry: an earlier attempt was committed
    unplaced: set[str] = set()
    cut_off = 0

    async def placer(k: int) -> None:
        nonlocal cut_off
        i = 0
        while i < PER_PLACER:
            async with RouterClient(router.target, retries=0, timeout_s=10) as client:
                while i < PER_PLACER:
                    wid = f"p{k}-{i}"
                    try:
                        result = await client.place(
                            [workload(wid, demands={"H100": 1})], queue=False
                        )
                    except AlreadyExistsError:
                        landed.add(wid)
                    except FailedPreconditionError:  # restarted, sites not heard yet
                        await asyncio.sleep(0.05)
                        continue
                    except (UnavailableError, RpcError):
                        cut_off += 1  # no answer: the outcome is unknown, so ask again
                        break
                    else:
                        for p in result.placements:
                            acked[wid] = p
                        if not result.placements:
                            unplaced.add(wid)
                    i += 1
            await asyncio.sleep(0.05)

    placers = [asyncio.create_task(placer(k)) for k in range(PLACERS)]
    await until(lambda: len(acked) >= 25, "25 acknowledged placements", timeout=60)
    router.kill()
    acked_before_kill = len(acked)
    router.start()
    await asyncio.to_thread(router.wait_serving)
    await asyncio.wait_for(asyncio.gather(*placers), 120)

    assert cut_off > 0, "the kill cut no call off"
    assert len(acked) > acked_before_kill, "no placement was acknowledged after the restart"
    async with RouterClient(router.target) as client:
        active = await client.list_placements()
        views = {s.site_id: s for s in await client.list_sites()}
    by_workload = {p.workload_id: p for p in active}
    assert len(by_workload) == len(active) == len({p.placement_id for p in active})
    for wid, p in acked.items():
        assert by_workload[wid].placement_id == p.placement_id, wid
        assert (by_workload[wid].site_id, by_workload[wid].devices) == (p.site_id, p.devices)
    assert landed <= by_workload.keys()
    everything = {f"p{k}-{i}" for k in range(PLACERS) for i in range(PER_PLACER)}
    assert by_workload.keys() | unplaced == everything
    assert not by_workload.keys() & unplaced
    usage = Counter[str]()
    for p in active:
        usage[p.site_id] += p.devices
    assert usage == {"west": 40, "east": 40}, "every pool full, none over"
    assert all(
        v.accelerators[0].placed == 40 and v.accelerators[0].free == 0 for v in views.values()
    )

    assert router.stop() == 0, router.log_tail()
    rows = stored(router.db)
    assert len(rows) == 80 and len({r[0] for r in rows}) == 80, "one row per placed workload"
    assert event_count(router.db) == 80


@pytest.mark.slow
async def test_router_sigkill_keeps_the_queue_and_starts_it_after_the_restart(
    mosquitto: Mosquitto, router_process: StartRouter
) -> None:
    """Work acknowledged as queued survives SIGKILL: the restarted router has the same
    queue in the same order, and starts it when the running work is released."""
    site = site_config("west", price=0.3, h100=16, interval_s=LONG_LIVED)
    await publish_reports(mosquitto.address, [site])
    router = router_process(mosquitto.address)
    await sites_up(router.target, 1)
    async with RouterClient(router.target) as client:
        (running,) = (await client.place([workload("running", demands={"H100": 16})])).placements
        waiting = [
            (await client.place([workload(f"q{i}", demands={"H100": 8}, priority=i % 2)])).queued[0]
            for i in range(4)
        ]
        order = [p.placement_id for p in await client.queued()]
    assert order == [waiting[i].placement_id for i in (1, 3, 0, 2)]  # priority, then age
    router.kill()
    router.start()
    await asyncio.to_thread(router.wait_serving)
    await sites_up(router.target, 1)
    async with RouterClient(router.target) as client:
        assert [p.placement_id for p in await client.queued()] == order
        await client.release([running.placement_id])
        deadline = time.monotonic() + 10
        while len(await client.list_placements()) < 2:
            assert time.monotonic() < deadline, "the queue did not start after the restart"
            await asyncio.sleep(0.05)
        started = {p.placement_id for p in await client.list_placements()}
        assert started == set(order[:2])
        assert [p.placement_id for p in await client.queued()] == order[2:]
    assert router.stop() == 0, router.log_tail()


# --- the broker restarted ----------------------------------------------------------------


def _serve_settings(broker: BrokerAddress, db: Path, **options: float) -> ServeSettings:
    return ServeSettings(
        mqtt=broker, listen="127.0.0.1:0", db_path=db, shutdown_grace_s=1.0, **options
    )


def _reported_since(app: RouterApp, sites: list[str], since: float) -> Callable[[], bool]:
    """Whether every site's latest accepted report was stamped after ``since``."""

    def check() -> bool:
        reports = [app.registry.report(s) for s in sites]
        return all(r is not None and r.timestamp > since for r in reports)

    return check


async def test_broker_restart_reconnects_everyone_and_recovers_from_retained_reports(
    persistent_mosquitto: Mosquitto, agent_process: StartAgent, tmp_path: Path
) -> None:
    """Mosquitto (persistent) stopped and started: agents and router reconnect by themselves,
    the wills the broker publishes as it shuts down move nothing, and the retained replay is
    not counted as rejected; a new router started while the agents are frozen knows every
    site from the retained reports alone; no placement is lost."""
    broker = persistent_mosquitto
    names = ["west", "east"]
    agents = {
        sid: agent_process(
            write_site_toml(tmp_path / f"{sid}.toml", site_dict(sid, price=price, h100=32)),
            broker.address,
        )
        for sid, price in zip(names, (0.3, 1.0), strict=True)
    }
    # Sites stay fresh for 15 s, longer than the outages below: nothing fails over.
    settings = _serve_settings(
        broker.address, tmp_path / "router.db", min_ttl_s=15.0, hold_off_s=0.0
    )
    async with RouterApp(settings) as app:
        await until(lambda: len(app.registry.up_reports()) == 2, "both sites up")
        async with RouterClient(app.target) as client:
            first = await client.place([workload("a", demands={"H100": 32}), workload("b")])
            assert {p.site_id for p in first.placements} == {"west", "east"}

            broker.stop()
            restarted = time.time()
            broker.start()
            await until(
                _reported_since(app, names, restarted), "reports after the restart", timeout=30
            )
            assert all(app.registry.liveness(s).up for s in names)
            second = await client.place([workload("c")])
            assert [p.site_id for p in second.placements] == ["east"]
            assert app.telemetry.rejected == {}, "a reconnection is not an attack"
            assert {p.site_id for p in await client.list_placements()} == {"west", "east"}
            assert app.router is not None and app.router.active_count == 3
        placed = sorted(p.placement_id for p in (*first.placements, *second.placements))

    for proc in agents.values():
        proc.send_signal(signal.SIGSTOP)  # no agent can publish: only retained reports remain
    broker.stop()
    broker.start()
    async with RouterApp(settings) as app:
        known = lambda: len(app.registry.reports()) == 2  # noqa: E731
        await until(known, "both sites known from their retained reports")
        async with RouterClient(app.target) as client:
            assert sorted(p.placement_id for p in await client.list_placements()) == placed
            views = {s.site_id: s for s in await client.list_sites()}
            assert views["west"].accelerators[0].placed == 32
            assert views["east"].accelerators[0].placed == 16
            resumed = time.time()
            for proc in agents.values():
                proc.send_signal(signal.SIGCONT)
            await until(_reported_since(app, names, resumed), "agents reporting again", timeout=30)
            assert all(app.registry.liveness(s).up for s in names)
            assert sorted(p.placement_id for p in await client.list_placements()) == placed


# --- agents killed -----------------------------------------------------------------------


@pytest.mark.slow
async def test_killed_agent_goes_down_by_last_will_and_by_ttl_when_the_will_is_lost(
    mosquitto: Mosquitto, agent_process: StartAgent, tmp_path: Path
) -> None:
    """SIGKILL an agent: its last will takes the site down. Kill it again while the broker
    is down and restart the broker without persistence (no will, no retained report): the
    report TTL takes it down, while the other site, whose agent lives, comes back up."""
    configs = {
        sid: write_site_toml(tmp_path / f"{sid}.toml", site_dict(sid, interval_s=0.5))
        for sid in ("west", "east")
    }
    agents = {sid: agent_process(path, mosquitto.address) for sid, path in configs.items()}
    settings = _serve_settings(
        mosquitto.address, tmp_path / "router.db", min_ttl_s=3.0, hold_off_s=0.0
    )
    async with RouterApp(settings) as app:
        registry = app.registry
        await until(lambda: len(registry.up_reports()) == 2, "both sites up")

        os.kill(agents["west"].pid, signal.SIGKILL)
        await until(
            lambda: registry.liveness("west").reason == "agent offline (last will)",
            "west down by its last will (after the grace)",
        )
        assert registry.liveness("east").up

        agents["west"] = agent_process(configs["west"], mosquitto.address)
        await until(lambda: registry.liveness("west").up, "west back with a new agent")

        mosquitto.stop()
        os.kill(agents["west"].pid, signal.SIGKILL)  # no broker to publish its will
        agents["west"].wait(10)
        mosquitto.start()  # no persistence: west's retained report and status are gone
        await until(lambda: registry.liveness("east").up, "east back up", timeout=30)
        await until(lambda: not registry.liveness("west").up, "west stale", timeout=30)
        assert registry.liveness("west").reason.startswith("report stale")
        # East's agent keeps it up: the TTL took down only the silent site.
        restarted = time.time()
        await until(_reported_since(app, ["east"], restarted), "east reporting", timeout=30)
        assert registry.liveness("east").up and not registry.liveness("west").up


# --- reports out of order ------------------------------------------------------------------


def _report(config: SiteConfig, boot: str, sequence: int, timestamp: float, h100: int) -> bytes:
    message = ReportBuilder(config).collect()
    message.boot_id, message.sequence, message.timestamp = boot, sequence, timestamp
    message.accelerators[0].total = message.accelerators[0].healthy = h100
    return message.SerializeToString()


async def test_out_of_order_and_skewed_reports_never_overwrite_newer_state(
    broker: BrokerAddress, tmp_path: Path
) -> None:
    """Reports published in a crafted order: an older or repeated sequence of the same boot
    is dropped whatever its timestamp; a newer sequence is applied even when its clock went
    back; a new boot id restarts the numbering but must not be older than what is held."""
    config = site_config("alpha", interval_s=LONG_LIVED)
    now = time.time()
    # (boot, sequence, timestamp, H100 count, applied?) in publishing order.
    crafted = [
        ("boot-a", 5, now - 10, 10, True),
        ("boot-a", 3, now, 11, False),  # older sequence, newer clock
        ("boot-a", 5, now, 12, False),  # the same sequence again
        ("boot-a", 6, now - 25, 13, True),  # newer sequence, clock stepped back 15 s
        ("boot-a", 7, now + 3600, 14, False),  # an hour ahead of the router
        ("boot-b", 1, now - 40, 15, False),  # a new boot stamped before the held report
        ("boot-b", 1, now - 5, 16, True),  # a new boot (agent restarted): numbering restarts
        ("boot-a", 8, now - 6, 17, False),  # the old boot, stamped before the held report
        ("boot-b", 2, now - 4, 18, True),
        ("boot-b", 2, now - 3, 19, False),
    ]
    settings = _serve_settings(broker, tmp_path / "router.db")
    async with RouterApp(settings) as app, mqtt_client(broker) as publisher:
        await until(lambda: app.telemetry.sessions == 1, "the router subscribed")
        telemetry = app.telemetry
        for i, (boot, sequence, timestamp, h100, _) in enumerate(crafted):
            payload = _report(config, boot, sequence, timestamp, h100)
            await publisher.publish(DEFAULT_TOPICS.report("alpha"), payload, qos=1)
            # One at a time, so each is judged here.
            await until(
                lambda n=i + 1: telemetry.accepted + sum(telemetry.rejected.values()) == n,
                f"report {i} handled",
            )
        assert telemetry.accepted == sum(applied for *_, applied in crafted)
        assert telemetry.rejected == {"stale_sequence": 5, "future_timestamp": 1}
        held = app.registry.report("alpha")
        assert held is not None
        assert (held.boot_id, held.sequence, held.accelerators[0].total) == ("boot-b", 2, 18)
        async with RouterClient(app.target) as client:
            (view,) = await client.list_sites()
        assert view.up and view.accelerators[0].total == 18


# --- the store unwritable ------------------------------------------------------------------


@pytest.mark.slow
async def test_locked_store_fails_unavailable_leaves_nothing_and_recovers(
    mosquitto: Mosquitto, router_process: StartRouter
) -> None:
    """Another connection holds the SQLite write lock past the router's busy timeout
    (``[store] busy_timeout_ms``, 1 s here): Place fails UNAVAILABLE, nothing of it stays in
    memory or on disk, and the same workload places once the lock is gone."""
    await publish_reports(mosquitto.address, [site_config("west", h100=16, interval_s=LONG_LIVED)])
    router = router_process(mosquitto.address, config="[store]\nbusy_timeout_ms = 1000\n")
    await sites_up(router.target, 1)
    async with RouterClient(router.target, retries=0, timeout_s=60) as client:
        before = await client.place([workload("before", demands={"H100": 4})])
        blocker = sqlite3.connect(router.db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(UnavailableError, match="locked"):
                await client.place([workload("during", demands={"H100": 4})])
            assert [p.workload_id for p in await client.list_placements()] == ["before"]
            (view,) = await client.list_sites()
            assert view.accelerators[0].placed == 4
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert stored(router.db) == [
            ("before", before.placements[0].placement_id, "west", "active")
        ]
        assert event_count(router.db) == 1
        again = await client.place([workload("during", demands={"H100": 4})])
        assert len(again.placements) == 1
        (view,) = await client.list_sites()
        assert view.accelerators[0].placed == 8


@pytest.mark.slow
async def test_full_disk_fails_unavailable_leaves_nothing_and_recovers(
    mosquitto: Mosquitto, router_process: StartRouter
) -> None:
    """The disk refuses to grow the write-ahead log mid-frame (the router process's file-size
    limit lowered, the unprivileged way to run out of space): Place and Release fail
    UNAVAILABLE and change nothing in memory or on disk; once there is room both work, and
    a restart after a SIGKILL finds exactly the good commits."""
    await publish_reports(mosquitto.address, [site_config("west", h100=16, interval_s=LONG_LIVED)])
    router = router_process(mosquitto.address)
    await sites_up(router.target, 1)
    assert router.proc is not None
    pid = router.proc.pid
    async with RouterClient(router.target, retries=0, timeout_s=30) as client:
        before = await client.place([workload("before", demands={"H100": 4})])
        (kept,) = before.placements
        wal_size = os.stat(f"{router.db}-wal").st_size
        soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        # Room for a frame header but not its page: the write stops part-way.
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (wal_size + 1000, hard))
        try:
            with pytest.raises(UnavailableError):
                await client.place([workload("full", demands={"H100": 4})])
            with pytest.raises(UnavailableError):
                await client.release([kept.placement_id])
            assert [p.workload_id for p in await client.list_placements()] == ["before"]
            (view,) = await client.list_sites()
            assert view.accelerators[0].placed == 4
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
        assert stored(router.db) == [("before", kept.placement_id, "west", "active")]
        assert event_count(router.db) == 1
        again = await client.place([workload("full", demands={"H100": 4})])
        (placed,) = again.placements
        (released,) = await client.release([kept.placement_id])
        assert released.state == "released"

    # What a restart finds on disk: the two good commits, nothing of the failed ones.
    router.kill()
    router.start()
    await asyncio.to_thread(router.wait_serving)
    await sites_up(router.target, 1)
    assert stored(router.db) == [
        ("before", kept.placement_id, "west", "released"),
        ("full", placed.placement_id, "west", "active"),
    ]
    assert event_count(router.db) == 3
    async with RouterClient(router.target) as client:
        assert [p.workload_id for p in await client.list_placements()] == ["full"]
        (view,) = await client.list_sites()
        assert view.accelerators[0].placed == 4
