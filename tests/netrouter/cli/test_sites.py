"""`netrouter sites` and `sites remove` against a real router fed by real agents over MQTT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.factories import run_cli_async

pytestmark = pytest.mark.mqtt


async def test_sites_lists_every_reporting_site_as_json_and_as_a_table(target: str) -> None:
    code, out, err = await run_cli_async("sites", "--target", target, "--json")
    assert code == 0, err
    views = {s["site_id"]: s for s in json.loads(out)}
    assert sorted(views) == ["east", "west"]
    code, out, err = await run_cli_async("sites", "--target", target)
    assert code == 0, err
    assert "west" in out and "east" in out


async def test_remove_refuses_a_site_with_work_and_forgets_one_without(
    target: str, tmp_path: Path
) -> None:
    """An unknown site and a site with active work are refused; an idle one is removed."""
    code, _, err = await run_cli_async("sites", "remove", "nowhere", "--target", target)
    assert code == 1
    assert "nowhere" in err
    job = tmp_path / "w.yaml"
    job.write_text(
        "workloads:\n  - {id: j, origin_region: jjj, demands: {H100: 8}, duration_h: 1}\n"
    )
    code, out, err = await run_cli_async("place", "--target", target, "--file", str(job), "--json")
    assert code == 0, err
    (placed,) = json.loads(out)["placements"]
    busy = placed["site_id"]
    idle = ({"east", "west"} - {busy}).pop()
    code, _, err = await run_cli_async("sites", "remove", busy, "--target", target)
    assert code == 1
    assert busy in err
    code, out, err = await run_cli_async("sites", "remove", idle, "--target", target, "--json")
    assert code == 0, err
    assert json.loads(out)["site_id"] == idle


@pytest.mark.slow
async def test_sites_drain_and_undrain(target: str, tmp_path: Path) -> None:
    """`sites drain` shows the site drained and keeps new work off it; `--move` moves its
    work; `sites undrain` puts it back; unknown and not-drained sites are clear errors."""
    path = tmp_path / "w.yaml"
    path.write_text(
        "workloads:\n  - {id: train, origin_region: csj, demands: {H100: 8}, duration_h: 4}\n"
    )
    code, out, err = await run_cli_async("place", "--target", target, "--file", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["placements"][0]["site_id"] == "west"

    code, out, err = await run_cli_async(
        "sites", "drain", "--target", target, "west", "--reason", "fans"
    )
    assert code == 0, err
    assert "site west drained since 20" in out and "(fans)" in out
    assert "running work (8 devices) stays" in out
    code, out, err = await run_cli_async("sites", "--target", target)
    assert code == 0, err
    assert "drained" in out
    code, out, err = await run_cli_async("sites", "--target", target, "--json")
    drained = {s["site_id"]: s["drained"] for s in json.loads(out)}
    assert drained == {"east": False, "west": True}

    code, out, err = await run_cli_async(
        "sites", "drain", "--target", target, "west", "--move", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert [(m["from_site_id"], m["to_site_id"]) for m in result["moved"]] == [("west", "east")]
    assert result["site"]["drain_reason"] == "fans" and result["stayed"] == []

    code, out, err = await run_cli_async("sites", "undrain", "--target", target, "west")
    assert code == 0, err
    assert "site west undrained" in out
    code, _, err = await run_cli_async("sites", "undrain", "--target", target, "west")
    assert code == 1 and "site west is not drained" in err
    code, _, err = await run_cli_async("sites", "drain", "--target", target, "mars")
    assert code == 1 and "'mars' is not known (known sites: east, west)" in err

    code, out, _ = await run_cli_async("sites", "drain", "--help")
    assert "--move" in out and "read-write token" in out and "restart" in out
