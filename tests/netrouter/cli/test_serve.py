"""`netrouter serve`: config file, flags over it, clear errors, graceful SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from netrouter.cli.embedded_broker import free_port
from netrouter.client.errors import InvalidArgumentError
from netrouter.client.types import Link
from netrouter.contract.broker import parse_mqtt_url
from netrouter.contract.configfile import ConfigFileError
from netrouter.planning.network import check_links
from netrouter.router.config import RouterConfig, load_router_config, serve_settings
from netrouter.router.core import Router
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from site_agents.config import SiteConfig
from tests.helpers.factories import report_of, run_cli, site_dict, workload
from tests.helpers.processes import Mosquitto, RouterProcess

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "router.toml"


def test_example_config_loads_and_flags_override() -> None:
    """examples/router.toml is valid; --mqtt/--listen/--db win over the file."""
    config = load_router_config(EXAMPLE)
    settings = serve_settings(config, mqtt="mqtt://10.1.2.3:1999", listen="0.0.0.0:7000", db="x.db")
    assert (settings.mqtt.host, settings.mqtt.port) == ("10.1.2.3", 1999)
    assert settings.listen == "0.0.0.0:7000"
    assert str(settings.db_path) == "x.db"
    assert settings.router.solver.time_limit_s == config.solver.time_limit_s
    assert settings.hold_off_s == 30.0 and len(settings.links) == 4
    assert settings.will_grace_s == 0.25 and settings.busy_timeout_ms == 5000
    assert {(x.a, x.b) for x in settings.links} >= {("jjj", "csj"), ("cy", "jjj")}


def test_bad_network_link_names_the_link(tmp_path: Path) -> None:
    """A link from a node to itself, or a negative latency, is refused by name."""
    path = tmp_path / "router.toml"
    path.write_text('[[network.links]]\na = "jjj"\nb = "jjj"\nlatency_ms = 3\n')
    with pytest.raises(ValueError, match=r"network.links\[0\]"):
        serve_settings(load_router_config(path))
    path.write_text('[[network.links]]\na = "jjj"\nb = "csj"\nlatency_ms = -3\n')
    with pytest.raises(ConfigFileError) as info:
        load_router_config(path)
    assert info.value.key == "network.links[0].latency_ms"
    path.write_text(
        '[[network.links]]\na = "jjj"\nb = "csj"\nlatency_ms = 3\nyuan_per_gb = 1e300\n'
    )
    with pytest.raises(ConfigFileError) as info:
        load_router_config(path)
    assert (info.value.key, info.value.line) == ("network.links[0].yuan_per_gb", 5)


def test_metrics_port_0_is_any_free_port_and_no_metrics_is_off(tmp_path: Path) -> None:
    """As for the agent: no port is off, 0 any free port; --no-metrics wins over the file."""
    assert serve_settings(RouterConfig()).metrics_port is None
    assert serve_settings(RouterConfig(), metrics_port=0).metrics_port == 0
    path = tmp_path / "router.toml"
    path.write_text("[metrics]\nport = 9464\n")
    config = load_router_config(path)
    assert serve_settings(config).metrics_port == 9464
    assert serve_settings(config, metrics_port=0).metrics_port == 0
    assert serve_settings(config, no_metrics=True).metrics_port is None
    with pytest.raises(ValueError, match="--metrics-port and --no-metrics"):
        serve_settings(config, metrics_port=0, no_metrics=True)
    with pytest.raises(ValueError, match="--metrics-port: 65536 is not a port"):
        serve_settings(config, metrics_port=65536)


@pytest.mark.mqtt
def test_metrics_port_0_serves_on_a_free_port_it_prints(
    mosquitto: Mosquitto, router_process: Callable[..., RouterProcess]
) -> None:
    """``[metrics] port = 0``: the router picks a port and says which at start."""
    router = router_process(mosquitto.address, '[metrics]\nport = 0\naddress = "127.0.0.1"\n')
    logged = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", router.log_tail(200))
    assert logged is not None, router.log_tail()
    port = int(logged.group(1))
    assert port > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        assert "netrouter_active_placements" in r.read().decode()


def test_links_from_anywhere_keep_to_the_wire_ranges() -> None:
    """A link with a huge price or latency (from a snapshot or scenario) is refused by name."""
    with pytest.raises(InvalidArgumentError) as info:
        check_links([Link(a="jjj", b="csj", latency_ms=5.0, yuan_per_gb=1e300)])
    assert info.value.field == "links[0].yuan_per_gb"
    with pytest.raises(InvalidArgumentError) as info:
        check_links([Link(a="jjj", b="csj", latency_ms=1e9)])
    assert info.value.field == "links[0].latency_ms"


async def test_network_regions_are_the_regions_the_router_takes(tmp_path: Path) -> None:
    """[network] regions replaces the national set: xj is taken, csj refused listing xj."""
    path = tmp_path / "router.toml"
    path.write_text('[network]\nregions = ["jjj", "xj"]\n')
    settings = serve_settings(load_router_config(path))
    assert settings.router.regions == ("jjj", "xj")
    registry = SiteRegistry()
    site = site_dict("west", latency={"jjj": 5.0, "xj": 4.0})
    site["site"]["regions"] = ["jjj", "xj"]
    registry.apply_report(report_of(SiteConfig.model_validate(site)))
    store = PlacementStore(tmp_path / "r.db")
    async with Router(registry=registry, store=store, settings=settings.router) as router:
        result = await router.place([workload("w", origin_region="XJ")], dry_run=True)
        assert result.placements[0].workload.origin_region == "xj"
        with pytest.raises(InvalidArgumentError) as info:
            await router.place([workload("w", origin_region="csj")])
    store.close()
    assert info.value.field == "workloads[0].origin_region"
    assert "known regions: jjj (京津冀 Beijing-Tianjin-Hebei), xj" in info.value.message


@pytest.mark.parametrize(("regions", "line"), [('["JJJ"]', 2), ("[]", 2), ('["jjj", "jjj"]', 2)])
def test_bad_network_regions_name_the_key(tmp_path: Path, regions: str, line: int) -> None:
    """An uppercase, missing or repeated region id is refused naming network.regions."""
    path = tmp_path / "router.toml"
    path.write_text(f"[network]\nregions = {regions}\n")
    with pytest.raises(ConfigFileError) as info:
        load_router_config(path)
    assert (info.value.key, info.value.line) == ("network.regions", line)


def test_bad_router_config_names_key_and_line(tmp_path: Path) -> None:
    """An out-of-range or unknown key is reported with its dotted name and line."""
    path = tmp_path / "router.toml"
    path.write_text('[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n\n[solver]\nnum_workers = 0\n')
    with pytest.raises(ConfigFileError) as info:
        load_router_config(path)
    assert (info.value.key, info.value.line) == ("solver.num_workers", 5)
    path.write_text("[grpc]\nlisten = '127.0.0.1:1'\nport = 3\n")
    with pytest.raises(ConfigFileError) as info:
        load_router_config(path)
    assert (info.value.key, info.value.line) == ("grpc.port", 3)


def test_serve_rejects_bad_config_with_exit_2(tmp_path: Path) -> None:
    """The process exits 2 and prints the file, line and key."""
    path = tmp_path / "router.toml"
    path.write_text("[sites]\nttl_intervals = -1\n")
    result = run_cli("netrouter", "serve", "--config", str(path))
    assert result.returncode == 2
    assert f"{path}:2: sites.ttl_intervals" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [("127.0.0.1:", "no port after ':'"), ("127.0.0.1", "not HOST:PORT"), ("::1", "brackets")],
)
def test_listen_address_needs_its_port(tmp_path: Path, value: str, message: str) -> None:
    """A listen address without a port (gRPC would take 443) is refused, naming the flag or
    the key; port 0 (any free port) and bracketed IPv6 hosts are fine."""
    with pytest.raises(ValueError, match=f"^--listen: .*{message}"):
        serve_settings(RouterConfig(), listen=value)
    path = tmp_path / "router.toml"
    path.write_text(f"[grpc]\nlisten = '{value}'\n")
    with pytest.raises(ConfigFileError, match=message) as info:
        load_router_config(path)
    assert (info.value.key, info.value.line) == ("grpc.listen", 2)
    for fine in ("127.0.0.1:0", "[::1]:50051", ":7000"):
        assert serve_settings(RouterConfig(), listen=fine).listen == fine


def test_mqtt_url_with_an_empty_port_is_refused(tmp_path: Path) -> None:
    """``mqtt://host:`` (the port left empty) is refused naming the flag or the key; with no
    ':' at all the port keeps its documented default."""
    with pytest.raises(ValueError, match=r"^--mqtt: no port after ':' in MQTT URL mqtt://"):
        serve_settings(RouterConfig(), mqtt="mqtt://127.0.0.1:")
    path = tmp_path / "router.toml"
    path.write_text("[mqtt]\nurl = 'mqtts://router:secret@broker.example:'\n")
    with pytest.raises(ConfigFileError, match="no port after ':'") as info:
        load_router_config(path)
    assert (info.value.key, info.value.line) == ("mqtt.url", 2)
    assert "secret" not in str(info.value)
    assert parse_mqtt_url("mqtt://127.0.0.1").port == 1883
    assert parse_mqtt_url("mqtts://127.0.0.1").port == 8883
    with pytest.raises(ValueError, match=r"1\.\.65535"):
        parse_mqtt_url("mqtt://127.0.0.1:0")


def test_serve_refuses_a_listen_address_without_its_port_with_exit_2(tmp_path: Path) -> None:
    """``netrouter serve --listen 127.0.0.1:`` exits 2 naming the flag, and opens no store."""
    db = tmp_path / "router.db"
    result = run_cli("netrouter", "serve", "--listen", "127.0.0.1:", "--db", str(db), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "error: --listen: '127.0.0.1:' has no port after ':'" in result.stderr
    assert not db.exists()


# --- one router per port and per store ---------------------------------------------------


def _second_router(broker: Mosquitto, *, listen: str, db: Path) -> subprocess.CompletedProcess[str]:
    """Run another ``netrouter serve`` to its end (it should be refused at once)."""
    args = ["--mqtt", broker.address.url, "--listen", listen, "--db", str(db)]
    return run_cli("netrouter", "serve", *args, timeout=60)


@pytest.mark.mqtt
@pytest.mark.slow
def test_second_router_on_the_same_port_exits_2(
    mosquitto: Mosquitto, router_process: Callable[..., RouterProcess], tmp_path: Path
) -> None:
    """A second router on a port in use exits 2 naming the address (grpcio would share the
    port, SO_REUSEPORT, and the two would split the calls); the first one serves on."""
    first = router_process(mosquitto.address)
    second = _second_router(mosquitto, listen=first.target, db=tmp_path / "second.db")
    assert second.returncode == 2, second.stderr
    assert f"cannot listen on {first.target}: address already in use" in second.stderr
    assert "subscribed" not in second.stderr
    first.wait_serving(timeout=5)


@pytest.mark.mqtt
@pytest.mark.slow
def test_second_router_on_the_same_store_exits_2_naming_the_holder(
    mosquitto: Mosquitto, router_process: Callable[..., RouterProcess], tmp_path: Path
) -> None:
    """A second router on the same SQLite file (another port) exits 2 naming the file and
    the holder's pid and host, before it serves or subscribes anything."""
    first = router_process(mosquitto.address)
    assert first.proc is not None
    listen = f"127.0.0.1:{free_port()}"
    second = _second_router(mosquitto, listen=listen, db=first.db)
    assert second.returncode == 2, second.stderr
    holder = f"pid {first.proc.pid} on {socket.gethostname()}"
    assert f"placement store {first.db} is in use by {holder}" in second.stderr
    assert "gRPC listening" not in second.stderr and "subscribed" not in second.stderr
    first.wait_serving(timeout=5)


@pytest.mark.mqtt
@pytest.mark.slow
def test_store_is_free_again_after_its_router_is_killed(
    mosquitto: Mosquitto, router_process: Callable[..., RouterProcess]
) -> None:
    """After ``kill -9`` the kernel has dropped the lock: a new router on the same file
    serves with no cleanup, and the lock file names it."""
    router = router_process(mosquitto.address)
    router.kill()
    router.start()
    router.wait_serving()
    assert router.proc is not None
    holder = json.loads(Path(f"{router.db}.lock").read_text())
    assert holder == {"pid": router.proc.pid, "host": socket.gethostname()}


@pytest.mark.mqtt
@pytest.mark.slow
def test_serve_runs_and_stops_gracefully_on_sigterm(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """The server reports SERVING over the health service and serves its metrics, logs JSON
    lines, then exits 0 on SIGTERM."""
    port = free_port()
    metrics_port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netrouter",
            "serve",
            "--config",
            str(EXAMPLE),
            "--mqtt",
            mosquitto.address.url,
            "--listen",
            f"127.0.0.1:{port}",
            "--db",
            str(tmp_path / "serve.db"),
            "--metrics-port",
            str(metrics_port),
            "--log-format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            try:
                with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                    status = (
                        health_pb2_grpc.HealthStub(channel)
                        .Check(health_pb2.HealthCheckRequest(), timeout=1)
                        .status
                    )
                break
            except grpc.RpcError:
                time.sleep(0.1)
        assert status == health_pb2.HealthCheckResponse.SERVING, _stderr(proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert "netrouter_active_placements 0.0" in text
        assert "netrouter_placement_events" in text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, _stderr(proc)
        assert (tmp_path / "serve.db").exists()
        _, err = proc.communicate(timeout=10)
        lines = [json.loads(x) for x in err.decode().splitlines() if x.startswith("{")]
        assert any(x["msg"] == "router stopped" for x in lines), err.decode()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _stderr(proc: subprocess.Popen[bytes]) -> str:
    """What the server wrote to stderr (for a failed assertion's message)."""
    if proc.poll() is None:
        proc.kill()
    _, err = proc.communicate(timeout=10)
    return err.decode(errors="replace")[-4000:]


def test_serve_help_names_the_password_variable() -> None:
    """`serve --help` tells the operator which variable holds the broker password."""
    from typer.testing import CliRunner

    from netrouter.cli.app import app
    from netrouter.contract.secrets import PASSWORD_ENV

    result = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert PASSWORD_ENV in result.output
