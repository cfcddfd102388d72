"""examples/deploy: the full site config loads, and the systemd unit and the DaemonSet call
the agent with options it has and mount the files the config names."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import yaml

from site_agents.config import load_site_config
from tests.helpers.factories import run_cli

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"


def _run_options() -> set[str]:
    """The long options `netrouter-agent run` accepts, from its --help."""
    result = run_cli("site_agents", "run", "--help", timeout=60)
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", result.stdout))


def _options(argv: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in argv if a.startswith("--")]


def test_full_site_config_uses_every_source() -> None:
    config = load_site_config(DEPLOY / "site-agent.toml")
    assert config.inventory.source == "nvml"
    assert config.pue.source == "http" and config.pue.value is not None
    assert config.pue.mean_json_path and config.pue.state_file
    assert set(config.latency_probe.targets) == set(config.latency_ms)
    assert config.broker.url.startswith("mqtts://") and config.broker.password_file
    assert config.metrics.port is not None and config.metrics.port > 0


def test_systemd_unit_runs_the_agent_with_options_it_has() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "netrouter-agent.service", encoding="utf-8")
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/netrouter-agent") and argv[1] == "run"
    assert argv[argv.index("--config") + 1] == "/etc/netrouter/site.toml"
    assert set(_options(argv)) <= _run_options()
    assert shlex.split(service["ExecStartPre"])[1] == "check"
    assert service["KillSignal"] == "SIGTERM" and service["Restart"] == "always"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    state_file = load_site_config(DEPLOY / "site-agent.toml").pue.state_file
    assert state_file.startswith(f"/var/lib/{service['StateDirectory']}/")


def test_daemonset_mounts_what_the_config_names() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "netrouter-agent-daemonset.yaml").read_text()))
    (daemonset,) = [d for d in docs if d and d["kind"] == "DaemonSet"]
    spec = daemonset["spec"]["template"]["spec"]
    assert daemonset["spec"]["selector"]["matchLabels"].items() <= (
        daemonset["spec"]["template"]["metadata"]["labels"].items()
    )
    (container,) = spec["containers"]
    argv = [*container["command"], *container["args"]]
    assert argv[:2] == ["netrouter-agent", "run"]
    assert set(_options(argv)) <= _run_options()
    config_path = argv[argv.index("--config") + 1]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[config_path] == "config"
    config = load_site_config(DEPLOY / "site-agent.toml")
    for secret_file in (
        config.broker.password_file,
        config.broker.ca_file,
        config.broker.cert_file,
        config.broker.key_file,
    ):
        assert any(secret_file.startswith(path + "/") for path in mounts), secret_file
    state_mount = next(path for path in mounts if config.pue.state_file.startswith(path + "/"))
    assert not any(
        m.get("readOnly") for m in container["volumeMounts"] if m["mountPath"] == state_mount
    )
    ports = {p["containerPort"] for p in container["ports"]}
    assert config.metrics.port in ports
    annotations = daemonset["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == config.metrics.port
    assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"
    volumes = {v["name"] for v in spec["volumes"]}
    assert set(mounts.values()) <= volumes
