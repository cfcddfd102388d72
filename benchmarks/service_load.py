"""Online placement speed: single-workload Place + Release from concurrent clients.

    python benchmarks/service_load.py --seconds 10 --json
    python benchmarks/service_load.py --target HOST:PORT --seconds 10 --json

Without ``--target`` it starts its own router in a child process (a real gRPC server over a
real SQLite file in a temporary directory) with ``--sites`` data centers of the 10 national
clusters (benchmarks/instances.py; reports fed straight into its registry, no broker) and
fills it with ``--active`` placements of trace workloads through batch ``Place`` calls.
Then ``--processes`` client processes, each running ``--clients`` ÷ ``--processes``
concurrent loops, place one trace workload and release it again, for ``--seconds``.

Prints ``{"placements_per_s", "p50_ms", "p99_ms", ...}``: placements_per_s counts completed
Place + Release pairs; the percentiles are of the Place calls as the clients saw them. The
baseline, run first by the same clients against the same server, is the rate of the
cheapest RPC there is (``GetPlacement`` of an active placement, answered from memory):
``rpc_ceiling_per_s``, and ``ratio_to_ceiling`` = 2 × placements_per_s / that (a Place and
a Release are two calls), i.e. how much of the transport's own limit placing costs.

CPU figures do not depend on what else shares the machine: ``server_cpu_ms_per_placement``
(the router process over the placing phase, per pair) and ``client_cpu_ms_per_placement``;
``health_check_server_cpu_ms`` is the server CPU of grpcio's own health check, the least
any call costs, so a pair costs the server at least twice that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks import instances
from benchmarks.procfs import cpu_seconds
from netrouter.client.router_client import RouterClient
from netrouter.contract.site_report import (
    DEFAULT_TIMEZONE,
    AcceleratorInventory,
    RegionLatency,
    SiteLabels,
    SiteReport,
    validate_report,
)
from netrouter.planning.traces import h100_equivalents
from solver import Site, Workload

BATCH = 1_000
FILL = 0.7
"""Share of the sites' devices the preloaded placements take (the rest is for churn)."""


def site_reports(count: int, active: int, seed: int) -> list[SiteReport]:
    """Reports of ``count`` sites with room for ``active`` trace workloads at ``FILL``."""
    rng = random.Random(seed)
    demand = sum(h100_equivalents(w.demands) for w in instances.workloads(2_000, rng))
    supply = demand / 2_000 * max(active, 1) / FILL
    caps = {c.hub: c.pue_cap for c in instances.clusters()}
    now = time.time()
    reports = []
    for s in instances.sites(count, supply, rng):
        report = _report(s, caps.get(s.hub, 0.0), now)
        validate_report(report)
        reports.append(report)
    return reports


def _report(s: Site, pue_cap: float, now: float) -> SiteReport:
    return SiteReport(
        site_id=s.id,
        boot_id=uuid.uuid4().hex,
        sequence=1,
        timestamp=now,
        labels=SiteLabels(name=s.id, hub=s.hub, province=s.province, side=s.side, pue_cap=pue_cap),
        accelerators=tuple(
            AcceleratorInventory(
                model=m, total=n, healthy=n, in_use_by_others=0, power_w=s.power_w[m]
            )
            for m, n in s.free.items()
        ),
        pue=s.pue,
        price_now_yuan_per_kwh=s.hourly_price[0],
        next_24h_yuan_per_kwh=tuple(s.hourly_price),
        timezone=DEFAULT_TIMEZONE,
        carbon_kg_per_kwh=s.carbon_kg_per_kwh,
        latencies=tuple(RegionLatency(region=r, rtt_ms=v) for r, v in s.latency_ms.items()),
        # Long enough that no site goes stale during the run.
        report_interval_s=86_400.0,
    )


async def serve(sites: int, active: int, seed: int, db: Path) -> None:
    """The router child: print its port, serve until stdin closes."""
    from netrouter.router.core import Router
    from netrouter.router.service import start_server
    from netrouter.router.state import SiteRegistry
    from netrouter.router.store import PlacementStore

    registry = SiteRegistry()
    for report in site_reports(sites, active, seed):
        registry.apply_report(report)
    store = PlacementStore(db)
    async with Router(registry=registry, store=store) as router:
        server, port, _ = await start_server(router, "127.0.0.1:0")
        print(f"PORT {port}", flush=True)
        await asyncio.to_thread(sys.stdin.read)
        await server.stop(1.0)
    store.close()


async def preload(target: str, active: int, seed: int) -> int:
    """Place trace workloads in batches until ``active`` are placed; return how many are."""
    rng = random.Random(seed + 1)
    placed = 0
    async with RouterClient(target, timeout_s=300.0) as client:
        placed = len(await client.list_placements())
        rounds = 0
        while placed < active and rounds < 3 * max(1, active // BATCH):
            rounds += 1
            batch = [
                replace(w, id=f"preload-{rounds}-{i}")
                for i, w in enumerate(instances.workloads(min(BATCH, active - placed), rng))
            ]
            result = await client.place(batch, queue=False)  # fill; queue nothing
            placed += len(result.placements)
    return placed


def _client_process(
    target: str,
    loops: int,
    seconds: float,
    seed: int,
    out: mp.Queue,  # type: ignore[type-arg]
    go: Any,
) -> None:
    out.put(asyncio.run(_client(target, loops, seconds, seed, out, go)))


CEILING_S = 3.0
FLOOR_CALLS = 2_000


async def _transport_floor(target: str, loops: int) -> tuple[int, float]:
    """``FLOOR_CALLS`` health checks from ``loops`` concurrent loops: the cheapest call the
    server answers (grpcio's own health service, none of the router's code). Returns the
    calls made and the seconds they took."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        await stub.Check(request)
        each = max(1, FLOOR_CALLS // loops)
        started = time.perf_counter()

        async def loop() -> None:
            for _ in range(each):
                await stub.Check(request)

        await asyncio.gather(*(loop() for _ in range(loops)))
        return each * loops, time.perf_counter() - started


async def _ceiling(client: RouterClient, loops: int, placement_id: str) -> int:
    """How many GetPlacement calls ``loops`` concurrent loops complete in CEILING_S."""
    deadline = time.perf_counter() + CEILING_S
    done = 0

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await client.get_placement(placement_id)
            done += 1

    await asyncio.gather(*(loop() for _ in range(loops)))
    return done


async def _client(
    target: str,
    loops: int,
    seconds: float,
    seed: int,
    ready: mp.Queue,  # type: ignore[type-arg]
    go: Any,
) -> dict[str, object]:
    rng = random.Random(seed)
    pool = instances.workloads(2_000, rng)
    place_ms: list[float] = []
    release_ms: list[float] = []
    unplaced = 0
    async with RouterClient(target) as client:
        some = await client.list_placements(page_size=1, limit=1)
        gets = await _ceiling(client, loops, some[0].placement_id) if some else 0
        # Every process starts placing together, so the server's CPU is measured over the
        # placing alone.
        ready.put("ready")
        await asyncio.to_thread(go.wait)
        cpu_started = time.process_time()
        deadline = time.perf_counter() + seconds

        async def loop(k: int) -> None:
            nonlocal unplaced
            i = 0
            while time.perf_counter() < deadline:
                w: Workload = replace(pool[(k * 7919 + i) % len(pool)], id=f"load-{seed}-{k}-{i}")
                i += 1
                t0 = time.perf_counter()
                # Start now or not at all: what is measured is placing, not queueing.
                result = await client.place([w], queue=False)
                t1 = time.perf_counter()
                place_ms.append((t1 - t0) * 1e3)
                if not result.placements:
                    unplaced += 1
                    continue
                await client.release([result.placements[0].placement_id])
                release_ms.append((time.perf_counter() - t1) * 1e3)

        await asyncio.gather(*(loop(k) for k in range(loops)))
        cpu_s = time.process_time() - cpu_started
    return {
        "place_ms": place_ms,
        "release_ms": release_ms,
        "unplaced": unplaced,
        "gets": gets,
        "cpu_s": cpu_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", help="HOST:PORT of a running router (default: start one)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16, help="concurrent loops in all")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--active", type=int, default=10_000, help="placements before the run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--serve", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.sites, args.active, args.seed, Path(args.serve)))
        return 0

    child: subprocess.Popen[str] | None = None
    workdir = tempfile.TemporaryDirectory(prefix="service-load-")
    try:
        target = args.target
        if target is None:
            child = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--serve",
                    str(Path(workdir.name) / "router.db"),
                    "--sites",
                    str(args.sites),
                    "--active",
                    str(args.active),
                    "--seed",
                    str(args.seed),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line.startswith("PORT "):
                raise SystemExit(f"the router did not start: {line!r}")
            target = f"127.0.0.1:{line.split()[1]}"
        started = time.perf_counter()
        active = asyncio.run(preload(target, args.active, args.seed))
        preload_s = time.perf_counter() - started

        floor_cpu = cpu_seconds(child.pid) if child is not None else None
        floor_calls, floor_s = asyncio.run(_transport_floor(target, args.clients))
        if floor_cpu is not None and child is not None:
            now_cpu = cpu_seconds(child.pid)
            floor_cpu = None if now_cpu is None else now_cpu - floor_cpu

        ctx = mp.get_context("spawn")
        out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        go = ctx.Event()
        per = max(1, args.clients // args.processes)
        procs = [
            ctx.Process(
                target=_client_process,
                args=(target, per, args.seconds, args.seed + 10 + k, out, go),
            )
            for k in range(args.processes)
        ]
        for p in procs:
            p.start()
        for _ in procs:
            out.get(timeout=120)  # each has measured the ceiling
        server_cpu = cpu_seconds(child.pid) if child is not None else None
        go.set()
        parts: list[dict[str, Any]] = [out.get(timeout=args.seconds + 120) for _ in procs]
        if server_cpu is not None and child is not None:
            now_cpu = cpu_seconds(child.pid)
            server_cpu = None if now_cpu is None else now_cpu - server_cpu
        for p in procs:
            p.join(30)
    finally:
        if child is not None:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(30)
        workdir.cleanup()

    place = np.array([x for part in parts for x in part["place_ms"]])
    release = np.array([x for part in parts for x in part["release_ms"]])
    ceiling = sum(int(part["gets"]) for part in parts) / CEILING_S
    rate = len(release) / args.seconds
    pairs = max(1, len(release))
    client_cpu = sum(float(part["cpu_s"]) for part in parts)
    figures = {
        "placements_per_s": round(rate, 1),
        "p50_ms": round(float(np.percentile(place, 50)), 3) if place.size else None,
        "p99_ms": round(float(np.percentile(place, 99)), 3) if place.size else None,
        "release_p99_ms": round(float(np.percentile(release, 99)), 3) if release.size else None,
        "rpc_ceiling_per_s": round(ceiling, 1),
        "ratio_to_ceiling": round(2 * rate / ceiling, 3) if ceiling else None,
        # CPU per Place + Release pair, whatever else shares the machine: 1,000 / the
        # server's figure is the rate it could serve with a core to itself.
        "server_cpu_ms_per_placement": (
            round(1e3 * server_cpu / pairs, 3) if server_cpu is not None else None
        ),
        "client_cpu_ms_per_placement": round(1e3 * client_cpu / pairs, 3),
        # The transport's own cost: a health check's server CPU and rate (one client
        # process). A pair is two calls, so 2 × this is the least a pair can cost.
        "health_check_server_cpu_ms": (
            round(1e3 * floor_cpu / floor_calls, 3) if floor_cpu is not None else None
        ),
        "health_checks_per_s": round(floor_calls / floor_s, 1),
        "unplaced": sum(int(part["unplaced"]) for part in parts),
        "active": active,
        "sites": args.sites,
        "clients": per * args.processes,
        "processes": args.processes,
        "seconds": args.seconds,
        "preload_s": round(preload_s, 2),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
