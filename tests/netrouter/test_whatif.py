"""What-if scenarios: parsing every key, applying them, and the report, offline (from a
snapshot) and over a real gRPC server."""

from __future__ import annotations

import asyncio
import math
import warnings
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from netrouter.client.changes import KINDS
from netrouter.client.errors import InvalidArgumentError
from netrouter.client.router_client import RouterClient
from netrouter.client.scenario import (
    Scenario,
    apply,
    load_scenario,
    parse_scenario,
    scenario_text,
)
from netrouter.client.types import Link, Snapshot
from netrouter.client.whatif_report import WhatIfReport
from netrouter.client.world import ScenarioError, World
from netrouter.contract.configfile import ConfigFileError
from netrouter.planning.problem import world_problem
from netrouter.planning.whatif import (
    SnapshotFileError,
    load_snapshot,
    run_whatif,
    save_snapshot,
    solve_world,
)
from netrouter.router.state import SiteRegistry
from solver import SolverConfig
from tests.factories import Served, report_of, run_cli, serve_router, site_config, workload

EVERY_KIND = """
name = "everything"
description = "one of each"

[[changes]]
kind = "site_down"
sites = ["west"]

[[changes]]
kind = "site_up"
sites = ["west"]

[[changes]]
kind = "capacity"
site = "east"
model = "A100"
add = 32
power_w = 400

[[changes]]
kind = "price"
sides = ["east"]
multiplier = 1.5

[[changes]]
kind = "price"
sites = ["west"]
tariff = [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.5, 0.5, 0.5, 0.5,
          0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9, 0.2, 0.2]

[[changes]]
kind = "pue"
hubs = ["ea"]
add = 0.05

[[changes]]
kind = "pue_cap"
max_pue = 1.3

[[changes]]
kind = "latency"
sites = ["west"]
regions = ["csj"]
set_ms = 40

[[changes]]
kind = "link"
a = "csj"
b = "west"
latency_ms = 30
yuan_per_gb = 0.01

[[changes]]
kind = "link_cut"
a = "csj"
b = "west"

[[changes]]
kind = "slo"
select = "inference"
multiplier = 2.0

[[changes]]
kind = "demand"
select = "training"
scale = 2.0

[[changes]]
kind = "workloads"
workloads = [{ id = "new-1", origin_region = "csj", demands = { H100 = 8 }, duration_h = 2.0 }]

[[changes]]
kind = "carbon_price"
yuan_per_kg = 0.1

[[changes]]
kind = "add_site"
id = "ningxia-2"
like = "west"
accelerators = { H100 = 64 }
"""


def _registry() -> SiteRegistry:
    registry = SiteRegistry()
    registry.apply_report(
        report_of(site_config("west", price=0.3, h100=32, latency={"csj": 20.0, "gba": 25.0}))
    )
    registry.apply_report(
        report_of(
            site_config("east", side="east", price=1.0, h100=32, latency={"csj": 3.0, "gba": 8.0})
        )
    )
    return registry


def _world() -> World:
    registry = _registry()
    reports = {r.site_id: r for r in registry.reports()}
    work = [workload(f"train-{i}", duration_h=4.0) for i in range(3)]
    work += [workload(f"chat-{i}", latency_slo_ms=10.0) for i in range(2)]
    return World(
        at=max(r.timestamp for r in reports.values()),
        reports=reports,
        up=set(reports),
        links=[],
        workloads=work,
    )


def test_every_change_kind_parses_from_toml_and_yaml(tmp_path: Path) -> None:
    """The example with one change of each kind parses; YAML with the same keys too."""
    scenario = parse_scenario(EVERY_KIND)
    assert [c.kind for c in scenario.changes] == [
        "site_down", "site_up", "capacity", "price", "price", "pue", "pue_cap", "latency",
        "link", "link_cut", "slo", "demand", "workloads", "carbon_price", "add_site",
    ]  # fmt: skip
    assert set(KINDS) == {c.kind for c in scenario.changes}
    # The same scenario as JSON (what the client sends) and as a YAML file.
    assert parse_scenario(scenario_text(scenario)) == scenario
    yaml_file = tmp_path / "s.yaml"
    yaml_file.write_text(
        "description: pricier east\nchanges:\n  - kind: price\n    sides: [east]\n"
        "    multiplier: 1.2\n",
        encoding="utf-8",
    )
    loaded = load_scenario(yaml_file)
    assert loaded.name == "s" and loaded.changes[0].kind == "price"


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ('[[changes]]\nkind = "price"\nsides = ["east"]\nmultiplyer = 2\n', "multiplyer", 4),
        ('[[changes]]\nkind = "price"\nsides = ["east"]\n', "changes[0]", 1),
        ('[[changes]]\nkind = "price"\nmultiplier = -1\n', "multiplier", 3),
        ('[[changes]]\nkind = "price"\ntariff = [0.5, 0.5]\n', "tariff", 3),
        ('[[changes]]\nkind = "explode"\n', "changes[0]", 1),
        ('[[changes]]\nkind = "pue"\nset = 0.5\n', "set", 3),
        ('[[changes]]\nkind = "capacity"\nsite = "x"\nmodel = "H100"\n', "changes[0]", 1),
        ('[[changes]]\nkind = "latency"\nset_ms = 3\nadd_ms = 1\n', "changes[0]", 1),
        ('[[changes]]\nkind = "demand"\nscale = "lots"\n', "scale", 3),
        (
            '[[changes]]\nkind = "add_site"\nid = "n"\naccelerators = { H100 = 8 }\n',
            "changes[0]",
            1,
        ),
        ('name = "x"\n[[changes]\n', "", 2),
    ],
)
def test_bad_scenarios_name_the_key_and_line(text: str, key: str, line: int) -> None:
    with pytest.raises(ConfigFileError) as info:
        parse_scenario(text, source="s.toml")
    assert key in info.value.key or (not key and "TOML" in str(info.value))
    assert info.value.line == line
    assert str(info.value).startswith(f"s.toml:{line}")


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("changes:\n  - kind: pue\n    sites: [a]\n    set: 9\n", encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        load_scenario(bad)
    assert info.value.key.endswith("set") and info.value.line == 4


def test_applying_changes_the_state_and_leaves_the_original() -> None:
    world = _world()
    changed = apply(parse_scenario(EVERY_KIND), world)
    assert world.carbon_yuan_per_kg == 0.0 and set(world.up) == {"west", "east"}
    east, west = changed.reports["east"], changed.reports["west"]
    assert {a.model: a.healthy for a in east.accelerators} == {"H100": 32, "A100": 32}
    assert east.next_24h_yuan_per_kwh[0] == pytest.approx(
        1.5 * world.reports["east"].next_24h_yuan_per_kwh[0]
    )
    assert sorted(set(west.next_24h_yuan_per_kwh)) == [0.2, 0.5, 0.9]
    assert east.pue == pytest.approx(world.reports["east"].pue + 0.05)
    assert changed.hub_max_pue == {"ea": 1.3, "we": 1.3}
    # The link was added, then cut together with the measured csj latency.
    assert changed.links == [] and {lat.region for lat in west.latencies} == {"gba"}
    slo = {w.id: w.latency_slo_ms for w in changed.workloads if w.id.startswith("chat")}
    assert slo == {"chat-0": 20.0, "chat-1": 20.0}
    ids = {w.id for w in changed.workloads}
    assert {"train-0#2", "train-1#2", "train-2#2", "new-1"} <= ids and len(ids) == 9
    assert changed.carbon_yuan_per_kg == 0.1
    assert "ningxia-2" in changed.up
    assert changed.reports["ningxia-2"].pue == west.pue
    problem = world_problem(changed)
    assert {s.id for s in problem.sites} == {"west", "east", "ningxia-2"}
    assert problem.carbon_yuan_per_kg == 0.1


def test_pue_changes_move_the_sustained_pue_and_caps_only_tighten() -> None:
    """A site over its hub's cap stays over until the hysteresis under it; a pue change sets
    the sustained PUE too; a pue_cap change tightens the cap the sites report, never loosens
    it."""
    world = _world()
    east = world.reports["east"]
    world.reports["east"] = replace(east, pue=1.28, pue_mean=1.24)
    world.over_pue_cap, world.pue_cap_hysteresis = {"east"}, 0.02

    def east_ok(w: World) -> bool:
        problem = world_problem(w)
        assert problem.hub_max_pue == w.pue_caps()
        return problem.hub_pue_ok(next(s for s in problem.sites if s.id == "east"))

    assert world.pue_caps() == {"ea": 1.25, "we": 1.25}
    assert not east_ok(world)  # 1.24: under the cap, not yet its margin under it
    assert east_ok(replace(world, over_pue_cap=set()))

    def pue(change: str) -> World:
        return apply(
            parse_scenario(f'[[changes]]\nkind = "pue"\nsites = ["east"]\n{change}\n'), world
        )

    cooler = pue("set = 1.22")
    assert (cooler.reports["east"].pue, cooler.reports["east"].pue_mean) == (1.22, 1.22)
    assert east_ok(cooler) and not east_ok(pue("set = 1.24"))
    down = pue("add = -0.02")
    assert down.reports["east"].pue == pytest.approx(1.26)
    assert down.reports["east"].sustained_pue == pytest.approx(1.22) and east_ok(down)

    def cap(max_pue: float) -> World:
        text = f'[[changes]]\nkind = "pue_cap"\nmax_pue = {max_pue}\nhubs = ["ea"]\n'
        return apply(parse_scenario(text), cooler)

    assert cap(1.3).pue_caps()["ea"] == 1.25 and east_ok(cap(1.3))
    assert cap(1.2).pue_caps() == {"ea": 1.2, "we": 1.25} and not east_ok(cap(1.2))


def test_demand_scaling_is_reproducible_and_proportional() -> None:
    world = _world()
    world.workloads = [workload(f"w{i}") for i in range(400)]
    half = apply(parse_scenario('[[changes]]\nkind = "demand"\nscale = 0.5\n'), world)
    again = apply(parse_scenario('[[changes]]\nkind = "demand"\nscale = 0.5\n'), world)
    assert [w.id for w in half.workloads] == [w.id for w in again.workloads]
    assert 160 <= len(half.workloads) <= 240
    more = apply(parse_scenario('[[changes]]\nkind = "demand"\nscale = 1.25\n'), world)
    assert 460 <= len(more.workloads) <= 540


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[changes]]\nkind = "site_down"\nsites = ["nowhere"]\n', "unknown site 'nowhere'"),
        ('[[changes]]\nkind = "price"\nhubs = ["zz"]\nmultiplier = 2\n', "no site has hub"),
        ('[[changes]]\nkind = "capacity"\nsite = "east"\nmodel = "B200"\nadd = 8\n', "power_w"),
        ('[[changes]]\nkind = "link_cut"\na = "csj"\nb = "nowhere"\n', "no link"),
        ('[[changes]]\nkind = "add_site"\nid = "east"\nlike = "west"\naccelerators = {H100 = 8}\n',
         "already exists"),
        ('[[changes]]\nkind = "workloads"\nworkloads = [{id = "train-0", origin_region = "csj",'
         ' demands = {H100 = 8}, duration_h = 1.0}]\n', "already in use"),
    ],
)  # fmt: skip
def test_changes_naming_what_the_state_lacks_are_refused(text: str, needle: str) -> None:
    world = _world()
    with pytest.raises(ScenarioError, match="changes\\[0\\]") as info:
        apply(parse_scenario(text), world)
    assert needle in str(info.value)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    registry = _registry()
    async with serve_router(registry, tmp_path / "router.db") as served:
        yield served


OUTAGE = '[[changes]]\nkind = "site_down"\nsites = ["west"]\n'


async def test_whatif_over_grpc_matches_the_snapshot_and_commits_nothing(
    served: Served, tmp_path: Path
) -> None:
    """A site outage: its work moves east (or is left out), each move with its reason; the
    router's answer equals the same scenario run offline on a snapshot; nothing changes."""
    async with RouterClient(served.target) as client:
        placed = await client.place(
            [workload(f"train-{i}", duration_h=4.0, demands={"H100": 8}) for i in range(5)]
            + [workload("chat", latency_slo_ms=10.0, demands={"H100": 8})]
        )
        where = {p.workload_id: p.site_id for p in placed.placements}
        assert sorted(where.values()).count("west") == 4  # cheap west is full (32 H100)
        snap = await client.snapshot()
        file = tmp_path / "state.json"
        save_snapshot(snap, file)
        offline = run_whatif(load_snapshot(file), [parse_scenario(OUTAGE)], at=snap.taken_at)
        online = await client.what_if([OUTAGE], at=snap.taken_at)
        after = {p.workload_id: p.site_id for p in await client.list_placements()}
    assert after == where  # nothing committed
    assert _same(online, offline)
    base, (outage,) = online.baseline, online.scenarios
    assert base.where == where and base.unplaced == 0
    diff = outage.diff
    # East has 32 H100 for six 8-H100 jobs: two are left out (the cheapest to leave out:
    # the 1-hour chat and one training job), the other three west jobs move east.
    assert diff.moved == 5 and diff.unplaced == 2 and outage.result.unplaced == 2
    assert sum(1 for m in diff.moves if m.to_site == "east" and m.reason == "west is down") == 3
    assert all(m.reason.startswith("left out") for m in diff.moves if not m.to_site)
    assert {f.from_site: f.workloads for f in diff.flows if not f.to_site} == {"west": 1, "east": 1}
    assert diff.cost_per_hour_yuan > 0 and diff.west_share_delta < 0
    assert all(s.utilisation <= 1.0 + 1e-9 for s in outage.result.sites)
    assert outage.result.sides["east"].devices == 32
    assert math.isclose(
        diff.cost_yuan, outage.result.cost_yuan - base.cost_yuan, rel_tol=1e-9, abs_tol=1e-9
    )


def _same(a: object, b: object) -> bool:
    """Reports equal but for solver wall times."""
    assert isinstance(a, WhatIfReport) and isinstance(b, WhatIfReport)

    def strip(r: WhatIfReport) -> dict[str, object]:
        d = r.model_dump()
        d.pop("taken_at")  # the router's own snapshot is a moment later
        d["baseline"]["solve"].pop("wall_s")
        for s in d["scenarios"]:
            s["result"]["solve"].pop("wall_s")
        return d

    return strip(a) == strip(b)


async def test_whatif_rpc_errors_name_the_field(served: Served) -> None:
    async with RouterClient(served.target) as client:
        await client.place([workload("w")])
        cases = [
            ([], "scenarios"),
            (['[[changes]]\nkind = "price"\nmultiplyer = 2\n'], "scenarios[0].changes[0]"),
            (
                ['[[changes]]\nkind = "workloads"\nfile = "/etc/passwd"\n'],
                "scenarios[0].changes[0].file",
            ),
            ([OUTAGE, '[[changes]]\nkind = "site_down"\nsites = ["mars"]\n'], "scenarios"),
        ]
        for texts, field in cases:
            with pytest.raises(InvalidArgumentError) as info:
                await client.what_if(texts)
            assert info.value.field.startswith(field), (texts, str(info.value))
        with pytest.raises(InvalidArgumentError) as bad_time:
            await client.what_if([OUTAGE], time_limit_s=1e6)
        assert bad_time.value.field == "time_limit_s"


def test_scenario_is_a_frozen_model() -> None:
    assert isinstance(parse_scenario(OUTAGE), Scenario)


async def test_cli_snapshot_then_whatif_with_json_plots_and_html(
    served: Served, tmp_path: Path
) -> None:
    """'netrouter snapshot' saves the live state; 'netrouter whatif --snapshot' answers from
    it with JSON, non-empty PNGs and one HTML page; bad scenario files name key and line."""
    async with RouterClient(served.target) as client:
        await client.place([workload(f"t{i}", duration_h=4.0) for i in range(5)])
    state = tmp_path / "state.json"
    saved = await asyncio.to_thread(
        run_cli, "netrouter", "snapshot", "--target", served.target, "-o", str(state)
    )
    assert saved.returncode == 0, saved.stderr
    assert "5 active placements" in saved.stderr
    scenario = tmp_path / "outage.toml"
    scenario.write_text('name = "outage"\n' + OUTAGE, encoding="utf-8")
    plots, page = tmp_path / "plots", tmp_path / "report.html"
    done = await asyncio.to_thread(
        run_cli,
        "netrouter",
        "whatif",
        str(scenario),
        "--snapshot",
        str(state),
        "--json",
        "--plot",
        str(plots),
        "--html",
        str(page),
        "--time-limit",
        "2",
    )
    assert done.returncode == 0, done.stderr
    report = WhatIfReport.model_validate_json(done.stdout)
    (outage,) = report.scenarios
    assert outage.name == "outage" and outage.diff.moved >= 1
    assert report.baseline.placed == 5
    pngs = sorted(plots.glob("*.png"))
    assert [p.name.split("-", 2)[-1] for p in pngs] == [
        "cost_energy.png",
        "flows.png",
        "latency_cdf.png",
        "utilisation.png",
    ]
    assert all(p.stat().st_size > 5_000 and p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    text = page.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 4 and "outage" in text

    scenario.write_text('[[changes]]\nkind = "pue"\nsites = ["west"]\nset = 7\n', "utf-8")
    bad = await asyncio.to_thread(
        run_cli, "netrouter", "whatif", str(scenario), "--snapshot", str(state)
    )
    assert bad.returncode == 2
    assert f"{scenario}:4: changes[0].set" in " ".join(bad.stderr.split())
    neither = await asyncio.to_thread(run_cli, "netrouter", "whatif", str(scenario))
    assert neither.returncode == 2 and "--target" in neither.stderr


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[[changes]]\nkind = "demand"\nscale = 1e7\n', "scale"),
        ('[[changes]]\nkind = "price"\nmultiplier = 1e308\n', "multiplier"),
        ('[[changes]]\nkind = "latency"\nadd_ms = 1.7e308\n', "add_ms"),
        ('[[changes]]\nkind = "slo"\nmultiplier = 1e308\n', "multiplier"),
        ('[[changes]]\nkind = "carbon_price"\nyuan_per_kg = 1e308\n', "yuan_per_kg"),
        ('[[changes]]\nkind = "capacity"\nsite = "east"\nmodel = "H100"\nadd = 10000000000\n', "add"),
        ('[[changes]]\nkind = "link"\na = "csj"\nb = "csj"\nlatency_ms = 3\n', "changes[0]"),
        ('[[changes]]\nkind = "link"\na = "csj"\nb = "east"\nlatency_ms = 3\nyuan_per_gb = 1e300\n',
         "yuan_per_gb"),
        ('[[changes]]\nkind = "add_site"\nid = "n-2"\nlike = "west"\naccelerators = {H100 = 1e20}\n',
         "accelerators"),
        ('[[changes]]\nkind = "add_site"\nid = "Bad Id"\nlike = "west"\naccelerators = {H100 = 8}\n',
         "id"),
        ('[[changes]]\nkind = "add_site"\nid = "n-2"\nlike = "west"\naccelerators = {B200 = 8}\n'
         "power_w = {B200 = 1e6}\n", "power_w"),
        ('[[changes]]\nkind = "workloads"\nworkloads = [{id = "n", origin_region = "csj",'
         ' demands = {H100 = 8}, duration_h = 1e9}]\n', "duration_h"),
        ('[[changes]]\nkind = "workloads"\nworkloads = [{id = "n", origin_region = "csj",'
         ' demands = {H100 = 8}, duration_h = 1, priority = -1}]\n', "priority"),
    ],
)  # fmt: skip
def test_out_of_range_values_are_refused_naming_the_key(text: str, key: str) -> None:
    """Numbers that would hang the what-if or overflow the solver are refused when parsed."""
    with pytest.raises(ConfigFileError) as info:
        parse_scenario(text, source="s.toml")
    assert key in info.value.key and info.value.line is not None


def test_a_change_the_solver_would_refuse_names_the_change() -> None:
    """An SLO scaled below the solver's floor is a ScenarioError naming the change, not a crash."""
    world = _world()
    world.workloads = [workload("tight", latency_slo_ms=0.005)]
    with pytest.raises(ScenarioError, match=r"changes\[0\] \(slo\).*latency_slo_ms"):
        apply(parse_scenario('[[changes]]\nkind = "slo"\nmultiplier = 0.01\n'), world)
    assert world.workloads[0].latency_slo_ms == 0.005


def test_the_largest_factors_still_solve() -> None:
    """Prices and demand at their largest multipliers give a plan with finite costs."""
    text = (
        '[[changes]]\nkind = "price"\nmultiplier = 100\n[[changes]]\nkind = "demand"\nscale = 100\n'
    )
    changed = apply(parse_scenario(text), _world())
    assert len(changed.workloads) == 500
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow on the way
        result, _ = solve_world(changed, SolverConfig(time_limit_s=5.0, num_workers=1))
    assert result.placed > 0 and math.isfinite(result.cost_yuan) and result.cost_yuan > 0


def test_snapshot_file_out_of_range_is_refused_by_name(tmp_path: Path) -> None:
    """A snapshot whose report or link breaks the live ranges is refused, naming it."""
    report = report_of(site_config("west"))
    good = Snapshot(
        taken_at=report.timestamp,
        site_reports=(report,),
        placements=(),
        sites=(),
        links=(Link(a="jjj", b="west", latency_ms=5.0),),
        last_event_id=0,
    )
    file = tmp_path / "state.json"
    save_snapshot(good, file)
    assert load_snapshot(file).site_reports[0].pue == report.pue
    save_snapshot(replace(good, site_reports=(replace(report, pue=0.5),)), file)
    with pytest.raises(SnapshotFileError, match=r"site_reports\[0\].*pue"):
        load_snapshot(file)
    save_snapshot(replace(good, links=(Link(a="jjj", b="west", latency_ms=1e9),)), file)
    with pytest.raises(SnapshotFileError, match=r"links\[0\].latency_ms"):
        load_snapshot(file)
    save_snapshot(replace(good, pue_cap_hysteresis=math.nan), file)
    with pytest.raises(SnapshotFileError, match="pue_cap_hysteresis"):
        load_snapshot(file)
