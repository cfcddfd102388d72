"""The agent's publishing against real brokers: significant changes, broker restarts,
the last will on SIGKILL, TLS with a password and client certificate, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from netrouter.contract.broker import BrokerAddress, mqtt_client
from netrouter.contract.topics import STATUS_OFFLINE, AgentStatus
from netrouter.v1 import site_report_pb2 as rpb
from site_agents.collectors import FixedPue, Inventory, TimeOfUseTariff
from site_agents.config import SiteConfig
from site_agents.metrics import AgentMetrics
from site_agents.probes import TcpLatencyProbe
from site_agents.publisher import SiteAgent
from site_agents.report import Sources
from tests.helpers.factories import site_config, site_dict, until, write_site_toml
from tests.helpers.processes import (
    Mosquitto,
    mosquitto_password_file,
    skip_without_mosquitto,
    tls_files,
)

pytestmark = pytest.mark.mqtt


@dataclass
class Watcher:
    """Every message on one site's topics, as (topic, payload)."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)

    def reports(self) -> list[rpb.SiteReport]:
        out = []
        for topic, payload in self.messages:
            if topic.endswith("/report"):
                report = rpb.SiteReport()
                report.ParseFromString(payload)
                out.append(report)
        return out

    def statuses(self) -> list[str]:
        """The state of each status message (``online`` / ``offline``)."""
        return [s.state for s in self.status_messages()]

    def status_messages(self) -> list[AgentStatus]:
        return [AgentStatus.parse(p) for t, p in self.messages if t.endswith("/status")]

    async def until(self, predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; saw {self.statuses()}")
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def watch(broker: BrokerAddress, site_id: str) -> AsyncIterator[Watcher]:
    watcher = Watcher()
    async with mqtt_client(broker, identifier=f"watch-{uuid.uuid4().hex[:8]}") as client:
        await client.subscribe(f"netrouter/v1/sites/{site_id}/#", qos=1)

        async def collect() -> None:
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes | bytearray)
                watcher.messages.append((str(message.topic), bytes(payload)))

        task = asyncio.create_task(collect())
        try:
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class MutableInventory:
    """An inventory a test can change while the agent runs."""

    def __init__(self, healthy: int) -> None:
        self.healthy = healthy
        self.reads = 0
        """How often the agent has read this inventory (each read is one check)."""

    def inventory(self) -> list[Inventory]:
        self.reads += 1
        return [
            Inventory(
                model="H100",
                total=64,
                healthy=self.healthy,
                in_use_by_others=0,
                power_w=700.0,
                from_static_config=False,
            )
        ]


def _sources(config: SiteConfig, inventory: MutableInventory) -> Sources:
    return Sources(
        inventory=inventory,
        price=TimeOfUseTariff(config),
        pue=FixedPue(1.2),
        latency=TcpLatencyProbe(config),
    )


async def test_significant_change_is_published_at_once(broker: BrokerAddress) -> None:
    """With a 60 s period, losing GPUs is published within the check interval."""
    config = site_config("alpha", interval_s=60.0)
    config = config.model_copy(
        update={"publish": config.publish.model_copy(update={"check_interval_s": 0.05})}
    )
    inventory = MutableInventory(healthy=64)
    agent = SiteAgent(config, broker, sources=_sources(config, inventory))
    stop = asyncio.Event()
    async with watch(broker, "alpha") as seen:
        task = asyncio.create_task(agent.run(stop))
        await seen.until(lambda: len(seen.reports()) == 1, "the first report")
        checked = inventory.reads
        # Several more checks, each of which found nothing to publish.
        await until(lambda: inventory.reads >= checked + 3, "three more checks")
        assert agent.published == 1  # nothing changed and the period is far off
        assert len(seen.reports()) == 1
        inventory.healthy = 56  # a node's 8 GPUs fail
        await seen.until(lambda: len(seen.reports()) == 2, "the health change", timeout=2)
        second = seen.reports()[1]
        assert second.accelerators[0].healthy == 56 and second.sequence == 2
        assert agent.metrics.reports_sent.labels("health")._value.get() == 1
        stop.set()
        await asyncio.wait_for(task, 10)
        await seen.until(lambda: seen.statuses()[-1:] == ["offline"], "offline on stop")


async def test_agent_rides_out_a_mosquitto_restart(mosquitto: Mosquitto) -> None:
    """Stopping the broker does not stop the agent; it reconnects and republishes."""
    config = site_config("alpha", interval_s=0.2)
    agent = SiteAgent(config, mosquitto.address, backoff_initial_s=0.05, backoff_max_s=0.5)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        async with watch(mosquitto.address, "alpha") as seen:
            await seen.until(lambda: len(seen.reports()) >= 2, "reports before the outage")
            before = seen.reports()[-1].sequence
        mosquitto.stop()
        # Two failures: the lost connection, then at least one refused reconnection.
        await until(
            lambda: agent.metrics.publish_failures._value.get() >= 2, "a retry during the outage"
        )
        assert not task.done(), "the agent must not exit on a broker outage"
        assert agent.metrics.connected._value.get() == 0
        mosquitto.start()
        # Mosquitto runs without persistence: anything retained now was published again.
        async with watch(mosquitto.address, "alpha") as seen:
            await seen.until(
                lambda: bool(seen.reports()) and "online" in seen.statuses(),
                "the retained report and online status after the restart",
            )
            again = seen.reports()[0]
            assert again.sequence > before and again.boot_id == agent.builder.boot_id
        assert agent.connections == 2
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def _agent_process(config: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "site_agents", "run", "--config", str(config), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_last_will_is_delivered_when_the_agent_is_killed(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    path = write_site_toml(tmp_path / "alpha.toml", site_dict("alpha", interval_s=0.2))
    proc = _agent_process(path, "--mqtt", mosquitto.address.url)
    try:
        async with watch(mosquitto.address, "alpha") as seen:
            await seen.until(lambda: "online" in seen.statuses() and seen.reports(), "online")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            await seen.until(lambda: seen.statuses()[-1] == "offline", "the last will", timeout=5)
            will = seen.status_messages()[-1]
            assert will == AgentStatus(STATUS_OFFLINE, seen.reports()[-1].boot_id)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def test_sigterm_publishes_offline_and_exits_0(mosquitto: Mosquitto, tmp_path: Path) -> None:
    path = write_site_toml(tmp_path / "alpha.toml", site_dict("alpha", interval_s=0.2))
    proc = _agent_process(path, "--mqtt", mosquitto.address.url)
    try:
        async with watch(mosquitto.address, "alpha") as seen:
            await seen.until(lambda: len(seen.reports()) >= 1, "a report")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
            await seen.until(lambda: seen.statuses()[-1] == "offline", "offline")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _stderr_until(
    proc: subprocess.Popen[bytes], pattern: str, timeout: float = 20
) -> tuple[re.Match[str], list[str]]:
    """Read the process's stderr until a line matches ``pattern``: the match, the lines."""
    assert proc.stderr is not None
    lines: list[str] = []
    found: list[re.Match[str]] = []

    def read() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            lines.append(raw.decode(errors="replace"))
            match = re.search(pattern, lines[-1])
            if match:
                found.append(match)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert found, f"no line like {pattern!r} in:\n{''.join(lines)}"
    return found[0], lines


def test_metrics_port_0_serves_on_any_free_port_and_logs_it(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """``--metrics-port 0`` means what it means for the router: any free port, logged."""
    path = write_site_toml(tmp_path / "alpha.toml", site_dict("alpha", interval_s=0.2))
    proc = _agent_process(path, "--mqtt", mosquitto.address.url, "--metrics-port", "0")
    try:
        match, _ = _stderr_until(proc, r"metrics on http://0\.0\.0\.0:(\d+)/metrics")
        port = int(match.group(1))
        assert port > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert "netrouter_agent_reports_sent_total" in r.read().decode()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_no_metrics_turns_off_the_configured_port(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """``--no-metrics`` wins over ``[metrics] port`` (here a port in use, which would exit 2)."""
    with socket.create_server(("0.0.0.0", 0)) as busy:
        data = site_dict("alpha", interval_s=0.2)
        data["metrics"] = {"port": busy.getsockname()[1]}
        path = write_site_toml(tmp_path / "alpha.toml", data)
        proc = _agent_process(path, "--mqtt", mosquitto.address.url, "--no-metrics")
        try:
            _, lines = _stderr_until(proc, r"agent alpha .* connected to")
            assert not any("metrics" in line for line in lines)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture
def tls_mosquitto(tmp_path: Path) -> tuple[Mosquitto, dict[str, str]]:
    """Mosquitto with TLS (a private CA), a password file and required client certificates."""
    skip_without_mosquitto()
    files = tls_files(tmp_path)
    files["passwd"] = str(mosquitto_password_file(tmp_path / "passwd", {"agent": "s3cret pass"}))
    secret = tmp_path / "secret"
    secret.write_text("s3cret pass\n", encoding="utf-8")
    files["secret"] = str(secret)
    broker = Mosquitto(
        tmp_path,
        settings=(
            f"cafile {files['ca']}",
            f"certfile {files['server_cert']}",
            f"keyfile {files['server_key']}",
            "require_certificate true",
            f"password_file {files['passwd']}",
        ),
    )
    broker.start()
    yield broker, files  # type: ignore[misc]
    broker.stop()


def _tls_address(broker: Mosquitto, files: dict[str, str], *, password: str) -> BrokerAddress:
    """The TLS broker as user "agent" with ``password`` and the client certificate."""
    return BrokerAddress(
        host="127.0.0.1",
        port=broker.port,
        username="agent",
        password=password,
        tls=True,
        ca_file=files["ca"],
        cert_file=files["client_cert"],
        key_file=files["client_key"],
    )


async def test_tls_with_password_and_client_certificate(
    tls_mosquitto: tuple[Mosquitto, dict[str, str]], tmp_path: Path
) -> None:
    """The agent process connects with [broker] settings from its config file; a watcher
    with the same credentials sees its reports."""
    broker, files = tls_mosquitto
    data = site_dict("alpha", interval_s=0.2)
    data["broker"] = {
        "url": f"mqtts://127.0.0.1:{broker.port}",
        "username": "agent",
        "password_file": files["secret"],
        "ca_file": files["ca"],
        "cert_file": files["client_cert"],
        "key_file": files["client_key"],
    }
    path = write_site_toml(tmp_path / "alpha.toml", data)
    watcher_address = _tls_address(broker, files, password="s3cret pass")
    proc = _agent_process(path)
    try:
        async with watch(watcher_address, "alpha") as seen:
            await seen.until(lambda: len(seen.reports()) >= 1, "a report over TLS")
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


async def test_wrong_password_keeps_the_agent_retrying(
    tls_mosquitto: tuple[Mosquitto, dict[str, str]],
) -> None:
    """A refused login is retried with backoff, never connects, and never ends the agent."""
    broker, files = tls_mosquitto
    address = _tls_address(broker, files, password="wrong")
    agent = SiteAgent(site_config("alpha"), address, backoff_initial_s=0.05, backoff_max_s=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    # Polled, not slept: a loaded machine may take a while over each TLS handshake.
    await until(lambda: agent.metrics.publish_failures._value.get() >= 2, "two refused logins")
    assert not task.done() and agent.connections == 0
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_metrics_endpoint_counts_reports(broker: BrokerAddress) -> None:
    config = site_config("alpha", interval_s=0.1)
    metrics = AgentMetrics()
    server = metrics.serve(0, "127.0.0.1")
    agent = SiteAgent(config, broker, metrics=metrics)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        async with watch(broker, "alpha") as seen:
            await seen.until(lambda: len(seen.reports()) >= 3, "three reports")
        url = f"http://127.0.0.1:{server.port}/metrics"
        text = await asyncio.to_thread(
            lambda: urllib.request.urlopen(url, timeout=5).read().decode()
        )
        assert 'netrouter_agent_reports_sent_total{trigger="first"} 1.0' in text
        period = next(
            line
            for line in text.splitlines()
            if line.startswith('netrouter_agent_reports_sent_total{trigger="period"}')
        )
        assert float(period.split()[-1]) >= 2
        assert 'netrouter_agent_collector_seconds_count{collector="inventory"}' in text
        assert "netrouter_agent_connected 1.0" in text
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        server.close()


async def _skipped_checks(agent: SiteAgent, collector: str, count: int = 2) -> None:
    """Wait until the agent has skipped ``count`` reports for want of ``collector``."""
    failures = agent.metrics.collector_failures.labels(collector)
    await until(lambda: failures._value.get() >= count, f"{count} failed {collector} reads")


async def test_no_report_without_a_pue_until_one_arrives(
    broker: BrokerAddress, tmp_path: Path
) -> None:
    """A DCIM PUE with no fallback: nothing is published (and the failure is counted)
    until the DCIM writes its file; then the report goes out."""
    pue_file = tmp_path / "pue.json"
    data = site_dict("alpha", interval_s=0.1)
    data["pue"] = {"source": "file", "path": str(pue_file), "json_path": "pue", "max_age_s": 60}
    agent = SiteAgent(SiteConfig.model_validate(data), broker)
    stop = asyncio.Event()
    async with watch(broker, "alpha") as seen:
        task = asyncio.create_task(agent.run(stop))
        await seen.until(lambda: "online" in seen.statuses(), "online")
        await _skipped_checks(agent, "pue")
        assert agent.published == 0 and seen.reports() == []
        pue_file.write_text('{"pue": 1.17}', encoding="utf-8")
        await seen.until(lambda: bool(seen.reports()), "a report once the PUE exists")
        report = seen.reports()[0]
        assert (report.pue, report.pue_source) == (1.17, "file")
        stop.set()
        await asyncio.wait_for(task, 10)


class FlakyInventory(MutableInventory):
    """An inventory whose reads fail (as a driver call might) until ``broken`` is cleared."""

    def __init__(self) -> None:
        super().__init__(healthy=64)
        self.broken = True

    def inventory(self) -> list[Inventory]:
        if self.broken:
            raise RuntimeError("driver call failed")
        return super().inventory()


async def test_an_unexpected_collector_error_skips_reports_but_never_stops_the_agent(
    broker: BrokerAddress,
) -> None:
    """A failing inventory read skips the report; the agent reports once it reads again."""
    config = site_config("alpha", interval_s=0.1)
    inventory = FlakyInventory()
    agent = SiteAgent(config, broker, sources=_sources(config, inventory))
    stop = asyncio.Event()
    async with watch(broker, "alpha") as seen:
        task = asyncio.create_task(agent.run(stop))
        await seen.until(lambda: "online" in seen.statuses(), "online")
        await _skipped_checks(agent, "inventory")
        assert not task.done() and agent.published == 0 and seen.reports() == []
        inventory.broken = False
        await seen.until(lambda: bool(seen.reports()), "a report once the inventory reads")
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_tls_files_vanishing_during_an_outage_do_not_stop_the_agent(
    tmp_path: Path,
) -> None:
    """Reconnects build the TLS context again; a missing CA file is retried like an outage."""
    import trustme

    from netrouter.cli.embedded_broker import free_port

    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    address = BrokerAddress(host="127.0.0.1", port=free_port(), tls=True, ca_file=str(ca_file))
    ca_file.unlink()
    agent = SiteAgent(site_config("alpha"), address, backoff_initial_s=0.05, backoff_max_s=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await until(lambda: agent.metrics.publish_failures._value.get() >= 2, "two failed connects")
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 10)


class FakeClock:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_each_publish_is_logged_at_debug_and_a_summary_at_info(
    broker: BrokerAddress, caplog: pytest.LogCaptureFixture
) -> None:
    """Every report is a DEBUG line; once per summary interval an INFO line counts them."""
    caplog.set_level(logging.DEBUG, logger="site_agents.publisher")
    clock = FakeClock()
    agent = SiteAgent(site_config("alpha", interval_s=0.05), broker, clock=clock)
    assert agent.config.publish.summary_interval_s == 300  # the default: every 5 minutes
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await until(lambda: agent.published >= 3, "three reports")
        published = [r for r in caplog.records if "published report" in r.getMessage()]
        assert len(published) >= 3 and all(r.levelno == logging.DEBUG for r in published)
        assert "published report 1 (first) on netrouter/v1/sites/alpha/report" in (
            published[0].getMessage()
        )
        assert not [r for r in caplog.records if "sent in the last" in r.getMessage()]

        clock.now += 300
        await until(
            lambda: any("sent in the last" in r.getMessage() for r in caplog.records), "a summary"
        )
        summary = next(r for r in caplog.records if "sent in the last" in r.getMessage())
        assert summary.levelno == logging.INFO
        message = summary.getMessage()
        assert message.startswith(f"agent alpha: connected to {broker.url}; ")
        assert "reports sent in the last 5 min" in message and "; last error: none" in message
        await asyncio.sleep(0.2)  # more checks, the clock standing still: no second summary
        assert sum("sent in the last" in r.getMessage() for r in caplog.records) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_the_summary_names_the_last_error_while_the_broker_is_away(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With no broker, the summary says so: nothing sent, and why."""
    from netrouter.cli.embedded_broker import free_port

    caplog.set_level(logging.INFO, logger="site_agents.publisher")
    config = site_config("alpha")
    config = config.model_copy(
        update={"publish": config.publish.model_copy(update={"summary_interval_s": 60.0})}
    )
    clock = FakeClock()
    address = BrokerAddress(host="127.0.0.1", port=free_port())
    agent = SiteAgent(config, address, backoff_initial_s=0.05, backoff_max_s=0.1, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await until(lambda: agent.last_error is not None, "a failed connection")
        clock.now += 90
        await until(
            lambda: any("sent in the last" in r.getMessage() for r in caplog.records), "a summary"
        )
        message = next(r for r in caplog.records if "sent in the last" in r.getMessage())
        text = message.getMessage()
        assert text.startswith("agent alpha: not connected; 0 reports sent in the last 90 s")
        assert ", 0 in all; last error: 0 s ago: MQTT " in text  # it keeps failing
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
