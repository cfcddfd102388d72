"""The queue: work that cannot start now waits, durably, in order, and starts when it can."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netrouter.client.convert import placement_to_pb
from netrouter.client.errors import AlreadyExistsError
from netrouter.client.router_client import RouterClient
from netrouter.client.types import ACTIVE, FAILED, QUEUED, RELEASED, Placement
from netrouter.router.core import Router, RouterSettings
from netrouter.router.queue import queued
from netrouter.router.service import start_server
from netrouter.router.state import SiteRegistry
from netrouter.router.store import Change, PlacementStore
from tests.helpers.factories import placement, report_of, site_config, until, workload


@dataclass
class Queue:
    router: Router
    store: PlacementStore
    target: str
    db: Path


async def _open(db: Path) -> tuple[Router, PlacementStore]:
    registry = SiteRegistry(hold_off_s=0.0)
    registry.apply_report(report_of(site_config("west", price=0.3, h100=16)))
    store = PlacementStore(db)
    router = Router(registry=registry, store=store, settings=RouterSettings(queue_interval_s=0.05))
    await router.start()
    return router, store


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[Queue]:
    """One site, 'west', with 16 H100; the router tries its queue every 50 ms."""
    db = tmp_path / "router.db"
    router, store = await _open(db)
    server, port, _ = await start_server(router, "127.0.0.1:0")
    yield Queue(router=router, store=store, target=f"127.0.0.1:{port}", db=db)
    await server.stop(None)
    await router.stop()
    store.close()


async def test_work_that_does_not_fit_waits_and_starts_once_capacity_frees(queue: Queue) -> None:
    """A job the site cannot hold now waits, saying why; when the running job is released
    it starts at once, keeping its id and when it was submitted."""
    async with RouterClient(queue.target) as client:
        (first,) = (await client.place([workload("first", demands={"H100": 16})])).placements
        result = await client.place([workload("second", demands={"H100": 8})])
        assert result.placements == () and result.unplaced == ()
        (waiting,) = result.queued
        assert waiting.state == QUEUED and waiting.placement_id
        assert waiting.explanation == "waits: no feasible site: 0 H100 free, 8 needed at west"
        assert [p.placement_id for p in await client.queued()] == [waiting.placement_id]
        await client.release([first.placement_id])
        await until(lambda: queue.router.active_count == 1, "the queued job started", timeout=1.0)
        started = await client.get_placement(waiting.placement_id[:12])
        assert (started.state, started.site_id, started.devices) == (ACTIVE, "west", 8)
        assert started.submitted == waiting.created_at and started.created_at >= waiting.created_at
        assert await client.queued() == []
        kinds = [(e.kind, e.placement.workload.id) for e in queue.store.events_after(0)]
        assert kinds == [
            ("placed", "first"),
            ("queued", "second"),
            ("released", "first"),
            ("started", "second"),
        ]


async def test_work_no_site_could_ever_take_is_refused_not_queued(queue: Queue) -> None:
    """More devices than any site has, a model no site has, or an SLO no site meets: left
    out at once, saying so, and nothing kept."""
    async with RouterClient(queue.target) as client:
        result = await client.place(
            [
                workload("huge", demands={"H100": 64}),
                workload("npu", demands={"Ascend910B": 8}),
                workload("far", demands={"H100": 1}, latency_slo_ms=1.0),
            ]
        )
        reasons = {u.workload_id: u.reason for u in result.unplaced}
        assert result.queued == () and set(reasons) == {"huge", "npu", "far"}
        assert reasons["huge"].endswith(
            "not queued: no site could ever take it (west: 64 H100 needed, 16 installed)"
        )
        assert reasons["npu"] == "no site offers Ascend910B (the sites offer H100); not queued"
        assert "not queued: no site could ever take it (west: latency" in reasons["far"]
        assert await client.queued() == []


async def test_without_the_queue_work_is_unplaced_and_nothing_is_kept(queue: Queue) -> None:
    async with RouterClient(queue.target) as client:
        await client.place([workload("first", demands={"H100": 16})])
        result = await client.place([workload("second")], queue=False)
        assert result.queued == () and [u.workload_id for u in result.unplaced] == ["second"]
        assert await client.queued() == []


async def test_higher_priority_first_and_nothing_jumps_ahead_of_waiting_work(
    queue: Queue,
) -> None:
    """8 of 16 H100 run. A 16-GPU job of priority 5 waits; an 8-GPU job of priority 0 that
    would fit now waits behind it (it may not take the capacity the first waits for). When
    the 8 free up the priority-5 job starts, and the other once that one ends."""
    router = queue.router
    (running,) = (await router.place([workload("running", demands={"H100": 8})])).placements
    (high,) = (await router.place([workload("high", demands={"H100": 16}, priority=5)])).queued
    (low,) = (await router.place([workload("low", demands={"H100": 8})])).queued
    assert [p.workload.id for p in router.queued()] == ["high", "low"]
    assert await router.start_queued() == 0  # low fits the 8 free, but high waits for them
    await router.release([running.placement_id])
    await until(lambda: router.active_count == 1, "high started")
    assert [p.workload.id for p in router.active_placements()] == ["high"]
    assert [p.workload.id for p in router.queued()] == ["low"]
    await router.release([high.placement_id])
    await until(lambda: not router.queued(), "low started")
    assert [p.placement_id for p in router.active_placements()] == [low.placement_id]


async def test_equal_priority_waits_in_the_order_it_came(queue: Queue) -> None:
    router = queue.router
    (running,) = (await router.place([workload("running", demands={"H100": 16})])).placements
    for name in ("a", "b", "c"):
        await router.place([workload(name, demands={"H100": 8})])
    assert [p.workload.id for p in router.queued()] == ["a", "b", "c"]
    await router.release([running.placement_id])
    await until(lambda: router.active_count == 2, "two started")
    assert sorted(p.workload.id for p in router.active_placements()) == ["a", "b"]
    assert [p.workload.id for p in router.queued()] == ["c"]


async def test_release_cancels_queued_work(queue: Queue) -> None:
    """Releasing queued work cancels it: it never starts, and says why it ended."""
    async with RouterClient(queue.target) as client:
        (running,) = (await client.place([workload("running", demands={"H100": 16})])).placements
        (waiting,) = (await client.place([workload("waiting")])).queued
        (cancelled,) = await client.release([waiting.placement_id[:8]])
        assert (cancelled.state, cancelled.end_reason) == (RELEASED, "cancelled while queued")
        await client.release([running.placement_id])
        assert await queue.router.start_queued() == 0
        assert queue.router.active_count == 0
        # Its id is taken: the same workload may be submitted again, as new work.
        again = await client.place([workload("waiting")])
        assert [p.workload.id for p in again.placements] == ["waiting"]


async def test_a_workload_already_queued_is_refused(queue: Queue) -> None:
    await queue.router.place([workload("running", demands={"H100": 16})])
    await queue.router.place([workload("waiting")])
    with pytest.raises(AlreadyExistsError, match="already queued: waiting"):
        await queue.router.place([workload("waiting")])


async def test_queued_work_survives_a_restart_and_starts_after_it(tmp_path: Path) -> None:
    """Acknowledged queued work is in the store: a new router on the same file has it, in
    the same order, and starts it when capacity allows."""
    db = tmp_path / "router.db"
    router, store = await _open(db)
    (running,) = (await router.place([workload("running", demands={"H100": 16})])).placements
    await router.place([workload("b", demands={"H100": 8})])
    await router.place([workload("a", demands={"H100": 8}, priority=3)])
    await router.stop()
    store.close()
    router, store = await _open(db)
    try:
        assert [p.workload.id for p in router.queued()] == ["a", "b"]
        await router.release([running.placement_id])
        await until(lambda: not router.queued(), "both started")
        assert sorted(p.workload.id for p in router.active_placements()) == ["a", "b"]
    finally:
        await router.stop()
        store.close()


def test_a_store_written_before_the_queue_is_rebuilt_keeping_every_row(tmp_path: Path) -> None:
    """A placements table that required devices > 0 is rebuilt on open, rows and ids kept,
    so queued work (no devices yet) can be stored."""
    db = tmp_path / "old.db"
    old = sqlite3.connect(db)
    old.executescript(
        """
        CREATE TABLE placements (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, placement_id TEXT NOT NULL UNIQUE,
            workload_id TEXT NOT NULL, site_id TEXT NOT NULL, model TEXT NOT NULL,
            devices INTEGER NOT NULL CHECK (devices > 0), state TEXT NOT NULL,
            created_at REAL NOT NULL, released_at REAL, record BLOB NOT NULL);
        CREATE UNIQUE INDEX one_active_per_workload ON placements (workload_id)
            WHERE state = 'active';
        """
    )
    p1 = placement("p1", devices=8)
    old.execute(
        "INSERT INTO placements (placement_id, workload_id, site_id, model, devices, state,"
        " created_at, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            "p1",
            p1.workload.id,
            "west",
            "H100",
            8,
            ACTIVE,
            1.0,
            placement_to_pb(p1).SerializeToString(),
        ),
    )
    old.commit()
    old.close()
    store = PlacementStore(db)
    try:
        assert [p.placement_id for p in store.active()] == ["p1"]
        waiting = queued(workload("w"), placement_id="q1", reason="full", now=2.0)
        store.commit([Change(kind=QUEUED, placement=waiting)])
        assert [(p.placement_id, p.explanation) for p in store.queued()] == [("q1", "waits: full")]
    finally:
        store.close()
    schema = (
        sqlite3.connect(db)
        .execute("SELECT sql FROM sqlite_master WHERE name = 'placements'")
        .fetchone()
    )
    assert "CHECK (devices >= 0)" in schema[0]


class Clock:
    """A wall clock a test moves by hand."""

    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


async def _clocked(db: Path, clock: Clock) -> tuple[Router, PlacementStore]:
    registry = SiteRegistry(hold_off_s=0.0)
    registry.apply_report(report_of(site_config("west", price=0.3, h100=16)))
    store = PlacementStore(db)
    router = Router(
        registry=registry,
        store=store,
        settings=RouterSettings(queue_interval_s=0.02),
        clock=clock,
    )
    await router.start()
    return router, store


async def test_work_waits_for_its_earliest_start_and_starts_then(tmp_path: Path) -> None:
    """Work that may start only in an hour waits, saying until when, holding nothing (other
    work starts meanwhile); once the clock passes its start, it starts by itself."""
    clock = Clock(1_800_000_000.0)
    router, store = await _clocked(tmp_path / "r.db", clock)
    try:
        later = workload("later", demands={"H100": 8}, earliest_start=clock.at + 3_600)
        (waiting,) = (await router.place([later])).queued
        assert waiting.explanation == "waits: its earliest start is 2027-01-15 09:00:00 UTC"
        (now,) = (await router.place([workload("now", demands={"H100": 16})])).placements
        assert now.site_id == "west"  # the later work holds nothing before its start
        await router.release([now.placement_id])
        assert await router.start_queued() == 0
        clock.at += 3_600
        await until(lambda: router.active_count == 1, "the later work started")
        (started,) = router.active_placements()
        assert started.placement_id == waiting.placement_id
    finally:
        await router.stop()
        store.close()


async def test_a_deadline_out_of_reach_is_refused_or_fails_while_waiting(tmp_path: Path) -> None:
    """A deadline the work cannot meet even if it started now is refused at once; queued
    work whose deadline moves out of reach while it waits fails, saying why."""
    clock = Clock(1_800_000_000.0)
    router, store = await _clocked(tmp_path / "r.db", clock)
    try:
        (running,) = (await router.place([workload("running", demands={"H100": 16})])).placements
        hopeless = workload("hopeless", duration_h=2.0, deadline=clock.at + 3_600)
        result = await router.place([hopeless])
        (refused,) = result.unplaced
        assert refused.reason == (
            "its deadline 2027-01-15 09:00:00 UTC cannot be met: 2 h from 2027-01-15 "
            "08:00:00 UTC ends 2027-01-15 10:00:00 UTC"
        )
        tight = workload("tight", duration_h=1.0, deadline=clock.at + 5_400)
        (waiting,) = (await router.place([tight])).queued
        clock.at += 1_900  # now it would end 100 s late
        await until(lambda: not router.queued(), "the tight work failed")
        failed = store.get(waiting.placement_id)
        assert failed.state == FAILED
        assert failed.end_reason.startswith("its deadline 2027-01-15 09:30:00 UTC cannot be met")
        assert [e.kind for e in store.events_after(0)][-1] == "failed"
        await router.release([running.placement_id])
    finally:
        await router.stop()
        store.close()


async def test_waiting_work_preempts_only_preemptible_work_of_lower_priority(
    queue: Queue,
) -> None:
    """The site is full: 8 H100 of preemptible priority-1 work, 8 of preemptible priority-5
    work. A priority-5 job of 8 waits (it may not stop equal priority); a priority-9 job of
    8 stops the priority-1 work, which waits again keeping its id and submit time; nothing
    is stopped to start that one in turn."""
    router, store = queue.router, queue.store
    low = workload("low", demands={"H100": 8}, priority=1, preemptible=True)
    mid = workload("mid", demands={"H100": 8}, priority=5, preemptible=True)
    (p_low,) = (await router.place([low])).placements
    (p_mid,) = (await router.place([mid])).placements
    (equal,) = (await router.place([workload("equal", demands={"H100": 8}, priority=5)])).queued
    assert router.active_count == 2  # equal priority is never preempted
    (urgent,) = (await router.place([workload("urgent", demands={"H100": 8}, priority=9)])).queued
    await until(lambda: router.queued() and router.queued()[-1].workload.id == "low", "preempted")
    active = {p.workload.id: p for p in router.active_placements()}
    assert set(active) == {"mid", "urgent"}
    assert active["urgent"].placement_id == urgent.placement_id
    back = {p.workload.id: p for p in router.queued()}
    assert set(back) == {"equal", "low"}
    assert back["low"].placement_id == p_low.placement_id
    assert back["low"].submitted == p_low.created_at
    assert back["low"].explanation == "waits: preempted at west by urgent (priority 9 > 1)"
    kinds = [(e.kind, e.placement.workload.id) for e in store.events_after(0)][-2:]
    assert kinds == [("preempted", "low"), ("started", "urgent")]
    # equal (priority 5) is ahead of low (priority 1) and starts first when mid ends.
    await router.release([p_mid.placement_id])
    await until(lambda: router.active_count == 2, "equal started")
    assert {p.workload.id for p in router.active_placements()} == {"urgent", "equal"}
    assert equal.placement_id in {p.placement_id for p in router.active_placements()}


def test_victims_are_the_cheapest_to_restart_and_as_few_as_fit() -> None:
    """Of three preemptible jobs the one that loses least is stopped, and only as many as
    free the devices needed."""
    from netrouter.client.types import MoveCost
    from netrouter.router.active import ActivePlacements
    from netrouter.router.queue import victims
    from netrouter.router.site_view import Capacity

    def running(pid: str, devices: int, cost: float, priority: int = 0) -> Placement:
        w = workload(pid, demands={"H100": devices}, preemptible=True, priority=priority)
        return placement(pid, devices=devices, workload=w, cost_per_hour_yuan=cost)

    jobs = [running("a", 4, 40.0), running("b", 4, 10.0), running("c", 8, 5.0, priority=7)]
    active = ActivePlacements(jobs)
    capacity = Capacity({("west", "H100"): 16}, {}, lambda key: active.on(key))
    q = queued(workload("q", demands={"H100": 4}, priority=7), placement_id="q", reason="", now=0)
    found = victims(q, [("west", "H100")], active, capacity, MoveCost(restart_h=1.0))
    assert found == (("west", "H100"), [jobs[1]])  # b loses 10 元, a 40; c is not lower


async def test_a_dry_run_says_what_would_wait_and_keeps_nothing(queue: Queue) -> None:
    router = queue.router
    await router.place([workload("running", demands={"H100": 16})])
    result = await router.place([workload("next")], dry_run=True)
    (planned,) = result.queued
    assert (planned.placement_id, planned.state) == ("", "planned")
    assert planned.explanation == "would wait: no feasible site: 0 H100 free, 8 needed at west"
    assert router.queued() == []
