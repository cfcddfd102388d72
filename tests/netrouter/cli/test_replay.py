"""`netrouter replay`: JSON, tables and plots, and bad options refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netrouter.cli.replay import DEFAULT_SLACK
from netrouter.planning.replay import POLICIES
from netrouter.planning.traces import DEFAULT_SLACK_H, parse_slack, slack_text
from tests.helpers.factories import run_cli


@pytest.mark.slow
def test_cli_replay_prints_json_and_writes_plots(tmp_path: Path) -> None:
    """'netrouter replay' prints JSON or tables and writes its plots."""
    result = run_cli(
        "netrouter",
        "replay",
        "--trace",
        "both",
        "--hours",
        "1",
        "--time-limit",
        "1",
        "--json",
        "--plot",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data["policies"]) == set(POLICIES)
    for row in data["policies"].values():
        assert {"cost", "energy_kwh", "carbon_kg", "slo_violations", "unplaced"} <= set(row)
        assert {"devices_in_use", "stranded", "shape_waited", "count_only_misfits"} <= set(row)
        assert {"waited", "wait_p50_h", "wait_p95_h", "large_waited", "dropped"} <= set(row)
        assert {"evicted", "objective", "deadline_misses", "utilisation"} <= set(row)
        assert {"LS", "inference"} <= set(row["waits_by_class"])
        for c in row["waits_by_class"].values():
            assert set(c) == {"jobs", "p50_h", "p95_h", "deadline_misses"}
        assert row["dropped"] == 0
        assert row["placed"] - row["evicted"] + row["dropped"] == sum(data["jobs"].values())
    assert data["drain_steps"] > 0 and data["max_drain_h"] == 72
    assert data["nodes"] and data["node_fit"] == "best"
    assert data["slack_h"] == {
        "BE": 24.0,
        "Burstable": 4.0,
        "LS": 0.0,
        "Guaranteed": 0.0,
        "inference": 0.0,
    }
    assert data["optimizer_queue"] == "deadline"
    assert data["hindsight_bound"] > 0 and 0 <= data["gap"] < 1
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == 3 and all(p.stat().st_size > 5_000 for p in pngs)
    table = run_cli(
        "netrouter",
        "replay",
        "--trace",
        "azure-llm",
        "--hours",
        "0.5",
        "--slack",
        "inference=none",
        "--optimizer-queue",
        "fifo",
    )
    assert table.returncode == 0, table.stderr
    assert "Hindsight lower bound" in table.stdout and "optimizer" in table.stdout
    assert "On the nodes" in table.stdout and "The queue" in table.stdout
    assert "waited for shape" in table.stdout
    assert "deadline misses" in table.stdout and "Waits by deadline class" in table.stdout
    assert "optimizer queue by fifo" in table.stdout


def test_the_slack_flag_s_default_is_the_planning_default() -> None:
    """The flag's default text reads as the replay's default slack."""
    assert parse_slack(DEFAULT_SLACK) == DEFAULT_SLACK_H
    assert slack_text(DEFAULT_SLACK_H) == DEFAULT_SLACK


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--trace", "borg"], "--trace must be one of"),
        (["--policy", "random"], "--policy must be all or one of"),
        (["--period-min", "7"], "--period-min must divide 60"),
        (["--data-dir", "/nonexistent"], "trace file not found"),
        (["--pods", "multigpu99"], "--pods must be one of"),
        (["--node-fit", "random"], "--node-fit must be one of"),
        (["--start", "2023-11-16T00:00:00"], "UTC offset"),
        (["--max-drain-h", "-1"], "--max-drain-h"),
        (["--max-drain-h", "200"], "--max-drain-h must be at most 168"),
        (["--slack", "Gold=1"], "--slack: slack 'Gold=1'"),
        (["--slack", "BE=-2"], "hours must be in"),
        (["--optimizer-queue", "lifo"], "--optimizer-queue must be one of deadline, fifo"),
    ],
)
def test_cli_replay_rejects_bad_options(args: list[str], needle: str) -> None:
    """Bad options exit 2, naming the option."""
    result = run_cli("netrouter", "replay", "--hours", "0.5", *args)
    assert result.returncode == 2
    assert needle in result.stderr
