"""Real processes for the tests: Mosquitto brokers (with TLS files and password files), and
``netrouter serve`` processes waited on until they answer."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from netrouter.cli.embedded_broker import free_port
from netrouter.contract.broker import BrokerAddress

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
    file); with them anonymous clients are refused. With ``persistence`` it keeps retained
    messages in ``workdir`` across a stop and start, as a production broker does.
    """

    def __init__(
        self,
        workdir: Path,
        settings: tuple[str, ...] = (),
        *,
        conf: str | None = None,
        persistence: bool = False,
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
                "persistence true" if persistence else "persistence false",
                f"persistence_location {workdir}/",
                *settings,
            ]
        if (settings or conf or persistence) and hasattr(os, "geteuid") and os.geteuid() == 0:
            lines.append("user root")  # keep access to the test's files when run as root
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


def require_binary(name: str, path: str | None) -> None:
    """Skip the test when the Debian package ``name``'s binary is missing (``path`` is
    ``None``), with the install hint; fail instead on CI, which installs it."""
    if path is not None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must install {name} (apt-get install -y {name})")
    pytest.skip(f"{name} binary not installed (apt-get install {name})")


def skip_without_mosquitto() -> None:
    require_binary("mosquitto", MOSQUITTO)


class RouterProcess:
    """A real ``netrouter serve`` process on a fixed free port over one SQLite file; it can
    be killed and started again on the same port and file. ``config`` is the text of its
    router TOML. Its log is kept (the last lines) for failure messages."""

    def __init__(self, workdir: Path, broker: BrokerAddress, *, config: str = "") -> None:
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.db = workdir / "router.db"
        self.config = workdir / "router.toml"
        self.config.write_text(config)
        self.broker = broker
        self.proc: subprocess.Popen[str] | None = None
        self._log: deque[str] = deque(maxlen=300)

    def start(self) -> None:
        """Start the process (returns at once; :meth:`wait_serving` waits for it)."""
        command = [sys.executable, "-m", "netrouter", "serve", "--config", str(self.config)]
        command += ["--mqtt", self.broker.url, "--listen", self.target, "--db", str(self.db)]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        # A thread drains the log, so a chatty router never blocks on a full pipe.
        threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._log.append(line.rstrip())

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the router logged."""
        return "\n".join(list(self._log)[-lines:])

    def wait_serving(self, timeout: float = 60.0) -> None:
        """Wait until the health service says SERVING; fail with the log if it exits."""
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"router exited {self.proc.returncode}:\n{self.log_tail()}"
                    )
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.05)
        raise AssertionError(f"router not serving after {timeout} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


StartRouter = Callable[..., RouterProcess]
"""The :func:`router_process` fixture: ``start(broker, config="")`` -> a serving router."""
StartAgent = Callable[[Path, BrokerAddress], "subprocess.Popen[bytes]"]
"""The :func:`agent_process` fixture: ``start(config_path, broker)`` -> the agent process."""
