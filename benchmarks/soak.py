"""Soak: simulated agents reporting over a real broker while clients place and release.

    python benchmarks/soak.py --minutes 10 --json
    python benchmarks/soak.py --minutes 1 --agents 500 --interval-s 0.1 --json --profile

Starts Mosquitto on loopback when installed (else the embedded broker), a router in a
process of its own (the same ``RouterApp`` that ``netrouter serve`` runs: gRPC on a free
port, SQLite in a temporary directory), ``--agents`` simulated site agents in another
process (one MQTT connection each, with its last will, publishing a valid retained
``SiteReport`` at QoS 1 every ``--interval-s``, numbered per boot) and ``--clients``
concurrent gRPC loops in a third that place single workloads and release them again,
each keeping up to ``WINDOW`` placements active. The router's memory is sampled every
``--sample-s``.

Prints ``{"reports_per_s", "placements_per_s", "p99_ms", "rss_growth_mb", "lost",
"double_booked", ...}``: reports_per_s counts reports the router applied over the run;
``lost`` counts acknowledged placements missing from the store at the end, plus released
ones still active; ``double_booked`` counts (site, model) pools whose active placements
exceed the reported capacity; rss_growth_mb is the router's resident memory at the end
minus after the first fifth of the run. Also: reports published, rejected (by reason) and
never applied (``reports_unapplied``: dropped on the way, counted once the router has
caught up), the CPU shares of the router and of the agents' process, and with
``--profile`` where the router's main thread spends its time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import multiprocessing as mp
import pstats
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.failover import broker as start_broker
from benchmarks.failover import mosquitto_binary
from benchmarks.procfs import cpu_seconds, rss_mb
from netrouter.contract.broker import BrokerAddress
from netrouter.contract.site_report import DEFAULT_TIMEZONE
from site_agents.config import MIN_INTERVAL_S

H100_PER_SITE = 64
WINDOW = 20
"""Placements each client loop keeps active; it releases its oldest beyond that."""
HUBS = ("nm", "gz", "gs", "nx", "jjj", "csj", "gba", "cy")


def site_config(index: int, interval_s: float) -> Any:
    """The config of simulated site ``index`` (what its agent would load)."""
    from site_agents.config import SiteConfig

    price = 0.3 + 0.01 * (index % 50)
    return SiteConfig.model_validate(
        {
            "site": {
                "id": f"soak{index:04d}",
                "name": f"soak {index}",
                "hub": HUBS[index % len(HUBS)],
                "side": "west" if index % 2 else "east",
                "pue_cap": 1.3,
            },
            "publish": {"interval_s": interval_s},
            "accelerators": [
                {
                    "model": "H100",
                    "total": H100_PER_SITE,
                    "healthy": H100_PER_SITE,
                    "in_use_by_others": 0,
                    "power_w": 700.0,
                }
            ],
            "pue": {"value": 1.15 + 0.001 * (index % 100)},
            "tariff": {
                "timezone": DEFAULT_TIMEZONE,
                "prices": {"flat": price},
                "seasons": [{"months": list(range(1, 13)), "hours": {"flat": ["00-24"]}}],
            },
            "carbon": {"kg_per_kwh": 0.5},
            "latency_ms": {"jjj": 15.0, "csj": 20.0, "gba": 25.0, "cy": 18.0},
        }
    )


# --- the router, in a process of its own ---------------------------------------------------


def _router_process(address: BrokerAddress, db: str, conn: Connection, profile: bool) -> None:
    asyncio.run(_router(address, Path(db), conn, profile))


async def _router(address: BrokerAddress, db: Path, conn: Connection, profile: bool) -> None:
    """Serve until the parent says ``stop``; answer ``stats`` (and ``profile_on``)."""
    from netrouter.router.app import RouterApp, ServeSettings

    settings = ServeSettings(mqtt=address, listen="127.0.0.1:0", db_path=db, hold_off_s=0.0)
    profiler = cProfile.Profile() if profile else None
    loop = asyncio.get_running_loop()
    async with RouterApp(settings) as app:
        conn.send({"target": app.target})
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stats":
                conn.send(
                    {
                        "accepted": app.telemetry.accepted,
                        "rejected": dict(app.telemetry.rejected),
                        "up": len(app.registry.up_reports()),
                    }
                )
            elif command == "profile_on" and profiler is not None:
                profiler.enable()
            elif command == "stop":
                if profiler is not None:
                    profiler.disable()
                break
    conn.send({"profile": _profile_summary(profiler, app.telemetry.accepted)})


def _profile_summary(profiler: cProfile.Profile | None, reports: int) -> dict[str, Any] | None:
    """Microseconds per applied report in the report path, and the top functions overall."""
    if profiler is None:
        return None
    stats = pstats.Stats(profiler, stream=io.StringIO())
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    per_function: dict[str, tuple[int, float, float]] = {}
    for (path, line, name), (_, calls, tottime, cumtime, _) in raw.items():
        if "epoll" in name:
            continue  # waiting for work, not work
        label = f"{Path(path).name}:{line}({name})"
        per_function[label] = (calls, tottime, cumtime)
    total = sum(tt for _, tt, _ in per_function.values())

    def cumulative(name: str) -> dict[str, float] | None:
        hits = [v for k, v in per_function.items() if k.endswith(f"({name})")]
        if not hits:
            return None
        calls, _, cumtime = max(hits, key=lambda v: v[2])
        return {"calls": calls, "us_per_call": round(1e6 * cumtime / max(calls, 1), 1)}

    top = sorted(per_function.items(), key=lambda kv: -kv[1][1])[:15]
    return {
        "profiled_cpu_s": round(total, 2),
        "profiled_us_per_report_all_work": round(1e6 * total / max(reports, 1), 1),
        "handle": cumulative("handle"),
        "decode_report": cumulative("decode_report"),
        "apply_report": cumulative("apply_report"),
        "top_tottime": [
            {"function": k, "calls": c, "tottime_s": round(tt, 3)} for k, (c, tt, _) in top
        ],
    }


# --- simulated agents ------------------------------------------------------------------------


def _agents_process(
    address: BrokerAddress, agents: int, interval_s: float, seconds: float, out: Any
) -> None:
    out.put(_agents(address, agents, interval_s, seconds))


def _agents(
    address: BrokerAddress, agents: int, interval_s: float, seconds: float
) -> dict[str, Any]:
    """Run ``agents`` agents for ``seconds``; how many reports they published.

    Each agent has its own MQTT connection, last will and retained QoS 1 reports, as
    ``netrouter-agent`` does; they are paho clients driven from one thread through paho's
    own external-loop calls (``loop_read``, ``loop_write``, ``loop_misc``). One process of
    asyncio agents costs ~200 µs of CPU per report, which on a small machine would leave
    the router too little to measure; these cost about a third of that.
    """
    import heapq
    import selectors

    import paho.mqtt.client as paho

    from netrouter.contract.topics import DEFAULT_TOPICS, STATUS_OFFLINE, STATUS_ONLINE, AgentStatus
    from site_agents.report import ReportBuilder

    selector = selectors.DefaultSelector()
    clients: list[paho.Client] = []
    due: list[tuple[float, int]] = []
    builders = []
    errors: list[str] = []
    for index in range(agents):
        config = site_config(index, interval_s)
        builder = ReportBuilder(config)
        template = builder.collect()  # the collectors are static: read them once
        sid = config.site.id
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"soak-{sid}")
        offline = AgentStatus(STATUS_OFFLINE, builder.boot_id).payload
        client.will_set(DEFAULT_TOPICS.status(sid), offline, qos=1, retain=True)
        try:
            client.connect(address.host, address.port, keepalive=60)
        except OSError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        online = AgentStatus(STATUS_ONLINE, builder.boot_id).payload
        client.publish(DEFAULT_TOPICS.status(sid), online, qos=1, retain=True)
        selector.register(client.socket(), selectors.EVENT_READ, len(clients))
        clients.append(client)
        builders.append((builder, template, DEFAULT_TOPICS.report(sid)))
        heapq.heappush(due, (time.monotonic() + random.random() * interval_s, len(clients) - 1))
    published = 0
    deadline = time.monotonic() + seconds
    next_misc = 0.0
    while (now := time.monotonic()) < deadline:
        while due and due[0][0] <= now:
            at, k = heapq.heappop(due)
            builder, template, topic = builders[k]
            template.timestamp = time.time()
            builder.number(template)
            clients[k].publish(topic, template.SerializeToString(), qos=1, retain=True)
            published += 1
            heapq.heappush(due, (at + interval_s, k))
        for key, _ in selector.select(
            max(0.0, min(due[0][0] if due else deadline, deadline) - now)
        ):
            client = clients[key.data]
            client.loop_read()
            if client.want_write():
                client.loop_write()
        if now >= next_misc:  # keepalive pings, retries
            next_misc = now + 1.0
            for client in clients:
                client.loop_misc()
                if client.want_write():
                    client.loop_write()
    for client in clients:
        client.disconnect()
    return {
        "reports": published,
        "statuses": len(clients),  # each agent's "online"
        "failed_agents": agents - len(clients),
        "agent_errors": sorted(set(errors))[:5],
    }


# --- placing clients ---------------------------------------------------------------------------


def _clients_process(target: str, loops: int, seconds: float, out: Any) -> None:
    out.put(asyncio.run(_clients(target, loops, seconds)))


async def _clients(target: str, loops: int, seconds: float) -> dict[str, Any]:
    """Place and release from ``loops`` loops for ``seconds``; what was acknowledged."""
    from netrouter.client.errors import RouterError
    from netrouter.client.router_client import RouterClient
    from solver import Workload

    latencies: list[float] = []
    active: dict[str, tuple[str, str, int]] = {}  # placement id → (site, model, devices)
    released: set[str] = set()
    errors = Counter[str]()
    deadline = time.monotonic() + seconds

    async def loop(k: int, client: RouterClient) -> None:
        rng = random.Random(k)
        mine: list[str] = []
        i = 0
        while time.monotonic() < deadline:
            i += 1
            work = Workload(
                id=f"soak-{k}-{i}",
                origin_region=rng.choice(("jjj", "csj", "gba", "cy")),
                demands={"H100": rng.choice((1, 2, 4, 8))},
                duration_h=rng.uniform(0.5, 8.0),
            )
            started = time.perf_counter()
            try:
                result = await client.place([work])
            except RouterError as exc:
                errors[type(exc).__name__] += 1
                continue
            latencies.append(time.perf_counter() - started)
            for p in result.placements:
                active[p.placement_id] = (p.site_id, p.accelerator_model, p.devices)
                mine.append(p.placement_id)
            while len(mine) > WINDOW:
                oldest = mine.pop(0)
                try:
                    await client.release([oldest])
                except RouterError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                del active[oldest]
                released.add(oldest)

    async with RouterClient(target, timeout_s=60) as client:
        await asyncio.gather(*(loop(k, client) for k in range(loops)))
    latencies.sort()
    return {
        "placements": len(latencies),
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
        "active": active,
        "released": sorted(released),
        "errors": dict(errors),
    }


# --- the run -------------------------------------------------------------------------------------


def _audit(db: Path, clients: dict[str, Any], capacity: int) -> tuple[int, int]:
    """(lost, double-booked pools), read from the store file itself."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        states = dict(conn.execute("SELECT placement_id, state FROM placements").fetchall())
        pools = conn.execute(
            "SELECT site_id, model, SUM(devices) FROM placements WHERE state = 'active'"
            " GROUP BY site_id, model"
        ).fetchall()
    lost = sum(states.get(pid) != "active" for pid in clients["active"])
    lost += sum(states.get(pid) == "active" for pid in clients["released"])
    return lost, sum(n > capacity for _, _, n in pools)


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.minutes * 60
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        db = Path(tmp) / "router.db"
        async with start_broker() as address:
            parent, child = ctx.Pipe()
            router = ctx.Process(
                target=_router_process, args=(address, str(db), child, args.profile)
            )
            router.start()
            assert router.pid is not None
            target = parent.recv()["target"]
            out: Any = ctx.Queue()
            agents = ctx.Process(
                target=_agents_process,
                args=(address, args.agents, args.interval_s, seconds + 1, out),
            )
            agents.start()
            deadline = time.monotonic() + 60
            while True:  # every agent connected and heard before the clock starts
                parent.send("stats")
                if parent.recv()["up"] >= args.agents or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            parent.send("stats")
            start = parent.recv()
            if args.profile:
                parent.send("profile_on")
            started = time.monotonic()
            cpu_at_start = cpu_seconds(router.pid) or 0.0
            agents_cpu_at_start = cpu_seconds(agents.pid) or 0.0
            clients = ctx.Process(
                target=_clients_process, args=(target, args.clients, seconds, out)
            )
            clients.start()
            samples: list[tuple[float, float]] = []
            while time.monotonic() - started < seconds:
                samples.append((time.monotonic() - started, rss_mb(router.pid)))
                await asyncio.sleep(min(args.sample_s, max(0.0, seconds - samples[-1][0])))
            samples.append((time.monotonic() - started, rss_mb(router.pid)))
            router_cpu = (cpu_seconds(router.pid) or 0.0) - cpu_at_start
            agents_cpu = (cpu_seconds(agents.pid) or 0.0) - agents_cpu_at_start
            parent.send("stats")
            end = parent.recv()
            elapsed = time.monotonic() - started
            results = [out.get(timeout=120), out.get(timeout=120)]
            client_figures = next(r for r in results if "active" in r)
            agent_figures = next(r for r in results if "reports" in r)
            drained = await _drained(parent)
            parent.send("stop")
            profile = parent.recv()["profile"]
            for proc in (clients, agents, router):
                proc.join(30)
        lost, double_booked = _audit(db, client_figures, H100_PER_SITE)
    applied = end["accepted"] - start["accepted"]
    warm = next((rss for t, rss in samples if t >= seconds / 5), samples[0][1])
    rejected = Counter(end["rejected"])
    rejected.subtract(start["rejected"])
    return {
        "reports_per_s": round(applied / elapsed, 1),
        "placements_per_s": round(client_figures["placements"] / elapsed, 1),
        "p99_ms": _round(client_figures["p99_ms"]),
        "rss_growth_mb": round(samples[-1][1] - warm, 1),
        "lost": lost,
        "double_booked": double_booked,
        "seconds": round(elapsed, 1),
        "agents": args.agents,
        "interval_s": args.interval_s,
        "offered_reports_per_s": round(args.agents / args.interval_s, 1),
        "reports_published": agent_figures.get("reports", 0),
        "reports_applied": applied,
        "reports_rejected": {k: v for k, v in rejected.items() if v},
        # Published over the agents' whole run (they stop a second after the clock) and
        # never handled by the router once it has caught up: dropped on the way.
        "reports_unapplied": (
            agent_figures.get("reports", 0)
            + agent_figures.get("statuses", 0)
            - drained["accepted"]
            - sum(drained["rejected"].values())
        ),
        "failed_agents": agent_figures.get("failed_agents", 0),
        "agent_errors": agent_figures.get("agent_errors", []),
        "router_cpu_share": round(router_cpu / elapsed, 2),
        "agents_cpu_share": round(agents_cpu / elapsed, 2),
        # With no clients the router's CPU is all ingest: 1e6 / this is what one core of it
        # applies per second, whatever the agents and the broker leave it here.
        "router_cpu_us_per_report": (
            round(1e6 * router_cpu / applied, 1) if applied and args.clients == 0 else None
        ),
        "p50_ms": _round(client_figures["p50_ms"]),
        "place_errors": client_figures["errors"],
        "active_at_end": len(client_figures["active"]),
        "released": len(client_figures["released"]),
        "rss_mb": [round(rss, 1) for _, rss in samples],
        "broker": "mosquitto" if mosquitto_binary() else "embedded",
        "profile": profile,
    }


async def _drained(conn: Connection) -> dict[str, Any]:
    """The router's counts once it has handled everything on its way (no change in 1 s)."""
    conn.send("stats")
    last = conn.recv()
    for _ in range(30):
        await asyncio.sleep(1.0)
        conn.send("stats")
        now = conn.recv()
        if (now["accepted"], now["rejected"]) == (last["accepted"], last["rejected"]):
            break
        last = now
    return last


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--interval-s", type=float, default=1.0, help="each agent's period")
    parser.add_argument(
        "--clients", type=int, default=4, help="concurrent place/release loops (0: none)"
    )
    parser.add_argument("--sample-s", type=float, default=5.0, help="router memory sampling")
    parser.add_argument("--profile", action="store_true", help="profile the router process")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.agents < 1 or args.interval_s <= 0 or args.clients < 0:
        parser.error("--minutes, --agents and --interval-s must be positive, --clients >= 0")
    if args.interval_s < MIN_INTERVAL_S:
        parser.error(
            f"--interval-s must be >= {MIN_INTERVAL_S:g} (an agent's shortest period);"
            " for a higher rate add --agents"
        )
    figures = asyncio.run(soak(args))
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
