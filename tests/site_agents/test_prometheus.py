"""``[inventory] source = "prometheus"``: the site's inventory from a real Prometheus scraping
the exporters of tests/data/exporters, and what the agent reports when it cannot read it."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netrouter.contract.configfile import ConfigFileError
from netrouter.contract.names import UnknownNameError
from site_agents.collectors import CollectorError, Inventory
from site_agents.config import DEFAULT_QUERIES, SiteConfig, load_site_config
from site_agents.prometheus import PrometheusInventory, canonical_model
from site_agents.report import Sources
from tests.helpers.factories import site_dict, write_site_toml
from tests.helpers.prometheus import Exporter, Prometheus

EXPORTERS = Path(__file__).resolve().parents[1] / "data" / "exporters"

StartPrometheus = Callable[..., Prometheus]


def _config(tmp_path: Path, prometheus_toml: str, **site: Any) -> SiteConfig:
    """A site (static list: 16 H100 and 4 Ascend910B) reading Prometheus as configured."""
    data = site_dict("alpha", h100=16, **site)
    data["accelerators"].append(
        {"model": "Ascend910B", "total": 4, "healthy": 4, "in_use_by_others": 0, "power_w": 400.0}
    )
    path = write_site_toml(tmp_path / "site.toml", data)
    with path.open("a") as f:
        f.write('\n[inventory]\nsource = "prometheus"\n\n[inventory.prometheus]\n')
        f.write(prometheus_toml)
    return load_site_config(path)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _counts(inventory: list[Inventory]) -> dict[str, tuple[int, int, int, float, bool]]:
    return {
        i.model: (i.total, i.healthy, i.in_use_by_others, i.power_w, i.from_static_config)
        for i in inventory
    }


# --- configuration and model names (no Prometheus) ---------------------------------------


def test_defaults_query_every_fact_and_map_exporter_models(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    section = config.inventory.prometheus
    assert section.url == "http://127.0.0.1:9090"
    assert section.queries == DEFAULT_QUERIES
    assert section.fallback == "last_good"
    assert isinstance(Sources.from_config(config).inventory, PrometheusInventory)
    names = section.exporter_models
    assert canonical_model("NVIDIA H100 80GB HBM3", names) == "H100"
    assert canonical_model("910B3-Ascend-V1", names) == "Ascend910B"
    # Not in the table: read like NVML's names, or Ascend's NNNX#-Ascend-V#.
    assert canonical_model("NVIDIA H20", {}) == "H20"
    assert canonical_model("NVIDIA L40S", {}) == "L40S"
    assert canonical_model("310P3-Ascend-V1", {}) == "Ascend310P"
    assert canonical_model("910B4-Ascend-V2", {}) == "Ascend910B"
    with pytest.raises(UnknownNameError, match="did you mean"):
        canonical_model("NVIDIA H10", {})


def test_configured_queries_and_model_names_override_the_defaults(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        'url = "http://prom.site:9090/"\nfallback = "none"\n'
        'queries = { npu_devices = "", gpu_power_draw_w = "sum by (node, model) (x)" }\n'
        'model_names = { "NVIDIA H100 NVL" = "h100" }\nboard_power_w = { h100 = 400 }\n',
    )
    section = config.inventory.prometheus
    assert section.url == "http://prom.site:9090"
    assert section.queries["npu_devices"] == ""
    assert section.queries["gpu_power_draw_w"] == "sum by (node, model) (x)"
    assert section.queries["gpu_devices"] == DEFAULT_QUERIES["gpu_devices"]
    assert section.exporter_models["NVIDIA H100 NVL"] == "H100"
    assert section.exporter_models["910B3-Ascend-V1"] == "Ascend910B"
    assert section.board_power_w == {"H100": 400.0}


@pytest.mark.parametrize(
    ("body", "key", "line", "message"),
    [
        ('fallback = "stale"\n', "inventory.prometheus.fallback", 1, "last_good"),
        ("grace_s = 0\n", "inventory.prometheus.grace_s", 1, "greater than 0"),
        ('url = "prom:9090"\n', "inventory.prometheus.url", 1, "http://"),
        (
            'timeout_s = 1\nqueries = { gpu_device = "up" }\n',
            "inventory.prometheus.queries.gpu_device",
            2,
            "unknown query",
        ),
        (
            'queries = { gpu_devices = "", npu_devices = " " }\n',
            "inventory.prometheus.queries",
            1,
            "at least one of gpu_devices and npu_devices",
        ),
        (
            '\nmodel_names = { "NVIDIA H100 80GB HBM3" = "H10" }\n',
            "inventory.prometheus.model_names.NVIDIA H100 80GB HBM3",
            2,
            "did you mean H100",
        ),
        (
            "board_power_w = { H100 = 0 }\n",
            "inventory.prometheus.board_power_w.H100",
            1,
            "equal to 1",
        ),
    ],
)
def test_bad_prometheus_settings_name_key_and_line(
    tmp_path: Path, body: str, key: str, line: int, message: str
) -> None:
    with pytest.raises(ConfigFileError) as info:
        _config(tmp_path, body)
    text = (tmp_path / "site.toml").read_text().splitlines()
    section_line = text.index("[inventory.prometheus]") + 1
    assert info.value.key == key
    assert info.value.line == section_line + line
    assert message in info.value.message


# --- fallbacks, with an injected clock and answers (no Prometheus) ---------------------------


def _answer(rows: list[tuple[str, str, float]]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"node": n, "model": m}, "value": [0, str(v)]} for n, m, v in rows
            ],
        },
    }


class FakePrometheus:
    """Answers each default query by name; ``down`` refuses every request."""

    def __init__(self) -> None:
        self.down = False
        self.urls: list[str] = []
        by_query = {v: k for k, v in DEFAULT_QUERIES.items()}
        self.by_name: dict[str, list[tuple[str, str, float]]] = {k: [] for k in by_query.values()}
        self.by_name["gpu_devices"] = [("node-a", "NVIDIA H100 80GB HBM3", 8)]
        self.by_name["gpu_unhealthy"] = [("node-a", "NVIDIA H100 80GB HBM3", 1)]
        self._by_query = by_query

    def __call__(self, url: str, timeout_s: float) -> Any:
        from urllib.parse import parse_qs, urlsplit

        self.urls.append(url)
        if self.down:
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        query = parse_qs(urlsplit(url).query)["query"][0]
        return _answer(self.by_name[self._by_query[query]])


def test_prometheus_down_last_good_for_grace_then_static_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(tmp_path, "grace_s = 60\n")
    clock, fake = Clock(), FakePrometheus()
    source = PrometheusInventory(config, clock=clock, fetch=fake)
    good = {"H100": (8, 7, 0, 700.0, False)}
    assert _counts(source.inventory()) == good
    fake.down = True
    with caplog.at_level(logging.INFO, logger="site_agents.prometheus"):
        for _ in range(3):
            clock.now += 20
            assert _counts(source.inventory()) == good  # 20, 40, 60 s: within the grace
        clock.now += 1
        static = {"H100": (16, 16, 0, 700.0, True), "Ascend910B": (4, 4, 0, 400.0, True)}
        for _ in range(3):
            assert _counts(source.inventory()) == static
            clock.now += 100
        failing = [r.getMessage() for r in caplog.records if "gpu_devices" in r.getMessage()]
        assert len(failing) == 1
        assert "Connection refused" in failing[0]
        assert DEFAULT_QUERIES["gpu_devices"] in failing[0]
        fallbacks = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(fallbacks) == 2  # last good, then static: each said once
        fake.down = False
        assert _counts(source.inventory()) == good
        assert any("answers again" in r.getMessage() for r in caplog.records)


def test_fallback_static_or_none_and_never_static_capacity_as_measured(tmp_path: Path) -> None:
    fake = FakePrometheus()
    fake.down = True
    static = PrometheusInventory(_config(tmp_path, 'fallback = "static"\n'), fetch=fake)
    assert all(i.from_static_config for i in static.inventory())
    none = PrometheusInventory(_config(tmp_path, 'fallback = "none"\n'), fetch=fake)
    with pytest.raises(CollectorError, match="Connection refused") as info:
        none.inventory()
    assert info.value.collector == "inventory"
    # An answer without the node and model labels is a failing query, naming it.
    fake.down = False
    fake.by_name["gpu_devices"] = [("", "NVIDIA H100 80GB HBM3", 8)]
    with pytest.raises(CollectorError, match=r"query gpu_devices failed .*without node"):
        none.inventory()
    # No devices at all (every exporter gone) is a failure too, not an empty site.
    fake.down = False
    fake.by_name["gpu_devices"] = []
    with pytest.raises(CollectorError, match="no devices found"):
        none.inventory()


def test_models_without_board_power_or_name_are_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakePrometheus()
    fake.by_name["gpu_devices"] += [("node-c", "NVIDIA L40S", 4), ("node-d", "NVIDIA H10", 2)]
    source = PrometheusInventory(_config(tmp_path, ""), fetch=fake)
    with caplog.at_level(logging.WARNING, logger="site_agents.prometheus"):
        assert _counts(source.inventory()) == {"H100": (8, 7, 0, 700.0, False)}
        source.inventory()
    warnings = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert len(warnings) == 2, warnings  # each said once
    assert any("L40S left out: no board power" in w for w in warnings)
    assert any("'NVIDIA H10' left out" in w for w in warnings)


# --- a real Prometheus scraping the fixture exporters ---------------------------------------


def _fixture(name: str) -> str:
    text = (EXPORTERS / name).read_text()
    # npu-exporter stamps samples (ms); the fixture's stamps are older than a fresh TSDB
    # accepts, so the test serves them as scraped now.
    return re.sub(r"(?m)^([^#].*\}\s+\S+)\s+\d{13}$", r"\1", text)


@pytest.mark.prometheus
@pytest.mark.slow
def test_two_node_site_from_the_exporters_and_a_node_that_goes_away(
    tmp_path: Path,
    prometheus: StartPrometheus,
    new_exporter: Callable[..., Exporter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """node-a (dcgm.prom): 8 × "NVIDIA H100 80GB HBM3"; GPU 3's last XID is 79 (critical),
    so 7 healthy; GPUs 0,1 carry pod netrouter/nr-7f3a9c-0, whose kube_pod_labels has
    placement id pl-7f3a9c (ours), GPUs 4,5 pod team-a/llm-finetune-0 (no placement id):
    2 in use by others. node-b (ascend_npu_exporter.prom, named by its scrape target):
    8 × "910B3-Ascend-V1" = Ascend910B; chip 6 health 0, so 7 healthy; chips 0-3 carry pod
    team-b/ascend-infer-0 (no placement id): 4 in use by others. Board power comes from
    [[accelerators]] (700 W, 400 W). Measured draw is kept per node: dcgm's 8 readings and
    the npu's 8 summed.

    Then the npu-exporter stops: Prometheus marks its series stale after the failed scrape
    and node-b's chips drop out of the inventory (logged), rather than being kept."""
    dcgm = new_exporter(_fixture("dcgm.prom"), job="dcgm")
    ksm = new_exporter(_fixture("kube_state_metrics.prom"), job="ksm")
    npu = new_exporter(_fixture("ascend_npu_exporter.prom"), job="npu")
    server = prometheus(dcgm, ksm, npu)
    config = _config(tmp_path, f'url = "{server.url}"\n')
    for name in ("gpu_devices", "npu_devices", "gpu_in_use_by_others"):
        server.wait_for(DEFAULT_QUERIES[name])
    server.wait_for("kube_pod_labels")
    source = PrometheusInventory(config)
    assert _counts(source.inventory()) == {
        "Ascend910B": (8, 7, 4, 400.0, False),
        "H100": (8, 7, 2, 700.0, False),
    }
    nodes = {(e.node, e.model): e for e in source.nodes}
    assert set(nodes) == {("node-a", "H100"), (npu.target, "Ascend910B")}
    assert nodes["node-a", "H100"].power_draw_w == pytest.approx(
        sum(_power(_fixture("dcgm.prom"), "DCGM_FI_DEV_POWER_USAGE"))
    )
    assert nodes[npu.target, "Ascend910B"].power_draw_w == pytest.approx(
        sum(_power(_fixture("ascend_npu_exporter.prom"), "npu_chip_info_power"))
    )
    assert "node node-a: 8 H100 (NVIDIA H100 80GB HBM3), 7 healthy, 2 in use by others" in (
        nodes["node-a", "H100"].describe()
    )

    npu.stop()
    server.wait_for(DEFAULT_QUERIES["npu_devices"], lambda result: not result)
    with caplog.at_level(logging.WARNING, logger="site_agents.prometheus"):
        assert _counts(source.inventory()) == {"H100": (8, 7, 2, 700.0, False)}
    assert any(
        f"node {npu.target} no longer shows its Ascend910B" in r.getMessage()
        for r in caplog.records
    )


def _power(text: str, metric: str) -> list[float]:
    return [
        float(line.split("} ")[1].split()[0])
        for line in text.splitlines()
        if line.startswith(metric + "{")
    ]


def test_check_shows_the_failing_query_and_the_fallback(tmp_path: Path) -> None:
    """`netrouter-agent check` with Prometheus not there: the query that failed, with its
    text, then the static inventory the agent falls back to."""
    from typer.testing import CliRunner

    from netrouter.cli.embedded_broker import free_port
    from site_agents.cli import app

    _config(tmp_path, f'url = "http://127.0.0.1:{free_port()}"\ntimeout_s = 1\n')
    result = CliRunner().invoke(app, ["check", "--config", str(tmp_path / "site.toml")])
    assert result.exit_code == 0, result.output
    assert "inventory (prometheus):" in result.output
    assert "Prometheus: query gpu_devices failed" in result.output
    assert DEFAULT_QUERIES["gpu_devices"] in result.output
    assert "H100: 16 total, 16 healthy, 0 in use by others, 700 W each (config)" in result.output
