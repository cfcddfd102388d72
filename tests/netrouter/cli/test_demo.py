"""`netrouter demo` runs the whole system on the 10 national clusters."""

from __future__ import annotations

import json

import pytest

from tests.helpers.factories import run_cli
from tests.helpers.processes import Mosquitto

pytestmark = pytest.mark.mqtt


def _demo(*args: str) -> dict[str, object]:
    result = run_cli("netrouter", "demo", "--json", *args)
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


def _check(report: dict[str, object]) -> None:
    rows = report["rows"]
    assert isinstance(rows, list) and len(rows) == 10
    opt, near = report["optimizer"], report["nearest"]
    assert isinstance(opt, dict) and isinstance(near, dict)
    assert opt["placed"] + opt["unplaced"] == near["placed"] + near["unplaced"]
    assert opt["placed"] >= near["placed"]
    assert opt["energy_cost_yuan"] <= near["energy_cost_yuan"]
    assert sum(r["workloads"] for r in rows) == opt["placed"]
    # Wuhu runs above the workloads' PUE cap of 1.25: it must get nothing.
    assert next(r for r in rows if r["site_id"] == "wuhu")["workloads"] == 0


@pytest.mark.slow
def test_demo_with_embedded_broker() -> None:
    """With no arguments the demo starts its own broker and places the batch."""
    _check(_demo())


def test_demo_against_mosquitto(mosquitto: Mosquitto) -> None:
    """--mqtt points the demo at an external broker."""
    _check(_demo("--mqtt", mosquitto.address.url))
