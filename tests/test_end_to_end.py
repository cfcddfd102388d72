"""End to end over a real broker: agent processes → MQTT → router → gRPC → client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from netrouter.client.router_client import RouterClient
from netrouter.contract.broker import BrokerAddress
from netrouter.router.app import RouterApp, ServeSettings
from tests.helpers.exporter_text import Device, Pod, dcgm_text, kube_state_metrics_text
from tests.helpers.factories import run_cli, site_dict, until, workload, write_site_toml
from tests.helpers.prometheus import Exporter, Prometheus

pytestmark = pytest.mark.mqtt

SITES = {
    # The dearest, but 3 ms from 长三角.
    "near": site_dict("near", side="east", price=1.0, pue=1.2, latency={"csj": 3.0}),
    # Cheaper and within a 10 ms SLO: where SLO-bound work should go.
    "west": site_dict("west", side="west", price=0.3, pue=1.15, latency={"csj": 8.0}),
    # Cheapest of all but above the workloads' PUE cap and its hub's.
    "hot": site_dict("hot", side="west", price=0.1, pue=1.4, latency={"csj": 8.0}),
}


def _agent(config: Path, broker: BrokerAddress) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "site_agents", "run", "--config", str(config), "--mqtt", broker.url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def agents(
    tmp_path: Path,
) -> Iterator[Callable[[BrokerAddress], dict[str, subprocess.Popen[bytes]]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(broker: BrokerAddress) -> dict[str, subprocess.Popen[bytes]]:
        procs = {}
        for sid, data in SITES.items():
            procs[sid] = _agent(write_site_toml(tmp_path / f"{sid}.toml", data), broker)
            started.append(procs[sid])
        return procs

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(10)


def _settings(broker: BrokerAddress, db: Path) -> ServeSettings:
    return ServeSettings(mqtt=broker, listen="127.0.0.1:0", db_path=db, shutdown_grace_s=1.0)


async def test_place_failover_by_last_will_and_restart(
    broker: BrokerAddress,
    agents: Callable[[BrokerAddress], dict[str, subprocess.Popen[bytes]]],
    tmp_path: Path,
) -> None:
    """Cheapest feasible site wins; a killed agent's work moves (a watcher sees it);
    a restarted router has every placement where it was moved to."""
    db = tmp_path / "router.db"
    procs = agents(broker)
    slo_work = {"latency_slo_ms": 10.0, "max_pue": 1.25, "demands": {"H100": 8}}
    async with RouterApp(_settings(broker, db)) as app:
        await until(lambda: len(app.registry.up_reports()) == 3, "three sites up")
        async with RouterClient(app.target) as client:
            events = []

            async def watch() -> None:
                # The store is new: watching from its start cannot miss the first event,
                # however late this task gets to subscribe.
                async for event in client.watch(from_start=True):
                    events.append(event)

            watcher = asyncio.create_task(watch())
            first = await client.place([workload("first", **slo_work)])
            assert [p.site_id for p in first.placements] == ["west"]
            # Over its hub's cap as well (the agent's mean, 1.40 > 1.25): that rules it out.
            assert (
                "sustained PUE 1.40 above hub ho's cap 1.25 at hot"
                in first.placements[0].explanation
            )
            await until(lambda: len(events) == 1, "the placed event")

            os.kill(procs["west"].pid, signal.SIGKILL)
            await until(lambda: len(events) == 2, "the moved event after west's last will")
            moved = events[1]
            assert moved.kind == "moved" and moved.from_site_id == "west"
            assert moved.placement.site_id == "near"
            assert moved.placement.placement_id == first.placements[0].placement_id
            assert "last will" in moved.reason
            second = await client.place([workload("second", **slo_work)])
            assert [p.site_id for p in second.placements] == ["near"]
            views = {s.site_id: s for s in await client.list_sites()}
            assert not views["west"].up and views["near"].up
            before = sorted((p.placement_id, p.site_id) for p in await client.list_placements())
            watcher.cancel()

    async with RouterApp(_settings(broker, db)) as app:
        await until(lambda: app.registry.liveness("near").up, "near back up after restart")
        async with RouterClient(app.target) as client:
            after = sorted((p.placement_id, p.site_id) for p in await client.list_placements())
            assert (
                after
                == before
                == sorted(
                    [
                        (first.placements[0].placement_id, "near"),
                        (second.placements[0].placement_id, "near"),
                    ]
                )
            )
            # West's retained 'offline' keeps it down for the new router too.
            assert not app.registry.liveness("west").up
            # Both placements hold devices at near: 64 − 2 × 8 H100 free.
            views = {s.site_id: s for s in await client.list_sites()}
            assert views["near"].accelerators[0].free == 48
            # The whole history is there for a watcher starting from the beginning.
            history = []
            async for event in client.watch(from_start=True):
                history.append((event.kind, event.placement.site_id))
                if len(history) == 3:
                    break
            assert history == [("placed", "west"), ("moved", "near"), ("placed", "near")]


@contextlib.asynccontextmanager
async def _west_from_prometheus(
    url: str, broker: BrokerAddress, tmp_path: Path
) -> AsyncIterator[tuple[RouterApp, RouterClient]]:
    """West's agent reading its site from the Prometheus at ``url``, near's from its
    config, a router hearing both over ``broker``, and a client of it."""
    west = write_site_toml(tmp_path / "west.toml", SITES["west"])
    with west.open("a") as f:
        f.write(f'\n[inventory]\nsource = "prometheus"\n\n[inventory.prometheus]\nurl = "{url}"\n')
    near = write_site_toml(tmp_path / "near.toml", SITES["near"])
    procs = [_agent(west, broker), _agent(near, broker)]
    try:
        async with RouterApp(_settings(broker, tmp_path / "router.db")) as app:
            await until(lambda: len(app.registry.up_reports()) == 2, "two sites up")
            async with RouterClient(app.target) as client:
                yield app, client
    finally:
        for p in procs:
            p.kill()
            p.wait(10)


@pytest.mark.prometheus
@pytest.mark.slow
async def test_a_site_read_from_prometheus_refuses_work_no_node_can_hold(
    broker: BrokerAddress,
    tmp_path: Path,
    prometheus: Callable[..., Prometheus],
    new_exporter: Callable[..., Exporter],
) -> None:
    """West's agent reads its site from a real Prometheus scraping a dcgm-exporter: 8 nodes
    of 8 H100, 7 on each busy with other teams' pods, so 8 are free, one per node. Through
    the broker, the router refuses West for an 8-GPU job (near, dearer, takes it, and the
    placement says why), West takes eight 1-GPU jobs, and 'netrouter sites' shows its
    nodes."""
    busy = [Device(pod=Pod("team-a", f"train-{i}", "main")) for i in range(7)]
    dcgm = new_exporter(dcgm_text({f"gpu-{n:02d}": [*busy, Device()] for n in range(8)}))
    server = prometheus(dcgm)
    server.wait_for("count(DCGM_FI_DEV_GPU_TEMP)", lambda r: bool(r) and r[0]["value"][1] == "64")
    async with _west_from_prometheus(server.url, broker, tmp_path) as (app, client):
        (big,) = (await client.place([workload("big")])).placements
        assert big.site_id == "near"
        assert "no node with 8 free H100; largest 1 at west" in big.explanation
        table = await asyncio.to_thread(run_cli, "netrouter", "sites", "--target", app.target)
        assert "H100 8/64 (0 whole of 8, 8×1)" in table.stdout, table.stdout
        for i in range(8):
            one = await client.place([workload(f"one{i}", demands={"H100": 1})])
            assert [p.site_id for p in one.placements] == ["west"]


@pytest.mark.prometheus
@pytest.mark.slow
async def test_work_asking_for_one_interconnect_domain_gets_one(
    broker: BrokerAddress,
    tmp_path: Path,
    prometheus: Callable[..., Prometheus],
    new_exporter: Callable[..., Exporter],
) -> None:
    """West's Prometheus sees 10 idle nodes of 8 H100 and, through kube-state-metrics'
    node labels, their NVLink cliques: 4 nodes in rack-1, 3 in rack-2, 2 in rack-3 and one
    in none. A 40-GPU job asking for one domain (5 whole nodes) goes to near, saying why;
    a 32-GPU one takes rack-1 at West; 'netrouter sites' shows the domains left; and a
    40-GPU job that does not ask takes West's other whole nodes across racks."""
    nodes = {f"gpu-{n:02d}": [Device()] * 8 for n in range(10)}
    racks = ["rack-1"] * 4 + ["rack-2"] * 3 + ["rack-3"] * 2
    cliques = {node: f"c0ffee.{rack}" for node, rack in zip(nodes, racks, strict=False)}
    dcgm = new_exporter(dcgm_text(nodes), job="dcgm")
    ksm = new_exporter(
        kube_state_metrics_text(nodes, dict.fromkeys(nodes, "nvidia_com_gpu"), cliques),
        job="ksm",
    )
    server = prometheus(dcgm, ksm)
    server.wait_for("count(kube_node_labels)", lambda r: bool(r) and r[0]["value"][1] == "10")
    server.wait_for("count(DCGM_FI_DEV_GPU_TEMP)", lambda r: bool(r) and r[0]["value"][1] == "80")
    async with _west_from_prometheus(server.url, broker, tmp_path) as (app, client):
        five = workload("five", demands={"H100": 40}, one_domain=True)
        (placed,) = (await client.place([five])).placements
        assert placed.site_id == "near"
        assert (
            "needs 5 whole free nodes of 8 H100 in one interconnect domain; "
            "the most in one is 4 (10 whole free in all) at west"
        ) in placed.explanation
        four = workload("four", demands={"H100": 32}, one_domain=True)
        assert [p.site_id for p in (await client.place([four])).placements] == ["west"]
        table = await asyncio.to_thread(run_cli, "netrouter", "sites", "--target", app.target)
        assert "H100 48/80 (6 whole of 8; 3 whole in one domain of up to 4)" in (table.stdout), (
            table.stdout
        )
        spread = workload("spread", demands={"H100": 40})
        assert [p.site_id for p in (await client.place([spread])).placements] == ["west"]
