"""Builders for test sites and workloads (real config files, real wire messages)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netrouter.client.types import ACTIVE, AcceleratorCapacity, Placement, SiteView, Workload
from netrouter.client.whatif_report import (
    Diff,
    MoveRow,
    Result,
    ScenarioResult,
    SideRow,
    SolveRow,
    WhatIfReport,
)
from netrouter.client.world import World
from netrouter.contract.site_report import SiteReport, decode_report
from netrouter.router.core import Router
from netrouter.router.service import start_server
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from site_agents.config import SiteConfig
from site_agents.report import ReportBuilder

REGIONS = ("jjj", "csj", "gba", "cy")
EVERY_CHANGE_KIND = Path(__file__).parents[1] / "data" / "every_change_kind.toml"
"""A scenario with one change of each kind, for the two sites of :func:`scenario_world`."""


def site_dict(
    site_id: str,
    *,
    side: str = "west",
    price: float = 0.3,
    pue: float = 1.15,
    latency: dict[str, float] | None = None,
    h100: int = 64,
    a100: int = 0,
    in_use: int = 0,
    interval_s: float = 0.5,
    hub: str | None = None,
    pue_cap: float = 1.25,
) -> dict[str, Any]:
    """A site config as the TOML file's data (hub: the id's first two letters)."""
    accelerators = [
        {
            "model": "H100",
            "total": h100,
            "healthy": h100,
            "in_use_by_others": in_use,
            "power_w": 700.0,
        }
    ]
    if a100:
        accelerators.append(
            {
                "model": "A100",
                "total": a100,
                "healthy": a100,
                "in_use_by_others": 0,
                "power_w": 400.0,
            }
        )
    return {
        "site": {
            "id": site_id,
            "name": site_id,
            "hub": site_id[:2] if hub is None else hub,
            "side": side,
            "pue_cap": pue_cap,
        },
        "publish": {"interval_s": interval_s},
        "accelerators": accelerators,
        "pue": {"value": pue},
        "tariff": {
            "timezone": "Asia/Shanghai",
            "prices": {"flat": price},
            "seasons": [{"months": list(range(1, 13)), "hours": {"flat": ["00-24"]}}],
        },
        "carbon": {"kg_per_kwh": 0.5},
        "latency_ms": latency if latency is not None else dict.fromkeys(REGIONS, 10.0),
    }


def site_config(site_id: str, **kwargs: Any) -> SiteConfig:
    return SiteConfig.model_validate(site_dict(site_id, **kwargs))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)


def write_site_toml(path: Path, data: dict[str, Any]) -> Path:
    """Write a site config dict as TOML (tables, then arrays of tables)."""
    lines: list[str] = []
    for section, body in data.items():
        if isinstance(body, list):
            for item in body:
                lines.append(f"[[{section}]]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in item.items()]
        else:
            lines.append(f"[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in body.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def report_of(
    config: SiteConfig, builder: ReportBuilder | None = None, *, pue_mean: float | None = None
) -> SiteReport:
    """A validated domain report, through the real wire encoding. ``pue_mean`` overrides the
    agent's sustained PUE: a week's mean, or 0 for none (an agent without one)."""
    message = (builder or ReportBuilder(config)).build()
    if pue_mean is not None:
        week = 7 * 86_400.0 if pue_mean else 0.0
        message.pue_mean, message.pue_mean_window_s, message.pue_mean_covered_s = (
            pue_mean,
            week,
            week,
        )
    return decode_report(config.site.id, message.SerializeToString())


def workload(wid: str, **kwargs: Any) -> Workload:
    defaults: dict[str, Any] = {"origin_region": "csj", "demands": {"H100": 8}, "duration_h": 1.0}
    defaults.update(kwargs)
    return Workload(id=wid, **defaults)


def placement(
    pid: str,
    site: str = "west",
    *,
    workload_id: str | None = None,
    devices: int = 8,
    **changes: Any,
) -> Placement:
    """An active placement of ``devices`` H100 at ``site`` for the workload ``workload_id``
    (default ``w-PID``), with fixed energy, cost and latency figures; ``changes`` override."""
    fields: dict[str, Any] = {
        "placement_id": pid,
        "workload": workload(workload_id or f"w-{pid}"),
        "site_id": site,
        "accelerator_model": "H100",
        "devices": devices,
        "energy_kwh": 1.0,
        "energy_cost_yuan": 0.5,
        "cost_per_hour_yuan": 0.5,
        "carbon_kg": 0.4,
        "latency_ms": 3.0,
        "explanation": "test",
        "state": ACTIVE,
        "created_at": 0.0,
    }
    fields.update(changes)
    return Placement(**fields)


def scenario_site_configs() -> tuple[SiteConfig, SiteConfig]:
    """Dear, near ``east`` (hub ``ea``) and cheap, far ``west`` (hub ``we``), 32 H100 each."""
    east = site_config("east", side="east", price=1.0, h100=32, latency={"csj": 3.0, "gba": 8.0})
    west = site_config("west", price=0.3, h100=32, latency={"csj": 20.0, "gba": 25.0})
    return east, west


def scenario_registry() -> SiteRegistry:
    """A registry that heard once from each of :func:`scenario_site_configs`' sites, with a
    TTL longer than any test (the CLI's subprocesses start slowly on a loaded machine)."""
    registry = SiteRegistry(min_ttl_s=600.0)
    for config in scenario_site_configs():
        registry.apply_report(report_of(config))
    return registry


OUTAGE = '[[changes]]\nkind = "site_down"\nsites = ["west"]\n'
"""A scenario: the site ``west`` fails."""


def scenario_world() -> World:
    """The two sites of :func:`scenario_site_configs`, three training jobs and two chats."""
    reports = {r.site_id: r for r in map(report_of, scenario_site_configs())}
    work = [workload(f"train-{i}", duration_h=4.0) for i in range(3)]
    work += [workload(f"chat-{i}", latency_slo_ms=10.0) for i in range(2)]
    return World(
        at=max(r.timestamp for r in reports.values()),
        reports=reports,
        up=set(reports),
        links=[],
        workloads=work,
    )


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait until ``predicate()`` holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def run_cli(
    module: str, *args: str, timeout: float = 120, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m MODULE ARGS...`` (the console scripts) and capture its text output;
    ``env``: variables set for it on top of this process's."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )


async def run_cli_async(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run ``python -m netrouter ARGS...`` without blocking the event loop; its exit code,
    stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "netrouter",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@dataclass
class Served:
    """A router on a real gRPC server (port 0) over a real SQLite file."""

    router: Router
    registry: SiteRegistry
    target: str


@contextlib.asynccontextmanager
async def serve_router(
    registry: SiteRegistry, db: Path, **server_options: Any
) -> AsyncIterator[Served]:
    """Serve a router over ``registry`` (sites fed directly, no MQTT) on a free port;
    ``server_options`` go to :func:`~netrouter.router.service.start_server` (TLS, interceptors)."""
    store = PlacementStore(db)
    router = Router(registry=registry, store=store)
    server, port, _ = await start_server(router, "127.0.0.1:0", **server_options)
    try:
        yield Served(router=router, registry=registry, target=f"127.0.0.1:{port}")
    finally:
        await server.stop(None)
        store.close()


def whatif_result(cost_per_hour: float = 10.0, west_devices: int = 6) -> Result:
    """A what-if state costing ``cost_per_hour`` with ``west_devices`` of 8 in the west."""
    return Result(
        cost_yuan=cost_per_hour * 4,
        cost_per_hour_yuan=cost_per_hour,
        cost_per_day_yuan=cost_per_hour * 24,
        energy_kwh=100.0,
        energy_per_day_kwh=600.0,
        carbon_kg=50.0,
        placed=4,
        unplaced=0,
        slo_violations=0,
        sides={"west": SideRow(devices=west_devices), "east": SideRow(devices=8 - west_devices)},
        sites=[],
        latencies_ms=[],
        where={},
        unplaced_work=[],
        solve=SolveRow(
            objective=1.0, bound=1.0, gap=0.0, status="OPTIMAL", method="cp-sat", wall_s=0.1
        ),
    )


def whatif_report(moves: int = 0, name: str = "guian-outage") -> WhatIfReport:
    """A baseline and one scenario ``name`` that moves ``moves`` workloads off guian."""
    diff = Diff(
        cost_yuan=8.0,
        cost_per_hour_yuan=2.0,
        cost_per_day_yuan=48.0,
        energy_kwh=1.5,
        carbon_kg=0.5,
        placed=0,
        unplaced=0,
        slo_violations=0,
        west_share_delta=-0.25,
        moved=moves,
        flows=[],
        added=0,
        removed=0,
        moves=[
            MoveRow(workload_id=f"w{i}", from_site="guian", to_site="wuhu", reason="guian is down")
            for i in range(moves)
        ],
    )
    outage = ScenarioResult(name=name, result=whatif_result(12.0, 4), diff=diff)
    return WhatIfReport(taken_at=0.0, at=0.0, baseline=whatif_result(10.0, 6), scenarios=[outage])


def flagged_site_view() -> SiteView:
    """West as the router shows a shaped site whose agent sees placement ids: 19 of 24 H100
    free (two whole 8-GPU nodes and one with 3 free), two placements of ours it does not
    show running (p1, p2) and one id it runs that the router does not know (stray)."""
    h100 = AcceleratorCapacity(
        model="H100", total=24, healthy=24, in_use_by_others=0, placed=0, free=19,
        power_w=700.0, node_size=8, nodes_by_free=(0, 0, 0, 1, 0, 0, 0, 0, 2),
    )  # fmt: skip
    return SiteView(
        site_id="west", labels=report_of(site_config("west")).labels, up=True,
        down_reason="", report_age_s=1.0, pue=1.1, price_now_yuan_per_kwh=0.3,
        carbon_kg_per_kwh=0.5, accelerators=(h100,), latencies=(), sees_placements=True,
        not_running=("p1", "p2"), unknown_running=("stray",),
    )  # fmt: skip
