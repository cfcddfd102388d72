"""Site config files: valid examples load; bad ones name the key and the line."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from netrouter.contract.configfile import ConfigFileError
from site_agents.cli import app
from site_agents.config import load_site_config
from tests.helpers.factories import run_cli, site_dict, write_site_toml
from tests.helpers.strategies import toml_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sites"


def _agent_cli(
    tmp_path: Path, data: dict[str, Any], command: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``site_agents COMMAND --config FILE ARGS...`` with ``data`` written as FILE."""
    path = write_site_toml(tmp_path / "site.toml", data)
    return run_cli("site_agents", command, "--config", str(path), *args, timeout=timeout)


def test_every_example_site_loads() -> None:
    """The 10 national cluster configs in examples/sites are valid."""
    configs = [load_site_config(p) for p in sorted(EXAMPLES.glob("*.toml"))]
    assert len(configs) == 10
    assert {c.site.side for c in configs} == {"east", "west"}


def _line_of(path: Path, section: str, key: str) -> int:
    """1-based line of ``key = ...`` inside ``[section]``."""
    current = ""
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if text.startswith("["):
            current = text.strip("[]")
        elif current == section and text.startswith(f"{key} = "):
            return number
    raise AssertionError(f"{section}.{key} not in {path}")


@pytest.mark.parametrize(
    ("section", "key", "value", "expect_key"),
    [
        ("pue", "value", 0.8, "pue.value"),
        ("publish", "interval_s", -1.0, "publish.interval_s"),
        ("site", "id", "Bad Id", "site.id"),
        ("carbon", "kg_per_kwh", -0.1, "carbon.kg_per_kwh"),
    ],
)
def test_bad_value_names_key_and_line(
    tmp_path: Path, section: str, key: str, value: object, expect_key: str
) -> None:
    """The error says which key is wrong and on which line of the file it stands."""
    data = site_dict("alpha")
    data[section][key] = value
    path = write_site_toml(tmp_path / "site.toml", data)
    with pytest.raises(ConfigFileError) as info:
        load_site_config(path)
    line = _line_of(path, section, key)
    assert info.value.key == expect_key
    assert info.value.line == line
    assert f"{path}:{line}: {expect_key}" in str(info.value)


def test_inventory_counts_must_nest(tmp_path: Path) -> None:
    """healthy above total is refused, naming the accelerator entry."""
    data = site_dict("alpha")
    data["accelerators"][0]["healthy"] = data["accelerators"][0]["total"] + 1
    with pytest.raises(ConfigFileError) as info:
        load_site_config(write_site_toml(tmp_path / "s.toml", data))
    assert info.value.key == "accelerators[0]"
    assert info.value.line is not None


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (
            lambda d: d["accelerators"][0].update(total=2**40, healthy=2**40),
            "accelerators[0].total",
        ),
        (lambda d: d["accelerators"][0].update(total=2_000_000), "accelerators[0].total"),
        (lambda d: d["accelerators"][0].update(power_w=0.5), "accelerators[0].power_w"),
        (lambda d: d["site"].update(pue_cap=0.5), "site.pue_cap"),
        (
            lambda d: d.update(
                accelerators=[dict(d["accelerators"][0], model=f"m{i}") for i in range(65)]
            ),
            "accelerators",
        ),
        (
            lambda d: (
                d.update(latency_ms={f"r{i}": 1.0 for i in range(257)})
                or d["site"].update(regions=[f"r{i}" for i in range(257)])
            ),
            "site.regions",
        ),
        (lambda d: d.update(latency_ms={"": 1.0}), 'latency_ms.""'),
        (lambda d: d.update(latency_ms={"bj": 1.0}), "latency_ms.bj"),
    ],
)
def test_values_the_router_would_refuse_are_refused_here(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], key: str
) -> None:
    """A config is accepted only if the reports it makes pass the router's range checks."""
    data = site_dict("alpha")
    change(data)
    path = tmp_path / "s.toml"
    path.write_text(toml_text(data), encoding="utf-8")  # quotes the empty key
    with pytest.raises(ConfigFileError) as info:
        load_site_config(path)
    assert info.value.key == key
    assert key or "regions" in info.value.message


def test_once_prints_the_report_as_json() -> None:
    """`netrouter-agent once` prints a report with the config's site, inventory and 24 prices."""
    result = run_cli("site_agents", "once", "--config", str(EXAMPLES / "guian.toml"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["site_id"] == "guian"
    assert len(report["tariff"]["next_24h_yuan_per_kwh"]) == 24
    assert {a["model"] for a in report["accelerators"]} >= {"H100", "A100"}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_check_warns_only_where_the_pue_is_over_the_hubs_cap(path: Path) -> None:
    """Wuhu (PUE 1.28, cap 1.25) gets a WARNING line and still exits 0; the other nine
    national clusters check clean, and each shows its sustained PUE."""
    result = CliRunner().invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stdout.splitlines() if "WARNING" in line]
    if path.stem == "wuhu":
        (line,) = warnings
        assert line.startswith("WARNING: PUE above the hub's cap 1.25")
        assert "now 1.28" in line and "sustained 1.28 over 168 h" in line
    else:
        assert warnings == []
    assert "sustained" in result.stdout and "mean over the last 168 h" in result.stdout


def test_check_warns_of_a_dcim_fallback_value_over_the_cap(tmp_path: Path) -> None:
    """A configured fallback PUE over the cap is warned of even while the DCIM's is fine."""
    pue_file = tmp_path / "pue.json"
    pue_file.write_text('{"pue": 1.18}', encoding="utf-8")
    data = site_dict("alpha")
    data["pue"] = {"source": "file", "path": str(pue_file), "json_path": "pue", "value": 1.3}
    path = write_site_toml(tmp_path / "site.toml", data)
    result = CliRunner().invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "pue: 1.18 (from file" in result.stdout
    assert "sustained 1.18 (mean over the last 168 h, readings covering 0 s of it so far)" in (
        result.stdout
    )
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("WARNING")]
    assert "configured value 1.3" in line and "now" not in line


def test_once_shows_the_sustained_pue() -> None:
    """`once` prints pue_mean, its window and its cover; the cap warning goes to stderr."""
    result = CliRunner().invoke(app, ["once", "--config", str(EXAMPLES / "wuhu.toml")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["pue"], report["pue_mean"]) == (1.28, 1.28)
    assert report["pue_mean_window_s"] == report["pue_mean_covered_s"] == 168 * 3600
    assert "WARNING: PUE above the hub's cap 1.25" in result.stderr


def test_missing_config_is_a_clear_error(tmp_path: Path) -> None:
    """A missing file exits 2 with an error naming the path."""
    missing = tmp_path / "nope.toml"
    result = run_cli("site_agents", "once", "--config", str(missing))
    assert result.returncode == 2
    assert str(missing) in result.stderr


def test_check_prints_what_every_collector_sees(tmp_path: Path) -> None:
    """`check` validates and lists inventory, price, PUE and latency; with NVML missing it
    says so and shows the static inventory it falls back to."""
    result = run_cli("site_agents", "check", "--config", str(EXAMPLES / "guian.toml"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "is valid" in out and "H100:" in out and "price:" in out
    assert "pue: 1.1 (from config" in out and ", band " in out
    assert "latency jjj:" in out and "(configured)" in out
    assert "broker: mqtt://127.0.0.1:1883" in out and "metrics: off" in out

    data = site_dict("gpu-site")
    data["inventory"] = {"source": "nvml"}
    path = write_site_toml(tmp_path / "nvml.toml", data)
    result = run_cli("site_agents", "check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    try:
        import pynvml  # type: ignore[import-untyped]

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        has_gpu = True
    except Exception:
        has_gpu = False
    if not has_gpu:
        assert "NVML unavailable" in result.stdout
        assert "(config)" in result.stdout


def test_check_names_the_bad_key_and_line(tmp_path: Path) -> None:
    data = site_dict("gpu-site")
    data["inventory"] = {"source": "cuda"}
    path = write_site_toml(tmp_path / "bad.toml", data)
    result = run_cli("site_agents", "check", "--config", str(path))
    assert result.returncode == 2
    assert "inventory.source" in result.stderr
    assert "bad.toml:" in result.stderr  # file:line: key: message


def test_check_refuses_an_unknown_region_naming_key_and_line(tmp_path: Path) -> None:
    """`check` exits 2 on a [latency_ms] region outside [site] regions, naming the key and
    its line and listing the known regions."""
    data = site_dict("alpha", latency={"jjj": 5.0, "bj": 3.0})
    path = write_site_toml(tmp_path / "s.toml", data)
    result = run_cli("site_agents", "check", "--config", str(path))
    assert result.returncode == 2
    line = _line_of(path, "latency_ms", "bj")
    assert f"s.toml:{line}: latency_ms.bj: unknown region 'bj'" in result.stderr
    assert "known regions: jjj (京津冀 Beijing-Tianjin-Hebei), csj" in result.stderr


def test_probe_targets_name_known_regions(tmp_path: Path) -> None:
    """A [latency_probe] target for an unknown region is refused by its key."""
    data = site_dict("alpha")
    data["latency_probe"] = {"targets": {"csj": "127.0.0.1:9", "mars": "127.0.0.1:9"}}
    with pytest.raises(ConfigFileError) as info:
        load_site_config(write_site_toml(tmp_path / "s.toml", data))
    assert info.value.key == "latency_probe.targets.mars"
    assert info.value.line is not None


def test_site_regions_set_the_known_regions(tmp_path: Path) -> None:
    """[site] regions replaces the national set; a region in other case is that region."""
    data = site_dict("alpha", latency={"JJJ": 5.0, "xj": 4.0})
    data["site"]["regions"] = ["jjj", "xj"]
    config = load_site_config(write_site_toml(tmp_path / "s.toml", data))
    assert config.latency_ms == {"jjj": 5.0, "xj": 4.0}
    data["site"]["regions"] = ["jjj", "XJ"]
    with pytest.raises(ConfigFileError) as info:
        load_site_config(write_site_toml(tmp_path / "s.toml", data))
    assert info.value.key == "site.regions"


def test_accelerator_models_take_their_one_spelling(tmp_path: Path) -> None:
    """h100 is H100; H10 is refused naming the entry and its line, with "did you mean"."""
    data = site_dict("alpha")
    data["accelerators"][0]["model"] = "h100"
    data["inventory"] = {"model_names": {"H100-PCIe": "h100"}}
    config = load_site_config(write_site_toml(tmp_path / "s.toml", data))
    assert config.accelerators[0].model == "H100"
    assert config.inventory.model_names == {"H100-PCIe": "H100"}
    data["accelerators"][0]["model"] = "H10"
    path = write_site_toml(tmp_path / "s.toml", data)
    with pytest.raises(ConfigFileError) as info:
        load_site_config(path)
    line = _line_of(path, "accelerators", "model")
    assert (info.value.key, info.value.line) == ("accelerators[0].model", line)
    assert "did you mean H100?" in info.value.message


def test_once_without_a_pue_exits_1_and_says_why(tmp_path: Path) -> None:
    """`once` with an unreadable PUE file exits 1 naming the PUE and the file."""
    data = site_dict("alpha")
    data["pue"] = {"source": "file", "path": str(tmp_path / "missing.json")}
    result = _agent_cli(tmp_path, data, "once")
    assert result.returncode == 1
    assert "pue: cannot read PUE" in result.stderr and "missing.json" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-ca", "/etc/hosts"], "mqtts://"),
        (["--mqtt", "mqtts://127.0.0.1:8883", "--tls-ca", "/nonexistent/ca.pem"], "TLS files"),
        (["--mqtt-username", "u", "--mqtt-password-file", "/nonexistent/pw"], "password file"),
        (["--mqtt", "http://x"], "scheme"),
    ],
)
def test_run_refuses_bad_broker_settings(tmp_path: Path, args: list[str], message: str) -> None:
    """Bad broker options exit 2 before connecting, saying what is wrong."""
    result = _agent_cli(tmp_path, site_dict("alpha"), "run", *args, timeout=30)
    assert result.returncode == 2
    assert "error: broker:" in result.stderr and message in result.stderr


def test_check_refuses_bad_broker_files(tmp_path: Path) -> None:
    """`check` (the systemd unit's ExecStartPre) fails on broker settings `run` would refuse."""
    data = site_dict("alpha")
    data["broker"] = {"url": "mqtts://127.0.0.1:8883", "ca_file": str(tmp_path / "no-ca.pem")}
    result = _agent_cli(tmp_path, data, "check")
    assert result.returncode == 2
    assert "broker: TLS files" in result.stderr


def test_run_refuses_a_bad_log_level_and_a_busy_metrics_port(tmp_path: Path) -> None:
    """A bad --log-level or a metrics port in use exits 2 with a message, no traceback."""
    result = _agent_cli(tmp_path, site_dict("alpha"), "run", "--log-level", "VERBOSE")
    assert result.returncode == 2 and "--log-level" in result.stderr
    with socket.create_server(("0.0.0.0", 0)) as busy:
        port = str(busy.getsockname()[1])
        result = _agent_cli(tmp_path, site_dict("alpha"), "run", "--metrics-port", port)
    assert result.returncode == 2 and "error: metrics: cannot listen" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("metrics", "shown"),
    [
        ({}, "metrics: off"),
        ({"port": 0}, "metrics: http://0.0.0.0:PORT/metrics, PORT any free port (run logs it)"),
        ({"port": 9464, "address": "127.0.0.1"}, "metrics: http://127.0.0.1:9464/metrics"),
    ],
)
def test_metrics_port_omitted_is_off_and_0_is_any_free_port(
    tmp_path: Path, metrics: dict[str, Any], shown: str
) -> None:
    """The same meaning as the router's ``[metrics] port``; `check` says which."""
    data = site_dict("alpha")
    if metrics:
        data["metrics"] = metrics
    result = _agent_cli(tmp_path, data, "check")
    assert result.returncode == 0, result.stderr
    assert shown in result.stdout.splitlines()


def test_run_refuses_a_metrics_port_with_no_metrics(tmp_path: Path) -> None:
    result = _agent_cli(tmp_path, site_dict("alpha"), "run", "--metrics-port", "0", "--no-metrics")
    assert result.returncode == 2 and "give one of them" in result.stderr
    result = _agent_cli(tmp_path, site_dict("alpha"), "run", "--metrics-port", "-1")
    assert result.returncode == 2 and "-1 is not a port" in result.stderr


def test_a_misspelt_section_is_named_with_the_one_meant(tmp_path: Path) -> None:
    """``[peu]`` is an unknown section at its line, "did you mean 'pue'?", not a missing pue."""
    text = (EXAMPLES / "guian.toml").read_text(encoding="utf-8")
    path = tmp_path / "guian.toml"
    path.write_text(text.replace("\n[pue]\n", "\n[peu]\n"), encoding="utf-8")
    line = path.read_text(encoding="utf-8").splitlines().index("[peu]") + 1
    with pytest.raises(ConfigFileError) as info:
        load_site_config(path)
    assert str(info.value) == f"{path}:{line}: peu: unknown section (did you mean 'pue'?)"
    result = run_cli("site_agents", "check", "--config", str(path))
    assert result.returncode == 2
    assert "unknown section (did you mean 'pue'?)" in result.stderr
    assert "Field required" not in result.stderr


def test_a_misspelt_key_is_named_with_the_one_meant(tmp_path: Path) -> None:
    data = site_dict("alpha")
    data["pue"] = {"valeu": 1.2}
    path = write_site_toml(tmp_path / "site.toml", data)
    with pytest.raises(ConfigFileError) as info:
        load_site_config(path)
    assert (info.value.key, info.value.line) == ("pue.valeu", _line_of(path, "pue", "valeu"))
    assert info.value.message == "unknown key (did you mean 'value'?)"
