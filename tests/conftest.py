"""Fixtures: real MQTT brokers (Mosquitto when installed, and the embedded one)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from netrouter.broker import EmbeddedBroker, free_port
from netrouter.wire import BrokerAddress

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {port}")


class Mosquitto:
    """A real Mosquitto on a free loopback port; can be stopped and started again.

    ``settings`` are extra mosquitto.conf lines for the listener (TLS files, a password
    file); with them anonymous clients are refused.
    """

    def __init__(
        self, workdir: Path, settings: tuple[str, ...] = (), *, conf: str | None = None
    ) -> None:
        """``conf``, when given, is a whole mosquitto.conf (such as
        examples/deploy/mosquitto.conf) used instead: its ``listener`` line moves to the free
        port on loopback."""
        self.port = free_port()
        self.address = BrokerAddress(host="127.0.0.1", port=self.port)
        self.conf = workdir / "mosquitto.conf"
        if conf is not None:
            listener = f"listener {self.port} 127.0.0.1"
            lines = [re.sub(r"(?m)^listener \d+.*$", listener, conf, count=1)]
        else:
            lines = [
                f"listener {self.port} 127.0.0.1",
                f"allow_anonymous {'false' if settings else 'true'}",
                "persistence false",
                *settings,
            ]
        if (settings or conf) and hasattr(os, "geteuid") and os.geteuid() == 0:
            lines.append("user root")  # keep read access to the test's files when run as root
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def tls_files(directory: Path) -> dict[str, str]:
    """A private CA (``ca``), a server certificate for 127.0.0.1 and localhost
    (``server_cert``, ``server_key``) and a client certificate (``client_cert``,
    ``client_key``), written as PEM files in ``directory``."""
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client.netrouter.test")
    blobs = {
        "ca": ca.cert_pem,
        "server_cert": server.cert_chain_pems[0],
        "server_key": server.private_key_pem,
        "client_cert": client.cert_chain_pems[0],
        "client_key": client.private_key_pem,
    }
    files = {}
    for name, blob in blobs.items():
        path = directory / f"{name}.pem"
        blob.write_to_path(str(path))
        files[name] = str(path)
    return files


def mosquitto_password_file(path: Path, users: dict[str, str]) -> Path:
    """A Mosquitto password file for ``{username: password}``, made by ``mosquitto_passwd -b``;
    skips the test when the tool is not installed (fails on CI)."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install mosquitto (it ships mosquitto_passwd)")
        pytest.skip("mosquitto_passwd not installed (apt-get install mosquitto)")
    path.touch(mode=0o600)
    for user, password in users.items():
        subprocess.run([tool, "-b", str(path), user, password], check=True, capture_output=True)
    return path


def skip_without_mosquitto() -> None:
    if MOSQUITTO is not None:
        return
    if os.environ.get("CI"):
        pytest.fail("CI must install mosquitto (apt-get install -y mosquitto)")
    pytest.skip("mosquitto binary not installed (apt-get install mosquitto)")


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
