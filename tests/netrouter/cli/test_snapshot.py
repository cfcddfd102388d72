"""`netrouter snapshot` saves a real router's state to a file the what-ifs load."""

from __future__ import annotations

from pathlib import Path

import pytest

from netrouter.planning.whatif import load_snapshot
from tests.helpers.factories import run_cli_async

pytestmark = pytest.mark.mqtt


async def test_snapshot_saves_every_site_and_says_so(target: str, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    code, _, err = await run_cli_async("snapshot", "--target", target, "-o", str(state))
    assert code == 0, err
    assert f"saved 2 sites and 0 active placements to {state}" in " ".join(err.split())
    snap = load_snapshot(state)
    assert sorted(r.site_id for r in snap.site_reports) == ["east", "west"]
    assert not snap.placements


async def test_a_file_that_cannot_be_written_is_named(target: str, tmp_path: Path) -> None:
    where = tmp_path / "no-such-folder" / "state.json"
    code, _, err = await run_cli_async("snapshot", "--target", target, "-o", str(where))
    assert code != 0
    assert "cannot write" in err
    assert not where.exists()
