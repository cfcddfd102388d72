"""The operator CLI against a real router (gRPC) fed by a real agent over MQTT."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from netrouter.cli.embedded_broker import EmbeddedBroker, free_port
from netrouter.router.app import RouterApp, ServeSettings
from site_agents.publisher import SiteAgent
from tests.helpers.factories import site_config

pytestmark = pytest.mark.mqtt
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[str]:
    """A router with two agents (one west and cheap, one east and near) on an embedded broker."""
    async with EmbeddedBroker() as broker:
        settings = ServeSettings(
            mqtt=broker.address,
            listen="127.0.0.1:0",
            db_path=tmp_path / "r.db",
            shutdown_grace_s=1.0,
        )
        async with RouterApp(settings) as app:
            stop = asyncio.Event()
            regions = {"jjj": 5.0, "csj": 5.0, "gba": 5.0, "cy": 5.0}
            configs = [
                site_config("west", price=0.3, h100=64, a100=64, latency=regions),
                site_config(
                    "east",
                    side="east",
                    price=0.9,
                    h100=64,
                    a100=64,
                    pue=1.2,
                    latency=dict.fromkeys(regions, 2.0) | {"jjj": 25.0},
                ),
            ]
            tasks = [asyncio.create_task(SiteAgent(c, broker.address).run(stop)) for c in configs]
            deadline = time.monotonic() + 20
            while len(app.registry.up_reports()) < 2:
                assert time.monotonic() < deadline, "agents did not report"
                await asyncio.sleep(0.05)
            yield app.target
            stop.set()
            await asyncio.gather(*tasks)


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "netrouter",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_sites_place_placements_release(target: str) -> None:
    """The four client commands work in sequence, as JSON and as tables."""
    code, out, err = await _cli("sites", "--target", target, "--json")
    assert code == 0, err
    assert sorted(s["site_id"] for s in json.loads(out)) == ["east", "west"]

    code, out, err = await _cli(
        "place", "--target", target, "--file", str(EXAMPLES / "workloads.yaml"), "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    where = {p["workload"]["id"]: p["site_id"] for p in result["placements"]}
    assert where["finetune-gba-042"] == "west"  # no SLO: the cheaper site
    assert len(where) + len(result["unplaced"]) == 4

    code, out, err = await _cli("placements", "--target", target)
    assert code == 0, err
    assert "finetune-gba-042" in out

    ids = [p["placement_id"] for p in result["placements"]]
    code, out, err = await _cli("release", "--target", target, ids[0], "--json")
    assert code == 0, err
    assert json.loads(out)[0]["state"] == "released"

    code, out, _ = await _cli("placements", "--target", target, "--json")
    assert sorted(p["placement_id"] for p in json.loads(out)) == sorted(ids[1:])


@pytest.mark.slow
async def test_get_and_release_take_an_id_prefix(target: str) -> None:
    """`get` shows one placement by prefix (table and JSON); `release` takes a 6-character
    prefix; a released id says when it was released; an unknown one is not found."""
    code, out, err = await _cli(
        "place", "--target", target, "--file", str(EXAMPLES / "workloads.yaml"), "--json"
    )
    assert code == 0, err
    placed = json.loads(out)["placements"][0]
    pid = placed["placement_id"]

    code, out, err = await _cli("get", "--target", target, pid[:12])
    assert code == 0, err
    for shown in (f"Placement {pid}", pid[:12], placed["workload"]["id"], "state", "active"):
        assert shown in out
    assert "created" in out and "UTC" in out and "total" in out
    code, out, err = await _cli("get", "--target", target, pid[:6], "--json")
    assert code == 0, err
    assert json.loads(out)["placement_id"] == pid

    code, out, err = await _cli("release", "--target", target, pid[:6], "--json")
    assert code == 0, err
    assert [p["placement_id"] for p in json.loads(out)] == [pid]
    code, _, err = await _cli("release", "--target", target, pid[:6])
    assert code == 1
    assert f"placement '{pid}' was released at 20" in err and "UTC (released)" in err
    code, out, err = await _cli("get", "--target", target, pid[:6])
    assert code == 0, err
    assert "released (released)" in out

    code, _, err = await _cli("get", "--target", target, "0123456789")
    assert code == 1
    assert "placement '0123456789' not found" in err
    code, _, err = await _cli("release", "--target", target, "abc")
    assert code == 1
    assert "placement_ids[0]" in err and "at least 4" in err


@pytest.mark.slow
async def test_sites_drain_and_undrain(target: str, tmp_path: Path) -> None:
    """`sites drain` shows the site drained and keeps new work off it; `--move` moves its
    work; `sites undrain` puts it back; unknown and not-drained sites are clear errors."""
    path = tmp_path / "w.yaml"
    path.write_text(
        "workloads:\n  - {id: train, origin_region: csj, demands: {H100: 8}, duration_h: 4}\n"
    )
    code, out, err = await _cli("place", "--target", target, "--file", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["placements"][0]["site_id"] == "west"

    code, out, err = await _cli("sites", "drain", "--target", target, "west", "--reason", "fans")
    assert code == 0, err
    assert "site west drained since 20" in out and "(fans)" in out
    assert "running work (8 devices) stays" in out
    code, out, err = await _cli("sites", "--target", target)
    assert code == 0, err
    assert "drained" in out
    code, out, err = await _cli("sites", "--target", target, "--json")
    drained = {s["site_id"]: s["drained"] for s in json.loads(out)}
    assert drained == {"east": False, "west": True}

    code, out, err = await _cli("sites", "drain", "--target", target, "west", "--move", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert [(m["from_site_id"], m["to_site_id"]) for m in result["moved"]] == [("west", "east")]
    assert result["site"]["drain_reason"] == "fans" and result["stayed"] == []

    code, out, err = await _cli("sites", "undrain", "--target", target, "west")
    assert code == 0, err
    assert "site west undrained" in out
    code, _, err = await _cli("sites", "undrain", "--target", target, "west")
    assert code == 1 and "site west is not drained" in err
    code, _, err = await _cli("sites", "drain", "--target", target, "mars")
    assert code == 1 and "'mars' is not known (known sites: east, west)" in err

    code, out, _ = await _cli("sites", "drain", "--help")
    assert "--move" in out and "read-write token" in out and "restart" in out


async def test_cli_errors_are_clear(target: str, tmp_path: Path) -> None:
    """A bad workload file names the field; an unknown id is reported, exit code non-zero."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "workloads:\n  - id: x\n    origin_region: csj\n    demands: {H100: 0}\n    duration_h: 1\n"
    )
    code, _, err = await _cli("place", "--target", target, "--file", str(bad))
    assert code == 2
    assert "workloads[0].demands.H100" in err

    code, _, err = await _cli("release", "--target", target, "no-such-id")
    assert code == 1
    assert "no-such-id" in err


async def test_place_checks_regions_and_model_names(target: str, tmp_path: Path) -> None:
    """An unknown region is refused naming the file, the field and the known regions; h100
    is placed as H100; H10 is refused with "did you mean"."""
    entry = "workloads:\n  - {{id: x, origin_region: {region}, demands: {{{model}: 8}}, duration_h: 1}}\n"
    path = tmp_path / "w.yaml"
    path.write_text(entry.format(region="bj", model="H100"))
    code, _, err = await _cli("place", "--target", target, "--file", str(path))
    assert code == 2
    assert f"{path}: workloads[0].origin_region: unknown region 'bj'" in err
    assert "jjj (京津冀 Beijing-Tianjin-Hebei)" in err

    path.write_text(entry.format(region="csj", model="h100"))
    code, out, err = await _cli("place", "--target", target, "--file", str(path), "--json")
    assert code == 0, err
    assert [p["accelerator_model"] for p in json.loads(out)["placements"]] == ["H100"]

    path.write_text(entry.format(region="csj", model="H10"))
    code, _, err = await _cli("place", "--target", target, "--file", str(path))
    assert code == 2
    assert "workloads[0].demands.H10" in err and "did you mean H100?" in err


async def test_a_router_that_is_not_there_is_named() -> None:
    """With nothing listening, the error names the target and how to start a router."""
    dead = f"127.0.0.1:{free_port()}"
    code, _, err = await _cli("sites", "--target", dead)
    assert code == 1
    assert f"cannot reach a router at {dead}" in err
    assert "netrouter serve" in err


async def test_help_teaches() -> None:
    """`netrouter --help` names every command, and `place --help` the file format."""
    code, out, _ = await _cli("--help")
    assert code == 0
    for command in (
        "serve",
        "sites",
        "place",
        "placements",
        "get",
        "release",
        "rebalance",
        "demo",
    ):
        assert command in out
    code, out, _ = await _cli("place", "--help")
    assert "examples/workloads.yaml" in out
