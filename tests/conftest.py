"""Fixtures: real MQTT brokers (Mosquitto when installed, and the embedded one)."""

from __future__ import annotations

import os
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

    def __init__(self, workdir: Path, settings: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.address = BrokerAddress(host="127.0.0.1", port=self.port)
        self.conf = workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if settings else 'true'}",
            "persistence false",
            *settings,
        ]
        if settings and hasattr(os, "geteuid") and os.geteuid() == 0:
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
