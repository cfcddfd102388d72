"""`netrouter watch` against a real router fed by real agents over MQTT, and against none."""

from __future__ import annotations

import pytest

from netrouter.cli.embedded_broker import free_port
from tests.helpers.factories import run_cli_async


@pytest.mark.mqtt
async def test_watch_after_an_event_not_yet_committed_exits_2(target: str) -> None:
    """--after past the last event is refused at once (exit 2) naming the last event,
    instead of printing nothing until the ids catch up."""
    code, out, err = await run_cli_async("watch", "--target", target, "--after", "99999")
    assert code == 2
    assert out == ""
    assert "--after 99999 is past the last event (0); resume from 0 or less" in err
    assert "or use --from-start" in err


async def test_watch_with_no_router_there_exits_1_naming_it() -> None:
    """Nothing listening: watch gives up as other commands do (exit 1, the target named)
    instead of waiting silently forever."""
    dead = f"127.0.0.1:{free_port()}"
    code, out, err = await run_cli_async("watch", "--target", dead, timeout=30)
    assert code == 1
    assert out == ""
    assert f"cannot reach a router at {dead}" in err
    assert "netrouter serve" in err
