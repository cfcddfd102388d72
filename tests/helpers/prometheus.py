"""A real Prometheus for the tests, and the exporters it scrapes.

:class:`Exporter` serves ``/metrics`` on a free loopback port with exposition text the test
sets (and can break or stop); :class:`Prometheus` runs the installed ``prometheus`` binary on
a free port with a generated config scraping those exporters every second and a fresh
storage directory. Tests poll with :meth:`Prometheus.wait_for` and never sleep a fixed time.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from netrouter.cli.embedded_broker import free_port
from tests.helpers.processes import require_binary

PROMETHEUS = shutil.which("prometheus") or (
    "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
)

EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_INTERVAL_S = 1


def skip_without_prometheus() -> None:
    """Skip the test when the binary is not installed (fail on CI, which installs it)."""
    require_binary("prometheus", PROMETHEUS)


class Exporter:
    """An HTTP exporter on a free loopback port serving ``/metrics``.

    ``set_text`` replaces what the next scrape gets; ``fail(500)`` makes it answer that
    status instead (``fail(None)`` heals it); ``stop`` makes it go away (connection
    refused). ``job`` is the scrape job Prometheus gives it; ``host`` the loopback address
    it listens on (any of 127.0.0.0/8, so that exporters scraped per node can stand for
    distinct hosts).
    """

    def __init__(self, text: str = "", *, job: str = "exporter", host: str = "127.0.0.1") -> None:
        self.job = job
        self._text = text
        self._status: int | None = None
        self._lock = threading.Lock()
        self.scrapes = 0
        exporter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                with exporter._lock:
                    exporter.scrapes += 1
                    status, text = exporter._status, exporter._text
                body = (text if status is None else f"exporter broken ({status})\n").encode()
                self.send_response(200 if status is None else status)
                self.send_header("Content-Type", EXPOSITION_CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self.target = f"{host}:{self.port}"
        self.url = f"http://{self.target}/metrics"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._stopped = False

    def set_text(self, text: str) -> None:
        """What ``/metrics`` serves from now on."""
        with self._lock:
            self._text = text

    def fail(self, status: int | None = 500) -> None:
        """Answer ``status`` instead of the text (``None``: serve the text again)."""
        with self._lock:
            self._status = status

    def stop(self) -> None:
        """Close the listener: scrapes now get connection refused. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class Prometheus:
    """The installed ``prometheus`` on a free loopback port, scraping ``exporters`` (one job
    each, ``honor_labels: true``) every second, with its TSDB in a fresh directory.

    :meth:`start` returns once ``/-/ready`` answers 200; :meth:`stop` terminates it (to
    simulate Prometheus down mid-test); :meth:`start` again resumes on the same port and
    storage.
    """

    def __init__(self, workdir: Path, exporters: Iterable[Exporter]) -> None:
        self.exporters = list(exporters)
        jobs = [e.job for e in self.exporters]
        if len(set(jobs)) != len(jobs):
            raise ValueError(f"exporters need distinct job names, got {jobs}")
        self.workdir = Path(tempfile.mkdtemp(prefix="prometheus-", dir=workdir))
        self.storage = self.workdir / "data"
        self.storage.mkdir()
        self.config = self.workdir / "prometheus.yml"
        self.config.write_text(self._config_text())
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr_path = self.workdir / "stderr.log"
        self.startup_s: float | None = None

    def _config_text(self) -> str:
        # JSON is YAML: no YAML library needed to write the config.
        interval = f"{SCRAPE_INTERVAL_S}s"
        config = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "scrape_configs": [
                {
                    "job_name": e.job,
                    "honor_labels": True,
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": [e.target]}],
                }
                for e in self.exporters
            ],
        }
        return json.dumps(config, indent=2) + "\n"

    def start(self, timeout: float = 15.0) -> None:
        """Start the process and wait until ``/-/ready`` answers 200; fail with its log if it
        exits or is not ready in ``timeout`` seconds."""
        assert PROMETHEUS is not None
        assert self.proc is None, "already running"
        command = [
            PROMETHEUS,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        began = time.monotonic()
        with self._stderr_path.open("ab") as stderr:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = began + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise AssertionError(f"prometheus exited {code}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        self.startup_s = time.monotonic() - began
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.02)
        self.stop()
        raise AssertionError(f"prometheus not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """The last lines Prometheus logged (warnings and errors)."""
        try:
            text = self._stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 10 s). Idempotent."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query: the ``result`` list of ``/api/v1/query`` (for a vector, items
        ``{"metric": {labels}, "value": [time, "text"]}``). Raises on an error answer."""
        params = urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/query?{params}", timeout=5) as a:
                answer = json.load(a)
        except urllib.error.HTTPError as e:
            answer = json.load(e)
        if answer.get("status") != "success":
            raise AssertionError(f"query {promql!r} failed: {answer}")
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_for(
        self,
        promql: str,
        predicate: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = 20.0,
    ) -> list[dict[str, Any]]:
        """Poll ``promql`` until ``predicate(result)`` holds (by default: a non-empty
        result); the result. Fails with the last result after ``timeout`` seconds.

        The first samples after a start take about 6 s: Prometheus hands new targets to its
        scrape loop on a fixed 5 s tick, then scrapes within the 1 s interval."""
        deadline = time.monotonic() + timeout
        result = self.query(promql)
        while not predicate(result):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{promql!r} did not match in {timeout} s; last result: {result}"
                )
            time.sleep(0.1)
            result = self.query(promql)
        return result


def values(result: list[dict[str, Any]]) -> dict[tuple[tuple[str, str], ...], float]:
    """A vector result as ``{sorted label pairs: value}``, for short assertions."""
    return {tuple(sorted(item["metric"].items())): float(item["value"][1]) for item in result}
