"""DCIM PUE (file and HTTP, with a maximum age) and TCP latency probes, against real
files, a real HTTP server and real sockets on loopback."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from netrouter.cli.embedded_broker import free_port
from site_agents.collectors import CollectorError
from site_agents.config import LatencyProbeSection, PueSection, SiteConfig
from site_agents.probes import DcimPue, TcpLatencyProbe, json_path_get, parse_timestamp
from site_agents.report import ReportBuilder, Sources
from tests.helpers.factories import site_dict


def _write(path: Path, document: Any, *, age_s: float = 0.0) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_json_paths_and_timestamps() -> None:
    doc = {"halls": [{"pue": 1.3}, {"pue": 1.21, "at": "2026-11-21T08:00:00+08:00"}]}
    assert json_path_get(doc, "halls.1.pue") == 1.21
    assert json_path_get(doc, "halls.-1.pue") == 1.21
    assert json_path_get(1.4, "") == 1.4
    for bad in ("halls.2.pue", "halls.x", "rooms"):
        with pytest.raises(ValueError, match="nothing at"):
            json_path_get(doc, bad)
    assert parse_timestamp(doc["halls"][1]["at"]) == 1_795_219_200.0  # 2026-11-21T00:00Z
    assert parse_timestamp(1_795_219_200) == 1_795_219_200.0
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_timestamp("2026-11-21T08:00:00")
    with pytest.raises(ValueError):
        parse_timestamp(True)


def test_file_pue_is_used_while_fresh_then_falls_back(tmp_path: Path) -> None:
    path = _write(tmp_path / "pue.json", {"site": {"pue": 1.17}})
    section = PueSection(
        source="file", path=str(path), json_path="site.pue", max_age_s=600, value=1.3
    )
    source = DcimPue(section)
    reading = source.reading(time.time())
    assert (reading.value, reading.source) == (1.17, "file") and reading.age_s < 60
    # The DCIM stops writing: 20 minutes later the same file is too old.
    stale = source.reading(time.time() + 1200)
    assert (stale.value, stale.source) == (1.3, "config")
    # A fresh write is picked up at once.
    _write(path, {"site": {"pue": 1.19}})
    assert source.reading(time.time()).value == 1.19


def test_file_pue_without_a_fallback_stops_the_report(tmp_path: Path) -> None:
    path = tmp_path / "pue.json"
    section = PueSection(source="file", path=str(path), json_path="pue", max_age_s=60)
    source = DcimPue(section)
    with pytest.raises(CollectorError, match="cannot read PUE") as info:
        source.reading(time.time())
    assert info.value.collector == "pue"
    _write(path, {"pue": 1.2}, age_s=120)
    with pytest.raises(CollectorError, match="120 s old"):
        source.reading(time.time())
    _write(path, {"pue": 0.9})
    with pytest.raises(CollectorError, match="outside"):
        source.reading(time.time())
    _write(path, {"pue": "1.2"})
    with pytest.raises(CollectorError, match="not a number"):
        source.reading(time.time())
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CollectorError):
        source.reading(time.time())
    _write(path, {"pue": 1.2})
    assert source.reading(time.time()).value == 1.2


def test_timestamp_in_the_document_sets_the_age(tmp_path: Path) -> None:
    now = time.time()
    path = _write(tmp_path / "pue.json", {"pue": 1.2, "measured_at": now - 3000})
    section = PueSection(
        source="file", path=str(path), json_path="pue", timestamp_path="measured_at", max_age_s=900
    )
    with pytest.raises(CollectorError, match="3000 s old"):
        DcimPue(section).reading(now)


class _Dcim:
    """A DCIM HTTP endpoint on a free loopback port that counts its requests."""

    def __init__(self) -> None:
        self.document: Any = {"data": {"pue": 1.16}}
        self.status = 200
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                body = json.dumps(outer.document).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/pue"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dcim() -> Iterator[_Dcim]:
    server = _Dcim()
    yield server
    server.close()


def test_http_pue_polls_at_its_period_and_keeps_the_last_reading(dcim: _Dcim) -> None:
    section = PueSection(
        source="http", url=dcim.url, json_path="data.pue", poll_s=30, max_age_s=120, value=1.25
    )
    source = DcimPue(section)
    t0 = time.time()
    assert source.reading(t0).value == 1.16 and dcim.requests == 1
    assert source.reading(t0 + 10).age_s == pytest.approx(10) and dcim.requests == 1
    dcim.document = {"data": {"pue": 1.18}}
    reading = source.reading(t0 + 31)
    assert (reading.value, reading.source, dcim.requests) == (1.18, "http", 2)
    # The endpoint fails: the last reading stands until it is max_age_s old.
    dcim.status = 500
    assert source.reading(t0 + 62).value == 1.18 and dcim.requests == 3
    late = source.reading(t0 + 31 + 121)
    assert (late.value, late.source) == (1.25, "config")


def test_http_pue_from_a_dead_endpoint_falls_back() -> None:
    url = f"http://127.0.0.1:{free_port()}/pue"
    source = DcimPue(PueSection(source="http", url=url, timeout_s=0.5, value=1.3))
    assert source.reading(time.time()).source == "config"


def test_pue_section_names_what_a_source_needs() -> None:
    for kwargs, message in [
        ({"source": "fixed"}, "needs value"),
        ({"source": "file"}, "needs path"),
        ({"source": "http", "url": "ftp://x"}, "needs url"),
    ]:
        with pytest.raises(ValueError, match=message):
            PueSection(**kwargs)


@pytest.fixture
def listener() -> Iterator[str]:
    """A TCP endpoint on loopback that accepts connections."""
    server = socket.create_server(("127.0.0.1", 0), backlog=128)
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    server.close()


def _probe_config(targets: dict[str, str], configured: dict[str, float]) -> SiteConfig:
    data = site_dict("alpha", latency=configured)
    data["latency_probe"] = {"targets": targets, "samples": 3, "timeout_s": 0.5, "interval_s": 60}
    return SiteConfig.model_validate(data)


def test_tcp_probe_measures_reachable_regions_and_falls_back_for_others(listener: str) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    config = _probe_config({"jjj": listener, "csj": dead, "gba": dead}, {"csj": 12.5, "cy": 30.0})
    now = [0.0]
    probe = TcpLatencyProbe(config, clock=lambda: now[0])
    got = {x.region: x for x in probe.latencies()}
    assert got["jjj"].measured and 0 < got["jjj"].rtt_ms < 100
    assert (got["csj"].rtt_ms, got["csj"].measured) == (12.5, False)
    assert (got["cy"].rtt_ms, got["cy"].measured) == (30.0, False)
    assert "gba" not in got  # no probe answer and no configured value
    # Within interval_s the round is not repeated; after it, it is.
    first = got["jjj"].rtt_ms
    now[0] = 30.0
    assert {x.region: x for x in probe.latencies()}["jjj"].rtt_ms == first
    now[0] = 61.0
    assert {x.region: x for x in probe.latencies()}["jjj"].measured


def test_measured_latency_reaches_the_report(listener: str) -> None:
    config = _probe_config({"csj": listener}, {"jjj": 9.0})
    report = ReportBuilder(config, Sources.from_config(config)).build()
    latencies = {x.region: (x.measured, x.rtt_ms) for x in report.latencies}
    assert latencies["csj"][0] is True and latencies["jjj"] == (False, 9.0)


def test_probe_targets_must_be_host_and_port() -> None:
    with pytest.raises(ValueError, match="jjj"):
        LatencyProbeSection(targets={"jjj": "probe.example.net"})
    data = site_dict("alpha")
    data["latency_ms"] = {}
    with pytest.raises(ValueError, match="latency_probe"):
        SiteConfig.model_validate(data)


def test_future_and_absurd_timestamps_are_not_fresh(tmp_path: Path) -> None:
    now = time.time()
    section = PueSection(
        source="file",
        path=str(tmp_path / "pue.json"),
        json_path="pue",
        timestamp_path="at",
        max_age_s=900,
    )
    # Milliseconds by mistake: 1000× in the future.
    _write(tmp_path / "pue.json", {"pue": 1.2, "at": now * 1000})
    with pytest.raises(CollectorError, match="in the future"):
        DcimPue(section).reading(now)
    _write(tmp_path / "pue.json", {"pue": 1.2, "at": 10**400})
    with pytest.raises(CollectorError, match="too large"):
        DcimPue(section).reading(now)
    _write(tmp_path / "pue.json", {"pue": 1.2, "at": now - 5})
    assert DcimPue(section).reading(now).age_s == pytest.approx(5, abs=0.01)


def test_malformed_dcim_answers_never_escape(tmp_path: Path) -> None:
    """Garbage on the wire and pathological JSON are a failed reading, not a crash."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def garbage() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"NOT-HTTP garbage\r\n\r\n")

    thread = threading.Thread(target=garbage, daemon=True)
    thread.start()
    try:
        source = DcimPue(
            PueSection(source="http", url=f"http://127.0.0.1:{port}/", timeout_s=2, value=1.3)
        )
        assert source.reading(time.time()).source == "config"
    finally:
        thread.join(5)
        server.close()
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    source = DcimPue(PueSection(source="file", path=str(nested), json_path="pue"))
    with pytest.raises(CollectorError, match="cannot read PUE"):
        source.reading(time.time())


def test_bad_probe_targets_are_refused_or_fail_quietly() -> None:
    with pytest.raises(ValueError, match="jjj"):
        LatencyProbeSection(targets={"jjj": "a" * 64 + ".example:443"})
    with pytest.raises(ValueError, match="must fit in interval_s"):
        LatencyProbeSection(targets={}, samples=10, timeout_s=10, interval_s=60)
    probe = TcpLatencyProbe(_probe_config({}, {"jjj": 5.0}))
    assert probe.probe("a..b:80") is None
    assert probe.probe("[::1]:1") is None


def test_background_probes_never_delay_a_report(listener: str) -> None:
    """The daemon's first report carries the configured value at once; the measured one
    follows when the round finishes."""
    probe = TcpLatencyProbe(_probe_config({"csj": listener}, {"csj": 40.0}), background=True)
    first = probe.latencies()
    assert [(x.region, x.rtt_ms, x.measured) for x in first] == [("csj", 40.0, False)]
    probe.wait(10)
    (later,) = probe.latencies()
    assert later.measured and later.rtt_ms < 40.0


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("publish", {"interval_s": 5.0, "check_interval_s": 10.0}, "at most interval_s"),
        ("pue", {"source": "http", "url": "http://x/", "poll_s": 600, "max_age_s": 300}, "poll_s"),
        ("metrics", {"port": 9464, "address": "everywhere"}, "not an IP address"),
        ("broker", {"url": "http://broker:1883"}, "scheme"),
        ("broker", {"url": "mqtt://broker:1883", "ca_file": "/ca.pem"}, "mqtts://"),
        ("broker", {"url": "mqtts://broker", "cert_file": "/c.pem"}, "go together"),
    ],
)
def test_agent_config_holes_are_closed(section: str, values: dict[str, Any], message: str) -> None:
    data = site_dict("alpha")
    data[section] = values
    with pytest.raises(ValueError, match=message) as info:
        SiteConfig.model_validate(data)
    assert info.value.errors()[0]["loc"][0] == section  # type: ignore[attr-defined]
