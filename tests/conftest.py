"""Fixtures: real MQTT brokers (Mosquitto when installed, and the embedded one), real
``netrouter serve`` and ``netrouter-agent`` processes, a real Prometheus and the exporters
it scrapes."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from netrouter.cli.embedded_broker import EmbeddedBroker
from netrouter.contract.broker import BrokerAddress
from tests.helpers.factories import Served, scenario_registry, serve_router
from tests.helpers.processes import (
    Mosquitto,
    RouterProcess,
    StartAgent,
    StartRouter,
    skip_without_mosquitto,
    tls_files,
)
from tests.helpers.prometheus import Exporter, Prometheus, skip_without_prometheus


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fuzz", "the fuzz campaign (benchmarks/fuzz.py runs it)")
    group.addoption(
        "--fuzz-cases",
        type=int,
        default=0,
        help="cases per target of the campaign (default: a few)",
    )
    group.addoption("--fuzz-only", action="append", default=[], help="only this target")
    group.addoption("--fuzz-report", default="", help="write the figures here as JSON")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running Mosquitto; skipped only when the binary is not installed."""
    skip_without_mosquitto()
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(params=["mosquitto", "embedded"])
async def broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BrokerAddress]:
    """Each MQTT test runs against Mosquitto and against the embedded broker."""
    if request.param == "mosquitto":
        skip_without_mosquitto()
        m = Mosquitto(tmp_path)
        m.start()
        try:
            yield m.address
        finally:
            m.stop()
    else:
        async with EmbeddedBroker() as embedded:
            yield embedded.address


@pytest.fixture
def persistent_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running Mosquitto that keeps retained messages across a stop and start."""
    skip_without_mosquitto()
    broker = Mosquitto(tmp_path, persistence=True)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def router_process(tmp_path: Path) -> Iterator[StartRouter]:
    """Starts ``netrouter serve`` processes (``start(broker, config="")``) and waits until
    they serve; kills whatever is left at the end."""
    started: list[RouterProcess] = []

    def start(broker: BrokerAddress, config: str = "") -> RouterProcess:
        router = RouterProcess(tmp_path, broker, config=config)
        started.append(router)
        router.start()
        router.wait_serving()
        return router

    yield start
    for router in started:
        if router.proc is not None and router.proc.poll() is None:
            router.proc.kill()
            router.proc.wait(10)


@pytest.fixture
def agent_process() -> Iterator[StartAgent]:
    """Starts real ``netrouter-agent run`` processes (``start(config_path, broker)``); kills
    whatever is left at the end (resuming stopped ones first)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(config: Path, broker: BrokerAddress) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "site_agents", "run", "--config", str(config)]
        proc = subprocess.Popen(
            [*command, "--mqtt", broker.url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.wait(10)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, str]:
    """A private CA, a server certificate for 127.0.0.1 and a client certificate."""
    return tls_files(tmp_path)


@pytest.fixture
def new_exporter() -> Iterator[Callable[..., Exporter]]:
    """Makes exporters (``new_exporter(text="", job=..., host="127.0.0.1")``; jobs default
    to ``exporter``, ``exporter2``, ...); stops them all at the end."""
    made: list[Exporter] = []

    def make(text: str = "", job: str | None = None, host: str = "127.0.0.1") -> Exporter:
        name = job or ("exporter" if not made else f"exporter{len(made) + 1}")
        e = Exporter(text, job=name, host=host)
        made.append(e)
        return e

    yield make
    for e in made:
        e.stop()


@pytest.fixture
def exporter(new_exporter: Callable[..., Exporter]) -> Exporter:
    """One exporter (job ``exporter``) serving empty text until the test sets some."""
    return new_exporter()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[..., Prometheus]]:
    """Starts a real Prometheus scraping the given exporters (``prometheus(*exporters)``)
    and waits until it is ready; skipped only when the binary is not installed. Stops
    whatever is left at the end."""
    skip_without_prometheus()
    started: list[Prometheus] = []

    def start(*exporters: Exporter) -> Prometheus:
        server = Prometheus(tmp_path, exporters)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
async def scenario_served(tmp_path: Path) -> AsyncIterator[Served]:
    """A router (gRPC on port 0) over the what-if tests' two sites, west and east."""
    async with serve_router(scenario_registry(), tmp_path / "router.db") as served:
        yield served
