"""Failover speed: 1,000 placements on a site whose agent is killed.

    python benchmarks/failover.py --json

Starts a broker (Mosquitto when installed, else the embedded one), a router (gRPC on a free
port, SQLite in a temporary directory) and two real site-agent processes: ``victim``, the
cheaper site, and ``rescue``. It places ``--placements`` single-H100-to-8-H100 workloads in
one batch (all land on the victim), starts a watcher, then kills the victim's agent with
SIGKILL. The broker publishes its last will; the router moves every placement to the rescue
site in one batch solve and streams each move.

Prints ``{"seconds", ...}``: from the moment the last will reached an MQTT subscriber of the
benchmark to the moment the watcher received the last ``moved`` event, plus the time from
the kill, and how many moved and were evicted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiomqtt

from netrouter.cli.embedded_broker import EmbeddedBroker, free_port
from netrouter.client.router_client import RouterClient
from netrouter.contract.broker import BrokerAddress, mqtt_client
from netrouter.contract.site_report import DEFAULT_TIMEZONE
from netrouter.contract.topics import DEFAULT_TOPICS, STATUS_OFFLINE, AgentStatus
from netrouter.router.app import RouterApp, ServeSettings
from solver import Workload

SITE = """
[site]
id = "{id}"
name = "{id}"
hub = "{hub}"
side = "west"
pue_cap = 1.3

[publish]
interval_s = 2.0

[[accelerators]]
model = "H100"
total = {h100}
healthy = {h100}
in_use_by_others = 0
power_w = 700

[pue]
value = 1.15

[tariff]
timezone = "{timezone}"
prices = {{ flat = {price} }}

[[tariff.seasons]]
months = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
hours = {{ flat = ["00-24"] }}

[carbon]
kg_per_kwh = 0.5

[latency_ms]
csj = 20.0
jjj = 15.0
"""


def mosquitto_binary() -> str | None:
    """Mosquitto's path, when installed."""
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


def start_mosquitto(binary: str, conf: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@contextlib.asynccontextmanager
async def broker() -> AsyncIterator[BrokerAddress]:
    """Mosquitto on a free port when installed, else the embedded broker."""
    binary = mosquitto_binary()
    if binary is None:
        async with EmbeddedBroker() as embedded:
            yield embedded.address
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        proc = start_mosquitto(binary, conf)
        try:
            address = BrokerAddress(host="127.0.0.1", port=port)
            for _ in range(200):
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                await asyncio.sleep(0.025)
            yield address
        finally:
            proc.terminate()
            proc.wait(10)


def agent(config: Path, address: BrokerAddress) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "site_agents",
            "run",
            "--config",
            str(config),
            "--mqtt",
            address.url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run(placements: int) -> dict[str, object]:
    workdir = tempfile.TemporaryDirectory(prefix="failover-")
    tmp = Path(workdir.name)
    h100 = 8 * placements + 8
    configs = {
        "victim": SITE.format(
            id="victim", hub="nm", h100=h100, price=0.3, timezone=DEFAULT_TIMEZONE
        ),
        "rescue": SITE.format(
            id="rescue", hub="gz", h100=h100, price=0.5, timezone=DEFAULT_TIMEZONE
        ),
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        async with broker() as address:
            for name, text in configs.items():
                path = tmp / f"{name}.toml"
                path.write_text(text)
                procs[name] = agent(path, address)
            settings = ServeSettings(
                mqtt=address, listen="127.0.0.1:0", db_path=tmp / "router.db", hold_off_s=30.0
            )
            async with RouterApp(settings) as app:
                deadline = time.monotonic() + 30
                while len(app.registry.up_reports()) < 2:
                    if time.monotonic() > deadline:
                        raise SystemExit("the two site agents did not report within 30 s")
                    await asyncio.sleep(0.05)
                async with RouterClient(app.target, timeout_s=120) as client:
                    work = [
                        Workload(
                            id=f"f{i}",
                            origin_region="csj",
                            demands={"H100": 1 + i % 8},
                            duration_h=4.0,
                        )
                        for i in range(placements)
                    ]
                    placed = await client.place(work)
                    # Watch from just after the placements, not from whenever the watcher
                    # task happens to subscribe.
                    after = (await client.snapshot()).last_event_id
                    on_victim = sum(p.site_id == "victim" for p in placed.placements)
                    moved_at: list[float] = []
                    evicted = 0
                    will_at: list[float] = []
                    watching = asyncio.Event()

                    async def watch() -> None:
                        nonlocal evicted
                        async for event in client.watch(after_event_id=after):
                            if event.kind == "moved":
                                moved_at.append(time.perf_counter())
                            elif event.kind == "evicted":
                                evicted += 1
                            if len(moved_at) + evicted >= on_victim:
                                return

                    async def will() -> None:
                        async with mqtt_client(address) as sub:
                            await sub.subscribe(DEFAULT_TOPICS.status("victim"), qos=1)
                            watching.set()
                            async for message in sub.messages:
                                payload = message.payload
                                raw = payload if isinstance(payload, bytes) else b""
                                status = AgentStatus.parse(raw)
                                if status.state == STATUS_OFFLINE:
                                    will_at.append(time.perf_counter())
                                    return

                    listener = asyncio.create_task(will())
                    watcher = asyncio.create_task(watch())
                    await watching.wait()
                    await asyncio.sleep(0.3)  # the retained 'online' has come and gone
                    killed = time.perf_counter()
                    os.kill(procs["victim"].pid, signal.SIGKILL)
                    await asyncio.wait_for(watcher, 60)
                    with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                        await asyncio.wait_for(listener, 5)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
            p.wait(10)
        workdir.cleanup()
    last = max(moved_at) if moved_at else time.perf_counter()
    return {
        "seconds": round(last - will_at[0], 3) if will_at else None,
        "from_kill_s": round(last - killed, 3),
        "placements": on_victim,
        "moved": len(moved_at),
        "evicted": evicted,
        "broker": "mosquitto" if mosquitto_binary() else "embedded",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--placements", type=int, default=1_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.placements))
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>12}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
