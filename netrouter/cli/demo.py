"""``netrouter demo``: the whole system on the 10 national clusters, in one process.

An MQTT broker (embedded unless one is given), the router on a free port, one agent per
cluster from examples/sites/, then a seeded batch from the real traces placed through the
gRPC client, compared with sending every workload to its nearest site.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiomqtt

from netrouter.cli.embedded_broker import EmbeddedBroker
from netrouter.client.router_client import RouterClient
from netrouter.client.types import PlaceResult, SiteView
from netrouter.contract.broker import BrokerAddress, mqtt_client
from netrouter.contract.topics import Topics
from netrouter.planning.traces import EXAMPLES, TraceFiles, demo_batch, summarise
from netrouter.planning.whatif import save_snapshot
from netrouter.router.app import RouterApp, ServeSettings
from netrouter.router.core import RouterSettings
from site_agents.config import load_site_configs
from site_agents.publisher import SiteAgent
from solver import SolverConfig, nearest_site

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteRow:
    """One site's share of a plan."""

    site_id: str
    side: str
    pue: float
    price_now: float
    devices: dict[str, int]
    workloads: int
    cost_per_hour_yuan: float
    energy_kwh: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyTotals:
    """A plan's totals for the batch."""

    placed: int
    unplaced: int
    energy_cost_yuan: float
    cost_per_hour_yuan: float
    energy_kwh: float
    carbon_kg: float
    west_share: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoReport:
    """What the demo prints."""

    workloads: dict[str, int]
    rows: list[SiteRow]
    optimizer: PolicyTotals
    nearest: PolicyTotals
    solve_status: str
    solve_gap: float
    solve_wall_s: float
    elapsed_s: float

    @property
    def saving(self) -> float:
        """Fraction of the nearest-site energy cost the optimizer saves."""
        base = self.nearest.energy_cost_yuan
        return (base - self.optimizer.energy_cost_yuan) / base if base else 0.0


@contextlib.asynccontextmanager
async def _broker(mqtt: BrokerAddress | None) -> AsyncIterator[BrokerAddress]:
    if mqtt is not None:
        yield mqtt
        return
    async with EmbeddedBroker() as broker:
        yield broker.address


def _side_of(sites: list[SiteView]) -> dict[str, str]:
    return {s.site_id: s.labels.side for s in sites}


class _Placed(Protocol):
    """What a placement and a solver assignment both say about where work went."""

    @property
    def site_id(self) -> str: ...
    @property
    def devices(self) -> int: ...
    @property
    def energy_cost_yuan(self) -> float: ...
    @property
    def cost_per_hour_yuan(self) -> float: ...
    @property
    def energy_kwh(self) -> float: ...
    @property
    def carbon_kg(self) -> float: ...


def _totals(placed: Sequence[_Placed], unplaced: int, side: dict[str, str]) -> PolicyTotals:
    devices = sum(p.devices for p in placed)
    west = sum(p.devices for p in placed if side.get(p.site_id) == "west")
    return PolicyTotals(
        placed=len(placed),
        unplaced=unplaced,
        energy_cost_yuan=sum(p.energy_cost_yuan for p in placed),
        cost_per_hour_yuan=sum(p.cost_per_hour_yuan for p in placed),
        energy_kwh=sum(p.energy_kwh for p in placed),
        carbon_kg=sum(p.carbon_kg for p in placed),
        west_share=west / devices if devices else 0.0,
    )


async def _clear_retained(broker: BrokerAddress, topics: Topics, site_ids: list[str]) -> None:
    """Leave nothing of the demo on someone's broker: an empty retained message clears
    each of its topics."""
    try:
        async with mqtt_client(broker) as client:
            for site_id in site_ids:
                for topic in (topics.report(site_id), topics.status(site_id)):
                    await client.publish(topic, b"", qos=1, retain=True)
    except aiomqtt.MqttError as exc:
        log.warning("could not clear the demo's retained messages under %s: %s", topics.prefix, exc)


async def run_demo(
    *,
    mqtt: BrokerAddress | None = None,
    seed: int = 7,
    jobs: int = 300,
    inference_scale: float = 100.0,
    sites_dir: Path = EXAMPLES / "sites",
    traces: TraceFiles | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    snapshot_path: Path | None = None,
) -> DemoReport:
    """Run the whole demo and return its figures (``snapshot_path``: also save the
    router's state after placing, for offline what-ifs)."""
    started = time.perf_counter()
    configs = load_site_configs(sites_dir)
    batch = demo_batch(
        traces or TraceFiles.bundled(EXAMPLES),
        seed=seed,
        jobs=jobs,
        inference_scale=inference_scale,
    )
    # Topics of its own: on a deployment's broker the demo never touches the real sites.
    topics = Topics(f"netrouter-demo/{uuid.uuid4().hex[:12]}/v1")
    with tempfile.TemporaryDirectory(prefix="netrouter-demo-") as tmp:
        async with _broker(mqtt) as broker:
            progress(f"MQTT broker at {broker.url}, topics under {topics.prefix}")
            settings = ServeSettings(
                mqtt=broker,
                topics=topics,
                listen="127.0.0.1:0",
                db_path=Path(tmp) / "demo.db",
                # Within 0.1% of the proven bound is answer enough for a first look (the
                # router's default, 0.01%, searches on for most of its time limit here).
                router=RouterSettings(
                    solver=SolverConfig(time_limit_s=20.0, num_workers=2, relative_gap_limit=1e-3)
                ),
                shutdown_grace_s=1.0,
            )
            # The agents outlive the router: their last wills on the way out would
            # otherwise set off a failover of the demo's placements.
            stop = asyncio.Event()
            agents = [SiteAgent(c, broker, topics=topics) for c in configs]
            tasks = [asyncio.create_task(a.run(stop), name=f"agent-{a.site_id}") for a in agents]
            try:
                async with RouterApp(settings) as app:
                    progress(f"router serving gRPC on {app.target}")
                    await _wait_sites_up(app, len(configs), progress)
                    progress(f"placing {len(batch)} workloads from the Alibaba and Azure traces")
                    async with RouterClient(app.target) as client:
                        result = await client.place(batch)
                        sites = await client.list_sites()
                        if snapshot_path is not None:
                            save_snapshot(await client.snapshot(), snapshot_path)
                            progress(f"state saved to {snapshot_path}")
                    side = _side_of(sites)
                    baseline = nearest_site(app.router.problem_for(batch)) if app.router else None
            finally:
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
                if mqtt is not None:
                    await _clear_retained(broker, topics, [c.site.id for c in configs])
    assert baseline is not None
    rows = _rows(result, sites)
    return DemoReport(
        workloads=summarise(batch),
        rows=rows,
        optimizer=_totals(result.placements, len(result.unplaced), side),
        nearest=_totals(baseline.assignments, len(baseline.unplaced), side),
        solve_status=result.solve.status,
        solve_gap=result.solve.gap,
        solve_wall_s=result.solve.wall_s,
        elapsed_s=time.perf_counter() - started,
    )


async def _wait_sites_up(app: RouterApp, expected: int, progress: Callable[[str], None]) -> None:
    deadline = time.monotonic() + 30.0
    while True:
        up = len(app.registry.up_reports())
        if up >= expected:
            progress(f"{up}/{expected} sites up")
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {up} of {expected} sites reported within 30 s")
        await asyncio.sleep(0.05)


def _rows(result: PlaceResult, sites: list[SiteView]) -> list[SiteRow]:
    devices: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    count: dict[str, int] = defaultdict(int)
    cost: dict[str, float] = defaultdict(float)
    energy: dict[str, float] = defaultdict(float)
    for p in result.placements:
        devices[p.site_id][p.accelerator_model] += p.devices
        count[p.site_id] += 1
        cost[p.site_id] += p.cost_per_hour_yuan
        energy[p.site_id] += p.energy_kwh
    return [
        SiteRow(
            site_id=s.site_id,
            side=s.labels.side,
            pue=s.pue,
            price_now=s.price_now_yuan_per_kwh,
            devices=dict(devices[s.site_id]),
            workloads=count[s.site_id],
            cost_per_hour_yuan=cost[s.site_id],
            energy_kwh=energy[s.site_id],
        )
        for s in sites
    ]
