"""The deployed security setup against a real Mosquitto: examples/deploy/mosquitto.conf and
netrouter.acl with generated certificates and a password file; agents and the router log
in over TLS, each agent may publish only as its own site, and `netrouter serve` takes it all
from flags."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiomqtt
import pytest

from netrouter.cli.embedded_broker import free_port
from netrouter.client.router_client import RouterClient
from netrouter.contract.broker import BrokerAddress, mqtt_client
from netrouter.contract.topics import DEFAULT_TOPICS, STATUS_OFFLINE, AgentStatus
from netrouter.router.config import load_router_config, serve_settings
from netrouter.router.state import SiteRegistry
from netrouter.router.telemetry import Telemetry
from site_agents.config import load_site_config
from site_agents.publisher import SiteAgent
from site_agents.report import ReportBuilder
from tests.helpers.factories import site_config, until
from tests.helpers.processes import (
    Mosquitto,
    mosquitto_password_file,
    skip_without_mosquitto,
    tls_files,
)

pytestmark = pytest.mark.mqtt

DEPLOY = Path(__file__).resolve().parents[1] / "examples" / "deploy"
ROUTER_USER = "netrouter_router"
PASSWORDS = {"alpha": "alpha pass", "beta": "beta pass", ROUTER_USER: "router pass"}


@dataclass
class SecuredBroker:
    """The example broker setup running on a free port, and the files the clients need."""

    broker: Mosquitto
    files: dict[str, str]
    router_password_file: Path

    def login(self, user: str, password: str | None = None) -> BrokerAddress:
        """The broker over TLS (trusting the test CA) as ``user``."""
        return BrokerAddress(
            host="127.0.0.1",
            port=self.broker.port,
            username=user,
            password=PASSWORDS[user] if password is None else password,
            tls=True,
            ca_file=self.files["ca"],
        )


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[SecuredBroker]:
    """examples/deploy/mosquitto.conf with its paths moved to generated files, and the
    example ACL file as it is."""
    skip_without_mosquitto()
    files = tls_files(tmp_path)
    passwd = mosquitto_password_file(tmp_path / "netrouter.passwd", PASSWORDS)
    (tmp_path / "data").mkdir()
    conf = (DEPLOY / "mosquitto.conf").read_text(encoding="utf-8")
    for deployed, here in {
        "/etc/mosquitto/netrouter.passwd": str(passwd),
        "/etc/mosquitto/netrouter.acl": str(DEPLOY / "netrouter.acl"),
        "/etc/mosquitto/certs/ca.pem": files["ca"],
        "/etc/mosquitto/certs/server.pem": files["server_cert"],
        "/etc/mosquitto/certs/server.key": files["server_key"],
        "/var/lib/mosquitto/": f"{tmp_path / 'data'}/",
    }.items():
        assert deployed in conf, f"examples/deploy/mosquitto.conf no longer names {deployed}"
        conf = conf.replace(deployed, here)
    secret = tmp_path / "router-password"
    secret.write_text(PASSWORDS[ROUTER_USER] + "\n", encoding="utf-8")
    broker = Mosquitto(tmp_path, conf=conf)
    broker.start()
    yield SecuredBroker(broker=broker, files=files, router_password_file=secret)
    broker.stop()


def _router_broker(secured: SecuredBroker, tmp_path: Path) -> BrokerAddress:
    """The router's broker address, from an [mqtt] section as an operator writes it."""
    path = tmp_path / "router.toml"
    path.write_text(
        "[mqtt]\n"
        f'url = "mqtts://127.0.0.1:{secured.broker.port}"\n'
        f'username = "{ROUTER_USER}"\n'
        f'password_file = "{secured.router_password_file}"\n'
        f'ca_file = "{secured.files["ca"]}"\n',
        encoding="utf-8",
    )
    return serve_settings(load_router_config(path)).mqtt


async def _publish(address: BrokerAddress, topic: str, payload: bytes) -> None:
    async with mqtt_client(address) as client:
        await client.publish(topic, payload, qos=1, retain=True)


def _report(site_id: str, *, claimed: str | None = None) -> bytes:
    """A valid report of ``site_id`` (saying it is ``claimed`` when given)."""
    message = ReportBuilder(site_config(site_id)).build()
    if claimed is not None:
        message.site_id = claimed
    return message.SerializeToString()


async def test_agents_publish_only_as_their_own_site(
    secured: SecuredBroker, tmp_path: Path
) -> None:
    """Over TLS with its password an agent's report reaches the router; publishing as
    another site is dropped by the broker (ACL), a payload naming another site on its own
    topic is rejected by the router, and the router's user cannot publish at all."""
    registry = SiteRegistry()
    telemetry = Telemetry(registry, _router_broker(secured, tmp_path))
    ingest = asyncio.create_task(telemetry.run())
    alpha = secured.login("alpha")
    stop = asyncio.Event()
    site_agent = SiteAgent(site_config("alpha", interval_s=0.2), alpha)
    agent = asyncio.create_task(site_agent.run(stop))
    try:
        await until(lambda: registry.report("alpha") is not None, "alpha's report", 10)
        assert registry.liveness("alpha").up

        # A stray agent with alpha's login says 'offline': the ACL lets alpha read its own
        # status, and the agent answers with its own 'online'.
        stray = AgentStatus(STATUS_OFFLINE, "stray").payload.encode()
        await _publish(alpha, DEFAULT_TOPICS.status("alpha"), stray)
        await until(lambda: site_agent.answered_offline == 1, "the agent answering", 10)
        assert registry.liveness("alpha").up

        # In order, each acknowledged by the broker before the next is sent: whatever the
        # broker let through is delivered before the last, valid, message.
        await _publish(alpha, DEFAULT_TOPICS.report("beta"), _report("beta"))
        await _publish(secured.login(ROUTER_USER), DEFAULT_TOPICS.report("gamma"), _report("gamma"))
        await _publish(alpha, DEFAULT_TOPICS.report("alpha"), _report("beta", claimed="beta"))
        accepted = telemetry.accepted
        await _publish(alpha, DEFAULT_TOPICS.report("alpha"), _report("alpha"))
        await until(lambda: telemetry.accepted > accepted, "alpha's last report")
        assert registry.report("beta") is None and registry.report("gamma") is None
        assert telemetry.rejected["site_mismatch"] == 1

        # The same beta report from beta's own login is applied: the refusals were the ACL's.
        await _publish(secured.login("beta"), DEFAULT_TOPICS.report("beta"), _report("beta"))
        await until(lambda: registry.report("beta") is not None, "beta's own report")
    finally:
        stop.set()
        await asyncio.wait_for(agent, 10)
        ingest.cancel()


async def test_wrong_password_and_plaintext_are_refused(secured: SecuredBroker) -> None:
    """A wrong password is refused at connect, and so is a plaintext connection to the TLS
    listener."""
    with pytest.raises(aiomqtt.MqttError):
        async with mqtt_client(secured.login("alpha", password="wrong"), timeout=5):
            pass
    plaintext = replace(secured.login("alpha"), tls=False, ca_file=None)
    with pytest.raises(aiomqtt.MqttError):  # no CONNACK ever comes
        async with mqtt_client(plaintext, timeout=2):
            pass


@pytest.mark.slow
def test_netrouter_serve_takes_broker_and_grpc_security_from_flags(
    secured: SecuredBroker, tmp_path: Path
) -> None:
    """`netrouter serve` logs in to the TLS broker with --mqtt-* flags and serves gRPC over
    TLS with tokens; a client with the CA and a token sees the agent's site."""
    tokens = tmp_path / "tokens.toml"
    token = "t" * 32
    tokens.write_text(f'[[tokens]]\nname = "ops"\nrole = "read-only"\ntoken = "{token}"\n')
    port = free_port()
    files = secured.files
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netrouter",
            "serve",
            "--mqtt",
            f"mqtts://127.0.0.1:{secured.broker.port}",
            "--mqtt-username",
            ROUTER_USER,
            "--mqtt-password-file",
            str(secured.router_password_file),
            "--mqtt-tls-ca",
            files["ca"],
            "--listen",
            f"127.0.0.1:{port}",
            "--tls-cert",
            files["server_cert"],
            "--tls-key",
            files["server_key"],
            "--tokens-file",
            str(tokens),
            "--db",
            str(tmp_path / "router.db"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )

    async def check() -> list[str]:
        await _publish(secured.login("alpha"), DEFAULT_TOPICS.report("alpha"), _report("alpha"))
        async with RouterClient(
            f"127.0.0.1:{port}", ca_file=files["ca"], token=token, retries=40
        ) as client:
            # Polled until the router has applied the report, within a time budget.
            deadline = time.monotonic() + 20.0
            while not (sites := [s.site_id for s in await client.list_sites()]):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
        return sites

    try:
        assert asyncio.run(check()) == ["alpha"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "(TLS, tokens)" in stderr


def test_example_agent_config_logs_in_as_its_site() -> None:
    """The deploy example's agent username is its site id, as netrouter.acl's %u needs."""
    config = load_site_config(DEPLOY / "site-agent.toml")
    assert config.broker.username == config.site.id
    assert config.broker.url.startswith("mqtts://")
