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
