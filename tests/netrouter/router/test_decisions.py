"""The router's decisions: hub PUE caps on every one of them over real gRPC and a real
registry (single and batch Place, failover, rebalance, what-if, and the CLI's view of
them), and rebalance's choice of moves on its own."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from netrouter.client.router_client import RouterClient
from netrouter.client.scenario import parse_scenario
from netrouter.client.types import DEFAULT_RESTART_H, Move, Placement, PlacementEvent
from netrouter.contract.site_report import validate_report
from netrouter.contract.topics import AgentStatus
from netrouter.planning.whatif import load_snapshot, run_whatif, save_snapshot
from netrouter.router.core import Router, RouterSettings
from netrouter.router.decisions import select_moves
from netrouter.router.service import start_server
from netrouter.router.site_view import Capacity
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from site_agents.config import SiteConfig
from site_agents.report import ReportBuilder
from tests.helpers.factories import placement, report_of, run_cli, site_config, until, workload


@dataclass
class Hubs:
    """A router over three sites, on a clock the test moves: wuhu (长三角, the cheapest),
    yrd (长三角, the dearest) and guian (贵州, between them); 长三角's cap is 1.25."""

    router: Router
    registry: SiteRegistry
    target: str
    now: list[float]
    agents: dict[str, tuple[SiteConfig, ReportBuilder]] = field(default_factory=dict)

    def report(
        self,
        site_id: str,
        *,
        pue: float | None = None,
        pue_mean: float = 0.0,
        h100: int | None = None,
        nodes: list[int] | None = None,
    ) -> None:
        """The site's agent reports (this PUE now and mean, 0: none, this many H100, or
        8-GPU nodes with these free devices each); the next decision sees it."""
        config, builder = self.agents[site_id]
        report = report_of(config, builder, pue_mean=pue_mean)
        if pue is not None:
            report = replace(report, pue=pue)
        if h100 is not None:
            (a,) = report.accelerators
            report = replace(report, accelerators=(replace(a, total=h100, healthy=h100),))
        if nodes is not None:
            (a,) = report.accelerators
            shaped = replace(
                a,
                total=8 * len(nodes),
                healthy=8 * len(nodes),
                in_use_by_others=8 * len(nodes) - sum(nodes),
                node_size=8,
                nodes_by_free=tuple(nodes.count(k) for k in range(9)),
            )
            report = replace(report, accelerators=(shaped,))
            validate_report(report)
        self.registry.apply_report(report)
        self.now[0] += 1.0  # past the router's view refresh


@pytest.fixture
async def hubs(tmp_path: Path) -> AsyncIterator[Hubs]:
    now = [time.time()]
    registry = SiteRegistry(hold_off_s=0.0, pue_cap_hysteresis=0.02, clock=lambda: now[0])
    store = PlacementStore(tmp_path / "router.db")
    router = Router(
        registry=registry,
        store=store,
        settings=RouterSettings(sweep_interval_s=0.05),
        clock=lambda: now[0],
    )
    await router.start()
    server, port, _ = await start_server(router, "127.0.0.1:0")
    live = Hubs(router=router, registry=registry, target=f"127.0.0.1:{port}", now=now)
    # Reports every minute: fresh for the whole test, CLI runs included.
    for site_id, hub, price, pue, h100 in (
        ("wuhu", "csj", 0.2, 1.15, 32),
        ("yrd", "csj", 0.8, 1.20, 32),
        ("guian", "gz", 0.4, 1.10, 16),
    ):
        config = site_config(
            site_id, hub=hub, price=price, pue=pue, h100=h100, interval_s=60.0, pue_cap=1.25
        )
        live.agents[site_id] = (config, ReportBuilder(config))
        live.report(site_id)
    yield live
    await server.stop(None)
    await router.stop()
    store.close()


def _wuhu_alternatives(p: Placement) -> list[tuple[str, str]]:
    return [(a.reason_kind, a.reason) for a in p.alternatives if a.site_id == "wuhu"]


async def test_a_site_over_its_hubs_cap_gets_no_work_from_single_or_batch_place(
    hubs: Hubs,
) -> None:
    """Wuhu at PUE 1.28 under 长三角's cap 1.25 gets nothing, one workload or a batch, and
    every placement says why: hub-pue."""
    hubs.report("wuhu", pue=1.28)
    why = [("hub-pue", "PUE 1.28 above hub csj's cap 1.25")]
    async with RouterClient(hubs.target) as client:
        one = await client.place([workload("one")])
        assert one.solve.method == "single"
        (p,) = one.placements
        assert p.site_id == "guian" and _wuhu_alternatives(p) == why
        assert "PUE 1.28 above hub csj's cap 1.25 at wuhu" in p.explanation
        batch = await client.place([workload(f"b{i}", demands={"H100": 8}) for i in range(3)])
        assert batch.solve.method != "single"
        assert sorted(p.site_id for p in batch.placements) == ["guian", "yrd", "yrd"]
        assert all(_wuhu_alternatives(p) == why for p in batch.placements)
        sites = {s.site_id: s for s in await client.list_sites()}
    assert sites["wuhu"].over_pue_cap and sites["wuhu"].labels.pue_cap == 1.25
    assert not sites["yrd"].over_pue_cap and not sites["guian"].over_pue_cap
    assert hubs.router.usage().get(("wuhu", "H100"), 0) == 0


async def test_hysteresis_keeps_a_site_out_until_it_is_a_margin_under_its_cap(
    hubs: Hubs,
) -> None:
    """Sustained PUE 1.26 → over; 1.24 → still over (within the 0.02 margin); 1.22 → back.
    The PUE now (1.28) is not what is judged."""
    steps = [
        (1.26, "guian", "sustained PUE 1.26 above hub csj's cap 1.25"),
        (1.24, "guian", "sustained PUE 1.24 still over hub csj's cap 1.25 until back to 1.23"),
        (1.22, "wuhu", None),
    ]
    async with RouterClient(hubs.target) as client:
        for i, (mean, where, reason) in enumerate(steps):
            hubs.report("wuhu", pue=1.28, pue_mean=mean)
            (p,) = (await client.place([workload(f"h{i}")], dry_run=True)).placements
            assert p.site_id == where, mean
            if reason is not None:
                assert _wuhu_alternatives(p) == [("hub-pue", reason)]
            view = {s.site_id: s for s in await client.list_sites()}["wuhu"]
            assert view.over_pue_cap is (reason is not None) and view.pue_mean == mean


async def test_failover_never_moves_work_onto_a_site_over_its_cap_nor_off_it(
    hubs: Hubs,
) -> None:
    """Guian's work fails over to the dear yrd, not to wuhu over its cap (though it has
    room); the work already running on wuhu stays there (a breach moves nothing by itself)."""
    events: list[PlacementEvent] = []
    async with RouterClient(hubs.target) as client:
        (stays,) = (await client.place([workload("stays", demands={"H100": 32})])).placements
        assert stays.site_id == "wuhu"
        (moves,) = (await client.place([workload("moves")])).placements
        assert moves.site_id == "guian"  # wuhu is full
        # Wuhu adds a hall: room again, but its sustained PUE is now over the cap.
        hubs.report("wuhu", pue=1.28, pue_mean=1.27, h100=64)
        after = (await client.snapshot()).last_event_id

        async def watch() -> None:
            async for event in client.watch(after_event_id=after):
                events.append(event)

        watcher = asyncio.create_task(watch())
        hubs.registry.apply_status("guian", AgentStatus("offline"))
        await until(lambda: len(events) == 1, "the failover's move")
        watcher.cancel()
        active = {p.workload_id: p.site_id for p in await client.list_placements()}
    assert events[0].kind == "moved" and events[0].placement.site_id == "yrd"
    assert ("hub-pue", "sustained PUE 1.27 above hub csj's cap 1.25") in _wuhu_alternatives(
        events[0].placement
    )
    assert active == {"stays": "wuhu", "moves": "yrd"}


async def test_rebalance_moves_work_off_a_site_over_its_cap_even_at_a_loss(hubs: Hubs) -> None:
    """Work on wuhu when it went over its cap: a rebalance proposes moving it whatever it
    costs (past any minimum saving), says why, and moves it when committed."""
    async with RouterClient(hubs.target) as client:
        for i in range(2):
            (p,) = (await client.place([workload(f"r{i}", duration_h=10.0)])).placements
            assert p.site_id == "wuhu"
        hubs.report("wuhu", pue=1.30, pue_mean=1.28)
        dry = await client.rebalance(min_saving_yuan=1_000.0)
        assert not dry.committed and dry.candidates == 2 and len(dry.moves) == 2
        assert {(m.from_site_id, m.to_site_id) for m in dry.moves} == {("wuhu", "guian")}
        for m in dry.moves:
            assert m.saving_yuan < 0
            moving = m.placement.transfer_cost_yuan + m.placement.migration_cost_yuan
            assert m.reason == (
                f"wuhu's sustained PUE 1.28 above hub csj's cap 1.25; "
                f"costs {-m.saving_yuan:.2f} 元 more after {moving:.2f} 元 to move"
            )
        assert {p.site_id for p in await client.list_placements()} == {"wuhu"}
        one = await client.rebalance(commit=True, max_moves=1)
        (move,) = one.moves
        assert (await client.get_placement(move.placement_id)).site_id == "guian"
        history = []
        async for e in client.watch(from_start=True):
            history.append(e)
            if e.kind == "moved":
                break
    assert history[-1].reason.startswith("rebalance: wuhu's sustained PUE 1.28 above hub csj's")
    assert sorted(p.site_id for p in hubs.router.active_placements()) == ["guian", "wuhu"]


async def test_a_move_must_save_more_than_its_restart(hubs: Hubs) -> None:
    """Moving running work costs re-running its last ``restart_h`` hours (0.25 h by
    default) at its cost per hour: early in a run the move off guian saves more than that
    and is proposed, its reason naming the cost; near the end the saving is less than the
    restart and no move is proposed, however small the minimum."""
    async with RouterClient(hubs.target) as client:
        hubs.report("wuhu", h100=0)
        (p,) = (await client.place([workload("late", duration_h=10.0)])).placements
        assert p.site_id == "guian"
        hubs.report("wuhu", h100=32)
        early = await client.rebalance(min_saving_yuan=0.0)
        (move,) = early.moves
        restart = DEFAULT_RESTART_H * p.cost_per_hour_yuan
        assert move.to_site_id == "wuhu"
        assert move.placement.migration_cost_yuan == pytest.approx(restart)
        assert move.reason.endswith(f"after {restart:.2f} 元 to move")
        hubs.now[0] += 9.9 * 3600  # 0.1 h left: wuhu saves less than the restart costs
        for site_id in hubs.agents:
            hubs.report(site_id)
        late = await client.rebalance(min_saving_yuan=0.0)
        assert late.moves == () and late.candidates == 0


def test_a_move_saving_no_more_than_the_minimum_is_left_out() -> None:
    """The minimum is exclusive: a move must save more than it."""
    old = placement("p1", "yrd")
    current = {old.placement_id: old}
    room = Capacity.counted({("wuhu", "H100"): 8})
    exact = _move(old, "wuhu", 1.0)
    kept = select_moves(
        [exact], current=current, room=room, over_cap=(), max_moves=0, min_saving=0.99
    )
    assert kept == [exact]
    assert not select_moves(
        [exact], current=current, room=room, over_cap=(), max_moves=0, min_saving=1.0
    )


async def test_a_snapshot_whatif_decides_as_the_live_router(hubs: Hubs, tmp_path: Path) -> None:
    """With wuhu within its hysteresis band (sustained 1.24, still over), a batch goes where
    the live router would put it, in a what-if on the live router and on a saved snapshot:
    not to wuhu, which is the cheapest and under the cap itself."""
    hubs.report("wuhu", pue=1.28, pue_mean=1.26)
    hubs.report("wuhu", pue=1.28, pue_mean=1.24)
    batch = [workload("w0", demands={"H100": 8}), workload("w1", demands={"H100": 16})]
    scenario = parse_scenario(
        'name = "batch"\n[[changes]]\nkind = "workloads"\nworkloads = ['
        '{ id = "w0", origin_region = "csj", demands = { H100 = 8 }, duration_h = 1.0 }, '
        '{ id = "w1", origin_region = "csj", demands = { H100 = 16 }, duration_h = 1.0 }]\n'
    )
    async with RouterClient(hubs.target) as client:
        placed = await client.place(batch, dry_run=True)
        live = {p.workload_id: p.site_id for p in placed.placements}
        asked = await client.what_if([scenario])
        save_snapshot(await client.snapshot(), tmp_path / "state.json")
    offline = run_whatif(load_snapshot(tmp_path / "state.json"), [scenario])
    assert live == {"w0": "yrd", "w1": "guian"}
    for report in (asked, offline):
        where = report.scenarios[0].result.where
        assert {w: where[w] for w in live} == live


async def test_a_snapshot_whatif_plans_on_the_sites_nodes(hubs: Hubs, tmp_path: Path) -> None:
    """The node shape travels in the snapshot: offline, as live, the 8-GPU job skips wuhu's
    scattered GPUs and the 1-GPU jobs take them."""
    hubs.report("wuhu", nodes=[1] * 8)
    scenario = parse_scenario(
        'name = "shape"\n[[changes]]\nkind = "workloads"\nworkloads = ['
        '{ id = "big", origin_region = "csj", demands = { H100 = 8 }, duration_h = 1.0 }, '
        '{ id = "one", origin_region = "csj", demands = { H100 = 1 }, duration_h = 1.0 }]\n'
    )
    async with RouterClient(hubs.target) as client:
        asked = await client.what_if([scenario])
        save_snapshot(await client.snapshot(), tmp_path / "state.json")
    offline = run_whatif(load_snapshot(tmp_path / "state.json"), [scenario])
    for report in (asked, offline):
        where = report.scenarios[0].result.where
        assert (where["big"], where["one"]) == ("guian", "wuhu")


async def test_the_cli_shows_the_cap_the_mean_the_breach_and_the_moves_reason(
    hubs: Hubs,
) -> None:
    """'netrouter sites' flags the breach with the PUE, its mean and the cap (and --json
    carries them); 'netrouter rebalance' prints each move's reason."""
    async with RouterClient(hubs.target) as client:
        await client.place([workload("r0", duration_h=10.0)])
    hubs.report("wuhu", pue=1.28, pue_mean=1.27)
    table, as_json, moves = await asyncio.gather(
        asyncio.to_thread(run_cli, "netrouter", "sites", "--target", hubs.target),
        asyncio.to_thread(run_cli, "netrouter", "sites", "--target", hubs.target, "--json"),
        asyncio.to_thread(run_cli, "netrouter", "rebalance", "--target", hubs.target),
    )
    assert table.returncode == 0, table.stderr
    wuhu = next(line for line in table.stdout.splitlines() if "wuhu" in line)
    assert "1.28 (mean 1.27) / 1.25  over cap" in wuhu
    assert "over cap" not in next(line for line in table.stdout.splitlines() if "yrd" in line)
    sites = {s["site_id"]: s for s in json.loads(as_json.stdout)}
    assert sites["wuhu"]["over_pue_cap"] is True and sites["wuhu"]["pue_mean"] == 1.27
    assert sites["wuhu"]["labels"]["pue_cap"] == 1.25 and sites["yrd"]["over_pue_cap"] is False
    assert moves.returncode == 0, moves.stderr
    assert "wuhu's sustained PUE 1.27 above hub csj's cap 1.25" in moves.stdout
    assert "DRY RUN" in moves.stdout


async def test_eight_gpus_one_per_node_refuse_an_8_gpu_job_and_take_eight_1_gpu_jobs(
    hubs: Hubs,
) -> None:
    """Wuhu, the cheapest, has 8 free H100 one per node: an 8-GPU job goes elsewhere and
    says why; eight 1-GPU jobs fill wuhu's nodes, and 'netrouter sites' shows the nodes."""
    hubs.report("wuhu", nodes=[1] * 8)
    async with RouterClient(hubs.target) as client:
        (big,) = (await client.place([workload("big")])).placements
        assert big.site_id == "guian"
        assert _wuhu_alternatives(big) == [("node-shape", "no node with 8 free H100; largest 1")]
        assert "no node with 8 free H100; largest 1 at wuhu" in big.explanation
        for i in range(8):
            (p,) = (await client.place([workload(f"one{i}", demands={"H100": 1})])).placements
            assert p.site_id == "wuhu", (i, p.explanation)
        (ninth,) = (await client.place([workload("ninth", demands={"H100": 1})])).placements
        assert ninth.site_id != "wuhu"
        sites = {s.site_id: s for s in await client.list_sites()}
    (h100,) = sites["wuhu"].accelerators
    assert (h100.free, h100.node_size, h100.nodes_by_free) == (0, 8, (8, 0, 0, 0, 0, 0, 0, 0, 0))
    hubs.report("wuhu", nodes=[8, 3, 1])
    table = await asyncio.to_thread(run_cli, "netrouter", "sites", "--target", hubs.target)
    assert table.returncode == 0, table.stderr
    wuhu = next(line for line in table.stdout.splitlines() if "wuhu" in line)
    # Our eight 1-GPU placements sit best-fit: the node with 1, then the one with 3, ...
    assert "H100 4/24 (0 whole of 8, 1×4)" in wuhu
    assert "H100 32/32 " in next(line for line in table.stdout.splitlines() if "yrd" in line)


async def test_a_batch_plans_on_the_nodes_not_on_the_count(hubs: Hubs) -> None:
    """In one batch, the 8-GPU job skips wuhu's scattered GPUs while the 1-GPU jobs take
    them: planned inside the batch, not filtered after it."""
    hubs.report("wuhu", nodes=[1] * 8)
    work = [workload("big"), *(workload(f"one{i}", demands={"H100": 1}) for i in range(4))]
    async with RouterClient(hubs.target) as client:
        result = await client.place(work)
    where = {p.workload.id: p.site_id for p in result.placements}
    assert result.solve.method != "single"
    assert where == {"big": "guian", **{f"one{i}": "wuhu" for i in range(4)}}


# --- rebalance's choice of moves (a pure function) --------------------------------------


def _move(old: Placement, to: str, saving: float) -> Move:
    return Move(
        placement_id=old.placement_id,
        from_site_id=old.site_id,
        to_site_id=to,
        saving_yuan=saving,
        placement=replace(old, site_id=to),
    )


def _ids(moves: list[Move]) -> list[str]:
    return [m.placement_id for m in moves]


def test_select_moves_keeps_the_best_savings_first_up_to_the_cap() -> None:
    """Moves come biggest saving first, and no more than ``max_moves`` of them."""
    a, b, c = placement("a", "east"), placement("b", "east"), placement("c", "east")
    candidates = [_move(a, "west", 1.0), _move(b, "west", 3.0), _move(c, "west", 2.0)]
    current = {p.placement_id: p for p in (a, b, c)}
    room = Capacity.counted({("west", "H100"): 32})
    every = select_moves(
        candidates, current=current, room=room, over_cap=(), max_moves=0, min_saving=0.0
    )
    assert _ids(every) == ["b", "c", "a"]
    two = select_moves(
        candidates, current=current, room=room, over_cap=(), max_moves=2, min_saving=0.0
    )
    assert _ids(two) == ["b", "c"]


def test_select_moves_drops_small_savings_except_off_a_site_over_its_cap() -> None:
    """A move saving under the minimum is left out, unless it leaves a site over its cap,
    which comes first whatever it saves."""
    small, big = placement("small", "east"), placement("big", "east")
    breach = placement("breach", "hot")
    candidates = [_move(small, "west", 0.5), _move(big, "west", 5.0), _move(breach, "west", -1.0)]
    chosen = select_moves(
        candidates,
        current={p.placement_id: p for p in (small, big, breach)},
        room=Capacity.counted({("west", "H100"): 32}),
        over_cap={"hot"},
        max_moves=0,
        min_saving=1.0,
    )
    assert _ids(chosen) == ["breach", "big"]


def test_select_moves_waits_for_the_move_that_frees_room() -> None:
    """A move into a full site follows the move that leaves it; under a cap of one, only
    the move that fits on its own is kept."""
    into_west, out_of_west = placement("in", "east"), placement("out", "west")
    candidates = [_move(into_west, "west", 3.0), _move(out_of_west, "north", 1.0)]
    current = {p.placement_id: p for p in (into_west, out_of_west)}
    room = Capacity.counted({("west", "H100"): 0, ("north", "H100"): 8})
    both = select_moves(
        candidates, current=current, room=room, over_cap=(), max_moves=0, min_saving=0.0
    )
    assert _ids(both) == ["out", "in"]
    one = select_moves(
        candidates, current=current, room=room, over_cap=(), max_moves=1, min_saving=0.0
    )
    assert _ids(one) == ["out"]


def test_select_moves_leaves_out_a_move_that_never_fits() -> None:
    """A move with no room at its destination, now or after the others, is not made."""
    p = placement("p", "east", devices=16)
    chosen = select_moves(
        [_move(p, "west", 9.0)],
        current={"p": p},
        room=Capacity.counted({("west", "H100"): 8}),
        over_cap=(),
        max_moves=0,
        min_saving=0.0,
    )
    assert chosen == []
