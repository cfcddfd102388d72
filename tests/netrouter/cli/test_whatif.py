"""`netrouter snapshot` then `netrouter whatif`: JSON, plots, HTML, the target taken from
the environment, and bad scenario files named by key and line."""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path

import pytest

from netrouter.client.router_client import RouterClient
from netrouter.client.whatif_report import WhatIfReport
from tests.helpers.factories import (
    OUTAGE,
    Served,
    run_cli,
    workload,
)


@pytest.mark.slow
async def test_cli_snapshot_then_whatif_with_json_plots_and_html(
    scenario_served: Served, tmp_path: Path
) -> None:
    """'netrouter snapshot' saves the live state; 'netrouter whatif --snapshot' answers from
    it with JSON, non-empty PNGs and one HTML page; bad scenario files name key and line."""
    async with RouterClient(scenario_served.target) as client:
        await client.place([workload(f"t{i}", duration_h=4.0) for i in range(5)])
    state = tmp_path / "state.json"
    saved = await asyncio.to_thread(
        run_cli, "netrouter", "snapshot", "--target", scenario_served.target, "-o", str(state)
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
    both = await asyncio.to_thread(
        run_cli,
        "netrouter",
        "whatif",
        str(scenario),
        "-t",
        scenario_served.target,
        "-s",
        str(state),
    )
    assert both.returncode == 2 and "not both" in both.stderr
    scenario.write_text('name = "outage"\n' + OUTAGE, encoding="utf-8")
    ask_env = functools.partial(run_cli, env={"NETROUTER_TARGET": scenario_served.target})
    from_env = await asyncio.to_thread(ask_env, "netrouter", "whatif", str(scenario), "--json")
    assert from_env.returncode == 0, from_env.stderr
    assert json.loads(from_env.stdout)["scenarios"][0]["name"] == "outage"
