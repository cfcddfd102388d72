"""The router service end to end over real gRPC and a real SQLite file: failover with a
watcher, hold-off, rebalance, snapshots, restarts, concurrency and every error code."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from netrouter.client.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    OutOfRangeError,
    ResourceExhaustedError,
    UnavailableError,
)
from netrouter.client.router_client import RouterClient
from netrouter.client.types import Placement, PlacementEvent
from netrouter.contract.topics import AgentStatus
from netrouter.router.core import Router, RouterSettings
from netrouter.router.service import start_server
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from tests.helpers.factories import report_of, site_config, until, workload


@dataclass
class Live:
    router: Router
    registry: SiteRegistry
    store: PlacementStore
    target: str
    db: Path


async def _start(
    db: Path,
    registry: SiteRegistry,
    settings: RouterSettings | None = None,
    busy_timeout_ms: int = 5000,
) -> tuple[Router, grpc.aio.Server, PlacementStore, str]:
    store = PlacementStore(db, busy_timeout_ms=busy_timeout_ms)
    router = Router(registry=registry, store=store, settings=settings)
    await router.start()
    server, port, _ = await start_server(router, "127.0.0.1:0")
    return router, server, store, f"127.0.0.1:{port}"


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    """Two sites (cheap 'west' with 32 H100, dear 'east' with 32 H100), no hold-off."""
    registry = SiteRegistry(hold_off_s=0.0)
    registry.apply_report(report_of(site_config("west", price=0.3, h100=32)))
    registry.apply_report(report_of(site_config("east", price=1.0, h100=32)))
    db = tmp_path / "router.db"
    router, server, store, target = await _start(
        db, registry, RouterSettings(sweep_interval_s=0.05), busy_timeout_ms=200
    )
    yield Live(router=router, registry=registry, store=store, target=target, db=db)
    await server.stop(None)
    await router.stop()
    store.close()


def _collect(client: RouterClient, into: list[PlacementEvent], **kw: Any) -> asyncio.Task[None]:
    async def run() -> None:
        async for event in client.watch(**kw):
            into.append(event)

    return asyncio.create_task(run())


def _check_capacity(live: Live) -> None:
    """Every site's placed devices fit, and memory agrees with the store."""
    usage = live.router.usage()
    assert usage == live.store.usage()
    for r in live.registry.reports():
        for a in r.accelerators:
            assert usage.get((r.site_id, a.model), 0) <= a.healthy - a.in_use_by_others


async def test_failover_moves_every_placement_and_streams_each_move(live: Live) -> None:
    """West's last will moves its work to east in one batch; a watcher sees every move."""
    async with RouterClient(live.target) as client:
        result = await client.place([workload(f"w{i}", demands={"H100": 4}) for i in range(6)])
        assert {p.site_id for p in result.placements} == {"west"}
        events: list[PlacementEvent] = []
        # From the store's position now, not from whenever the task subscribes.
        watcher = _collect(client, events, after_event_id=(await client.snapshot()).last_event_id)
        live.registry.apply_status("west", AgentStatus("offline"))
        await until(lambda: len(events) == 6, "six moved events")
        watcher.cancel()
        assert {e.kind for e in events} == {"moved"}
        assert {e.from_site_id for e in events} == {"west"}
        assert {e.placement.site_id for e in events} == {"east"}
        assert all("last will" in e.reason for e in events)
        ids = sorted(p.placement_id for p in result.placements)
        assert sorted(e.placement.placement_id for e in events) == ids
        now = await client.list_placements()
        assert sorted(p.placement_id for p in now) == ids and {p.site_id for p in now} == {"east"}
        # Moving costs: the moved placement pays the migration and its rest-of-run energy.
        moved = await client.get_placement(ids[0])
        assert moved.site_id == "east" and moved.updated_at >= moved.created_at
    _check_capacity(live)


async def test_failover_requeues_what_does_not_fit_and_it_starts_when_the_site_is_back(
    live: Live,
) -> None:
    """When the other site is full, the work that cannot move goes back to the queue with
    the reason, keeping its id and when it was submitted; when its site reports again, it
    starts there at once."""
    async with RouterClient(live.target) as client:
        await client.place([workload(f"e{i}", demands={"H100": 8}) for i in range(4)])
        on_west = await client.place([workload(f"w{i}", demands={"H100": 8}) for i in range(4)])
        assert {p.site_id for p in on_west.placements} == {"east"}  # west was full
        live.registry.apply_status("east", AgentStatus("offline"))
        await until(lambda: not any(s == "east" for (s, _) in live.router.usage()), "east emptied")
        waiting = await client.list_placements(state="queued")
        assert sorted(p.placement_id for p in waiting) == sorted(
            p.placement_id for p in on_west.placements
        )
        assert all("east down" in p.explanation for p in waiting)
        assert all("H100 free, 8 needed at west" in p.explanation for p in waiting)
        assert all(p.submitted == q.created_at for p, q in _paired(waiting, on_west.placements))
        assert await client.list_placements(state="evicted") == []
        assert len(await client.list_placements()) == 4
        live.registry.apply_report(report_of(site_config("east", price=1.0, h100=32)))
        await until(lambda: live.router.active_count == 8, "the queued work started")
        started = await client.list_placements(site_id="east")
        assert sorted(p.placement_id for p in started) == sorted(
            p.placement_id for p in on_west.placements
        )
        kinds = [e.kind for e in live.store.events_after(0)]
        assert kinds.count("requeued") == 4 and kinds.count("started") == 4
    _check_capacity(live)


def _paired(a: list[Placement], b: Sequence[Placement]) -> list[tuple[Placement, Placement]]:
    by_id = {p.placement_id: p for p in b}
    return [(p, by_id[p.placement_id]) for p in a]


async def test_stale_site_fails_over_without_a_last_will(tmp_path: Path) -> None:
    """A site whose reports stop (no last will) takes no work at its TTL and its work moves
    when the stale grace after it ends."""
    registry = SiteRegistry(min_ttl_s=0.3, ttl_intervals=1.0, hold_off_s=0.0, stale_grace_s=0.5)
    registry.apply_report(report_of(site_config("west", price=0.3, h100=16, interval_s=0.1)))
    east = site_config("east", price=1.0, h100=16, interval_s=60.0)
    registry.apply_report(report_of(east))
    router, server, store, target = await _start(
        tmp_path / "r.db", registry, RouterSettings(sweep_interval_s=0.05)
    )
    try:
        async with RouterClient(target) as client:
            placed = await client.place([workload("stale-1", demands={"H100": 8})])
            assert placed.placements[0].site_id == "west"
            await until(lambda: not registry.liveness("west").up, "west stale", 5.0)
            assert router.usage().get(("west", "H100")) == 8, "its work waits out the grace"
            await until(lambda: router.usage().get(("east", "H100")) == 8, "the move to east", 5.0)
            assert not registry.liveness("west").up
    finally:
        await server.stop(None)
        await router.stop()
        store.close()


async def test_site_back_from_outage_is_held_down(tmp_path: Path) -> None:
    """A site that comes back within the hold-off takes no new work until it ends."""
    registry = SiteRegistry(hold_off_s=60.0)
    west = site_config("west", price=0.3, h100=16)
    registry.apply_report(report_of(west))
    registry.apply_report(report_of(site_config("east", price=1.0, h100=16)))
    router, server, store, target = await _start(tmp_path / "r.db", registry)
    try:
        registry.apply_status("west", AgentStatus("offline"))
        registry.apply_report(report_of(west))  # back at once: a flap
        async with RouterClient(target) as client:
            result = await client.place([workload("x", demands={"H100": 8})])
            assert result.placements[0].site_id == "east"
            view = {s.site_id: s for s in await client.list_sites()}["west"]
            assert not view.up and view.held_down_s > 50 and "held down" in view.down_reason
    finally:
        await server.stop(None)
        await router.stop()
        store.close()


async def test_rebalance_dry_run_then_commit_with_cap_and_minimum(live: Live) -> None:
    """Work parked on the dear site moves to the cheap one only when committed, within the
    cap on moves and the minimum saving per move."""
    live.registry.apply_status("west", AgentStatus("offline"))
    async with RouterClient(live.target) as client:
        parked = await client.place(
            [workload(f"r{i}", demands={"H100": 8}, duration_h=10.0) for i in range(3)]
        )
        assert {p.site_id for p in parked.placements} == {"east"}
        live.registry.apply_report(report_of(site_config("west", price=0.3, h100=32)))
        await until(lambda: live.registry.liveness("west").up, "west back")

        dry = await client.rebalance()
        assert not dry.committed and len(dry.moves) == 3 and dry.candidates == 3
        assert all(m.saving_yuan > 0 and m.to_site_id == "west" for m in dry.moves)
        assert dry.saving_yuan == pytest.approx(sum(m.saving_yuan for m in dry.moves))
        assert {p.site_id for p in await client.list_placements()} == {"east"}

        none = await client.rebalance(commit=True, min_saving_yuan=dry.saving_yuan)
        assert none.moves == () and none.candidates == 3

        events: list[PlacementEvent] = []
        # From the store's position now, not from whenever the task subscribes.
        watcher = _collect(client, events, after_event_id=(await client.snapshot()).last_event_id)
        one = await client.rebalance(commit=True, max_moves=1)
        assert one.committed and len(one.moves) == 1
        best = max(dry.moves, key=lambda m: m.saving_yuan)
        # The same work (less of it left a moment later): the best saving, to the second.
        assert one.moves[0].saving_yuan == pytest.approx(best.saving_yuan, rel=1e-3)
        await until(lambda: len(events) == 1, "the move event")
        watcher.cancel()
        assert events[0].kind == "moved" and events[0].reason.startswith("rebalance")
        sites = sorted(p.site_id for p in await client.list_placements())
        assert sites == ["east", "east", "west"]
    _check_capacity(live)


async def test_watch_resumes_from_an_event_id_and_survives_overflow(tmp_path: Path) -> None:
    """A watcher resuming after event k gets k+1.. exactly once, even when it falls behind."""
    registry = SiteRegistry()
    registry.apply_report(report_of(site_config("solo", h100=1000)))
    router, server, store, target = await _start(
        tmp_path / "r.db", registry, RouterSettings(watch_queue=2)
    )
    try:
        async with RouterClient(target) as client:
            for i in range(5):
                await client.place([workload(f"a{i}", demands={"H100": 1})])
            seen: list[int] = []
            async for event in client.watch(after_event_id=2):
                seen.append(event.event_id)
                if len(seen) == 1:
                    # Fall behind: many commits while this watcher sleeps.
                    await asyncio.gather(
                        *(client.place([workload(f"b{i}", demands={"H100": 1})]) for i in range(20))
                    )
                if len(seen) == 23:
                    break
            assert seen == list(range(3, 26))
    finally:
        await server.stop(None)
        await router.stop()
        store.close()


async def test_watch_after_an_event_not_yet_committed_is_out_of_range(live: Live) -> None:
    """Resuming after an id past the last event is refused OUT_OF_RANGE naming the last one
    (not followed silently until ids catch up); resuming at the last event is fine."""
    async with RouterClient(live.target) as client:
        await client.place([workload(f"o{i}", demands={"H100": 1}) for i in range(2)])
        with pytest.raises(OutOfRangeError) as info:
            async for _ in client.watch(after_event_id=99999):
                pass
        assert str(info.value) == (
            "after_event_id: 99999 is past the last event (2); "
            "resume from 2 or less, or use from_start"
        )
        seen: list[PlacementEvent] = []
        watcher = _collect(client, seen, after_event_id=2)
        await client.place([workload("o2", demands={"H100": 1})])
        await until(lambda: len(seen) == 1, "the event after the last one")
        watcher.cancel()
        assert seen[0].event_id == 3


async def test_restart_loses_nothing_and_continues_numbering(live: Live) -> None:
    """After a restart on the same file every active placement and event is there."""
    async with RouterClient(live.target) as client:
        placed = await client.place([workload(f"k{i}", demands={"H100": 2}) for i in range(5)])
        await client.release([placed.placements[0].placement_id])
        before = sorted((p.placement_id, p.site_id) for p in await client.list_placements())
    # The first router stops and frees the file (one router per store); a new one opens it.
    await live.router.stop()
    live.store.close()
    registry = live.registry
    router, server, store, target = await _start(tmp_path_db := live.db, registry)
    try:
        assert tmp_path_db == live.db
        assert sorted((p.placement_id, p.site_id) for p in router.active_placements()) == before
        assert router.usage() == live.router.usage()
        async with RouterClient(target) as client:
            history = []
            async for event in client.watch(from_start=True):
                history.append(event.kind)
                if len(history) == 6:
                    break
            assert history == ["placed"] * 5 + ["released"]
            again = await client.place([workload("k9", demands={"H100": 2})])
            assert len(again.placements) == 1
            assert store.last_event_id() == 7
    finally:
        await server.stop(None)
        await router.stop()
        store.close()


async def test_concurrent_single_places_never_double_book(live: Live) -> None:
    """Many concurrent single-workload calls fill both sites exactly, never beyond."""
    async with RouterClient(live.target) as client:
        results = await asyncio.gather(
            *(client.place([workload(f"c{i}", demands={"H100": 3})]) for i in range(40))
        )
    placed = [p for r in results for p in r.placements]
    assert len(placed) == 2 * (32 // 3)
    assert all(r.solve.method == "single" and r.solve.status == "OPTIMAL" for r in results)
    _check_capacity(live)


async def test_store_locked_fails_unavailable_and_changes_nothing(live: Live) -> None:
    """With the SQLite file locked, Place fails UNAVAILABLE; memory and file are unchanged;
    once unlocked it works."""
    async with RouterClient(live.target, retries=0) as client:
        await client.place([workload("before", demands={"H100": 4})])
        usage = live.router.usage()
        blocker = sqlite3.connect(live.db, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(UnavailableError):
                await client.place([workload("locked", demands={"H100": 4})])
            with pytest.raises(UnavailableError):
                await client.place([workload(f"l{i}", demands={"H100": 4}) for i in range(3)])
            assert live.router.usage() == usage
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert live.store.usage() == usage
        with pytest.raises(NotFoundError):
            await client.get_placement("locked")
        ok = await client.place([workload("locked", demands={"H100": 4})])
        assert len(ok.placements) == 1
    _check_capacity(live)


async def test_every_error_code(live: Live) -> None:
    """Each failure reaches the client as its typed error, naming the field where one is bad."""
    async with RouterClient(live.target) as client:
        with pytest.raises(NotFoundError):
            await client.get_placement("nope")
        with pytest.raises(NotFoundError):
            await client.release(["nope"])
        await client.place([workload("once")])
        with pytest.raises(AlreadyExistsError):
            await client.place([workload("once")])
        with pytest.raises(InvalidArgumentError) as info:
            await client.list_placements(state="sideways")
        assert info.value.field == "state"
        with pytest.raises(InvalidArgumentError) as info:
            await client.rebalance(min_saving_yuan=-1.0)
        assert info.value.field == "min_saving_yuan_per_move"
    small = Router(registry=live.registry, store=live.store, settings=RouterSettings(max_batch=2))
    with pytest.raises(ResourceExhaustedError):
        await small.place([workload(f"x{i}") for i in range(3)])
    server, port, _ = await start_server(small, "127.0.0.1:0")
    try:
        async with RouterClient(f"127.0.0.1:{port}") as client:
            with pytest.raises(ResourceExhaustedError, match="workloads: 3 in one batch"):
                await client.place([workload(f"x{i}") for i in range(3)])
    finally:
        await server.stop(None)
    live.registry.apply_status("west", AgentStatus("offline"))
    live.registry.apply_status("east", AgentStatus("offline"))
    async with RouterClient(live.target) as client:
        with pytest.raises(FailedPreconditionError):
            await client.place([workload("nowhere")])
        with pytest.raises(FailedPreconditionError):
            await client.rebalance()


async def test_list_by_label_pages_and_snapshot(live: Live) -> None:
    """Label filters and pages list each match once; a snapshot holds sites, work, links."""
    async with RouterClient(live.target) as client:
        batch = [
            workload(f"t{i}", demands={"H100": 1}, labels={"team": "a" if i % 2 else "b"})
            for i in range(9)
        ]
        await client.place(batch)
        team_a = await client.list_placements(labels={"team": "a"}, page_size=2)
        assert sorted(p.workload_id for p in team_a) == ["t1", "t3", "t5", "t7"]
        snap = await client.snapshot()
        assert {r.site_id for r in snap.site_reports} == {"west", "east"}
        assert len(snap.placements) == 9 and snap.last_event_id == 9
        assert {v.site_id: v.up for v in snap.sites} == {"west": True, "east": True}
        west = next(v for v in snap.sites if v.site_id == "west")
        assert west.accelerators[0].placed == 9


EXAMPLE_CLIENT = Path(__file__).resolve().parents[3] / "examples" / "clients" / "place_and_watch.py"


async def test_example_client_script_runs(live: Live, capsys: pytest.CaptureFixture[str]) -> None:
    """examples/clients/place_and_watch.py places, follows, plans a rebalance and cleans up."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("place_and_watch", EXAMPLE_CLIENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    await module.main(live.target, 0, 0.5)
    out = capsys.readouterr().out
    assert out.count("→ west") == 4 and "rebalance would make" in out
    assert "released 4 chat replicas" in out
    assert live.router.usage().get(("west", "H100"), 0) == 0
