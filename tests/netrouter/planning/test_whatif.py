"""What-if reports: the baseline and each scenario solved side by side, offline (from a
snapshot) and over a real gRPC server, and snapshot files checked on load."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from netrouter.client.errors import InvalidArgumentError
from netrouter.client.router_client import RouterClient
from netrouter.client.scenario import apply, parse_scenario
from netrouter.client.types import Link, Snapshot
from netrouter.client.whatif_report import WhatIfReport
from netrouter.planning.whatif import (
    SnapshotFileError,
    load_snapshot,
    run_whatif,
    save_snapshot,
    solve_world,
)
from solver import SolverConfig
from tests.helpers.factories import (
    OUTAGE,
    Served,
    report_of,
    scenario_world,
    site_config,
    workload,
)


async def test_whatif_over_grpc_matches_the_snapshot_and_commits_nothing(
    scenario_served: Served, tmp_path: Path
) -> None:
    """A site outage: its work moves east (or is left out), each move with its reason; the
    router's answer equals the same scenario run offline on a snapshot; nothing changes."""
    async with RouterClient(scenario_served.target) as client:
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


async def test_whatif_rpc_errors_name_the_field(scenario_served: Served) -> None:
    """Bad scenarios and time limits sent to the router are refused naming the field."""
    async with RouterClient(scenario_served.target) as client:
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


def test_the_largest_factors_still_solve() -> None:
    """Prices and demand at their largest multipliers give a plan with finite costs."""
    text = (
        '[[changes]]\nkind = "price"\nmultiplier = 100\n[[changes]]\nkind = "demand"\nscale = 100\n'
    )
    changed = apply(parse_scenario(text), scenario_world())
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
