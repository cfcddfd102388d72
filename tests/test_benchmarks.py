"""The benchmark scripts run end to end on small inputs and print what they promise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import gap, solver_scale
from benchmarks.orlib import gap_table, parse_orlib
from solver import SolverConfig
from solver.pipeline import optimize

DATA = Path(__file__).resolve().parent / "data"


def test_solver_scale_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--workloads", "300", "--sites", "10", "--seed", "3", "--json", "--time-limit", "2"]
    assert solver_scale.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("wall_s", "objective", "bound", "gap", "peak_rss_mb", "baselines"):
        assert key in out
    assert 0 <= out["bound"] <= out["objective"]
    assert out["gap"] == pytest.approx((out["objective"] - out["bound"]) / out["objective"])
    assert set(out["baselines"]) == {"nearest-site", "cheapest-first", "spread"}
    for figures in out["baselines"].values():
        assert figures["ratio"] == pytest.approx(figures["objective"] / out["objective"])
        assert figures["ratio"] >= 1.0 - 1e-9  # never dearer than a baseline here


def test_gap_benchmark_reaches_the_published_optimum(capsys: pytest.CaptureFixture[str]) -> None:
    assert gap.main([str(DATA / "orlib_gap1-0.txt"), "--time-limit", "5"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["objective"] == 261.0
    assert line["bound"] == 261
    assert line["optimal"] is True


@pytest.mark.slow
def test_gap_benchmark_handles_80_sites_by_1600_workloads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The largest size the benchmark promises: a tight type-d instance (cost falls as need
    rises, capacity 80% of the average need) in OR-Library format. Every item is placed
    within every capacity, at the printed cost, above the printed bound."""
    rng = np.random.default_rng(11)
    m, n = 80, 1600
    weight = rng.integers(1, 101, (m, n))
    cost = 111 - weight + rng.integers(-10, 11, (m, n))
    capacity = (0.8 * weight.sum(axis=1) / m).astype(np.int64)
    rows = [
        f"{m} {n}",
        *(" ".join(map(str, r)) for r in (*cost, *weight)),
        " ".join(map(str, capacity)),
    ]
    path = tmp_path / "d801600"
    path.write_text("\n".join(rows) + "\n")
    assert gap.main([str(path), "--time-limit", "3"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    instance = parse_orlib(path.read_text())
    table = gap_table(instance)
    outcome = optimize(table, SolverConfig(time_limit_s=3.0, relative_gap_limit=0.0))
    agent, item = table.arc_pool[outcome.choice], table.arc_w[outcome.choice]
    assert sorted(item.tolist()) == list(range(n))
    load = np.bincount(agent, weights=weight[agent, item], minlength=m)
    assert np.all(load <= capacity)
    assert outcome.objective == cost[agent, item].sum()
    assert line["objective"] is not None
    assert line["bound"] <= line["objective"]
    assert line["bound"] <= outcome.objective


@pytest.mark.slow
def test_service_load_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import service_load

    args = ["--seconds", "1", "--sites", "10", "--active", "200", "--clients", "2"]
    assert service_load.main([*args, "--processes", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["active"] >= 200
    assert out["placements_per_s"] > 0 and 0 < out["p50_ms"] <= out["p99_ms"]
    assert out["rpc_ceiling_per_s"] > 0 and out["ratio_to_ceiling"] > 0


@pytest.mark.mqtt
def test_failover_benchmark_moves_everything(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import failover

    assert failover.main(["--placements", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["placements"] == 50 and out["moved"] == 50 and out["evicted"] == 0
    assert out["seconds"] is not None and 0 < out["seconds"] <= out["from_kill_s"]


@pytest.mark.slow
def test_fuzz_benchmark_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/fuzz.py runs every target for --cases cases and finds nothing."""
    from benchmarks import fuzz

    assert fuzz.main(["--cases", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == {
        "report_bytes", "report_values", "scenario", "router_config", "site_config",
        "place_request",
    }  # fmt: skip
    for figures in out.values():
        assert figures["cases"] >= 20 and figures["seconds"] >= 0
        assert figures["crashes"] == 0 and figures["state_changes"] == 0


@pytest.mark.mqtt
@pytest.mark.slow
def test_soak_benchmark_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/soak.py for a few seconds: every report applied, nothing lost or double booked."""
    from benchmarks import soak

    args = ["--minutes", "0.1", "--agents", "20", "--interval-s", "0.5", "--clients", "2"]
    assert soak.main([*args, "--sample-s", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("reports_per_s", "placements_per_s", "p99_ms", "rss_growth_mb"):
        assert key in out
    assert out["lost"] == 0 and out["double_booked"] == 0
    assert out["failed_agents"] == 0 and out["reports_rejected"] == {}
    assert out["reports_unapplied"] == 0  # every report published was handled
    assert out["reports_per_s"] == pytest.approx(40, rel=0.25)  # 20 agents, 2 a second each
    assert out["placements_per_s"] > 0 and out["released"] > 0


def test_solver_scale_on_shaped_sites_prints_its_node_pairs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With --shaped the sites' devices sit on nodes: the node table is estimated larger
    than the counted one, and the plan's bound stays below its objective."""
    args = ["--workloads", "200", "--sites", "6", "--seed", "2", "--json", "--time-limit", "2"]
    assert solver_scale.main([*args, "--shaped", "--no-baselines"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shaped"] is True
    assert out["node_pairs"] > out["pairs"]
    assert 0 <= out["bound"] <= out["objective"]
