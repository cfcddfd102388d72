"""``[inventory] source = "prometheus"``: the site's inventory from a real Prometheus scraping
the exporters of tests/data/exporters, and what the agent reports when it cannot read it."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from netrouter.contract.configfile import ConfigFileError
from netrouter.contract.names import UnknownNameError
from netrouter.contract.site_report import SiteReport, decode_report
from site_agents.collectors import CollectorError, Inventory
from site_agents.config import DEFAULT_QUERIES, SiteConfig, load_site_config
from site_agents.prometheus import PrometheusInventory, canonical_model
from site_agents.report import ReportBuilder, Sources
from tests.helpers.exporter_text import (
    Device,
    Pod,
    dcgm_text,
    kube_state_metrics_text,
    npu_text,
)
from tests.helpers.factories import site_dict, write_site_toml
from tests.helpers.processes import require_binary
from tests.helpers.prometheus import PROMETHEUS, Exporter, Prometheus

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


def _shapes(inventory: list[Inventory]) -> dict[str, tuple[int, tuple[int, ...], int]]:
    return {i.model: (i.node_size, i.nodes_by_free, i.domain_nodes) for i in inventory}


def _builder(config: SiteConfig, inventory: PrometheusInventory) -> ReportBuilder:
    """The agent's report builder over ``inventory`` (the config's other sources)."""
    sources = Sources.from_config(config)
    return ReportBuilder(
        config,
        Sources(inventory=inventory, price=sources.price, pue=sources.pue, latency=sources.latency),
    )


def _routed(config: SiteConfig, builder: ReportBuilder) -> SiteReport:
    """The next report, as the router decodes and checks it (raises if it would refuse it)."""
    return decode_report(config.site.id, builder.build().SerializeToString())


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


Row = tuple[Any, ...]
"""``(node, model label, value)``, or ``(node, model label, placement id, value)``."""


def _answer(rows: list[Row]) -> dict[str, Any]:
    result = []
    for node, model, *placement, value in rows:
        metric = {"node": node, "model": model}
        if placement:
            metric["placement_id"] = placement[0]
        result.append({"metric": metric, "value": [0, str(value)]})
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class FakePrometheus:
    """Answers each default query by name; ``down`` refuses every request; the queries
    named in ``failing`` get Prometheus' error answer."""

    def __init__(self) -> None:
        self.down = False
        self.failing: set[str] = set()
        self.urls: list[str] = []
        by_query = {v: k for k, v in DEFAULT_QUERIES.items()}
        self.by_name: dict[str, list[Row]] = {k: [] for k in by_query.values()}
        self.by_name["gpu_devices"] = [("node-a", "NVIDIA H100 80GB HBM3", 8)]
        self.by_name["gpu_unhealthy"] = [("node-a", "NVIDIA H100 80GB HBM3", 1)]
        self._by_query = by_query

    def __call__(self, url: str, timeout_s: float) -> Any:
        from urllib.parse import parse_qs, urlsplit

        self.urls.append(url)
        if self.down:
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        query = parse_qs(urlsplit(url).query)["query"][0]
        name = self._by_query[query]
        if name in self.failing:
            return {"status": "error", "errorType": "execution", "error": "many-to-many"}
        return _answer(self.by_name[name])

    def asked(self, name: str) -> int:
        """How many requests asked query ``name``."""
        from urllib.parse import parse_qs, urlsplit

        return sum(
            parse_qs(urlsplit(url).query)["query"][0] == DEFAULT_QUERIES[name] for url in self.urls
        )


def test_domains_come_from_the_node_query_and_a_failing_one_leaves_them_unknown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two whole nodes in clique "c.1" and one in none: domains of 2 and 1 whole nodes. The
    domain query failing leaves the domains unknown (logged once) and the inventory good."""
    fake = FakePrometheus()
    fake.by_name["gpu_devices"] = [(f"node-{n}", "NVIDIA H100 80GB HBM3", 8) for n in "abc"]
    fake.by_name["gpu_unhealthy"] = []
    source = PrometheusInventory(_config(tmp_path, ""), fetch=fake)
    fake.by_name["node_domains"] = []
    domains = {"node-a": "c.1", "node-b": "c.1"}
    answer = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"node": node, "domain": name}, "value": [0, "1"]}
                for node, name in domains.items()
            ],
        },
    }
    plain = fake.__call__

    def fetch(url: str, timeout_s: float) -> Any:
        if "kube_node_labels" in url and "node_domains" not in fake.failing:
            return answer
        return plain(url, timeout_s)

    source.fetch = fetch
    (h100,) = source.inventory()
    assert (h100.domain_nodes, h100.domains_by_whole) == (2, (0, 1, 1))
    fake.failing.add("node_domains")
    with caplog.at_level(logging.WARNING, logger="site_agents.prometheus"):
        for _ in range(2):
            (h100,) = source.inventory()
            assert (h100.total, h100.nodes_by_free[-1]) == (24, 3)
            assert (h100.domain_nodes, h100.domains_by_whole) == (0, ())
    said = [r.getMessage() for r in caplog.records if "node_domains" in r.getMessage()]
    assert len(said) == 1 and "interconnect domains unknown" in said[0], said


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


def test_shape_from_the_nodes_partitions_what_the_router_checks(tmp_path: Path) -> None:
    """node-a: 8 H100, one unhealthy, 2 in use by others (5 free); node-b: 8, all healthy,
    9 in use by others (more than it has: clamped to 8, so 0 free); node-c: 4 (a smaller
    node), 1 in use (3 free); node-d: 2 + 2 under two exporter labels of H100, one
    unhealthy (3 free). node_size is the biggest node (8); the histogram counts nodes per
    free devices and adds up to healthy - in use, so the router takes the report."""
    fake = FakePrometheus()
    h100, pcie = "NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"
    fake.by_name["gpu_devices"] = [
        ("node-a", h100, 8),
        ("node-b", h100, 8),
        ("node-c", h100, 4),
        ("node-d", h100, 2),
        ("node-d", pcie, 2),
    ]
    fake.by_name["gpu_unhealthy"] = [("node-a", h100, 1), ("node-d", pcie, 1)]
    fake.by_name["gpu_in_use_by_others"] = [
        ("node-a", h100, 2),
        ("node-b", h100, 9),
        ("node-c", h100, 1),
    ]
    config = _config(tmp_path, "")
    source = PrometheusInventory(config, fetch=fake)
    inventory = source.inventory()
    assert _counts(inventory) == {"H100": (24, 22, 11, 700.0, False)}
    assert _shapes(inventory) == {"H100": (8, (1, 0, 0, 2, 0, 1, 0, 0, 0), 0)}
    (report,) = _routed(config, _builder(config, source)).accelerators
    assert (report.node_size, report.nodes_by_free) == (8, (1, 0, 0, 2, 0, 1, 0, 0, 0))
    assert report.available == 11 and report.largest_free == 5 and report.whole_nodes == 0


def test_a_node_too_big_for_a_report_leaves_the_shape_unreported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A node of 72 devices (more than a report's node_size may be): counts only, said once."""
    fake = FakePrometheus()
    fake.by_name["gpu_devices"] = [("rack-1", "NVIDIA H100 80GB HBM3", 72)]
    config = _config(tmp_path, "")
    source = PrometheusInventory(config, fetch=fake)
    with caplog.at_level(logging.WARNING, logger="site_agents.prometheus"):
        assert _shapes(source.inventory()) == {"H100": (0, (), 0)}
        source.inventory()
    assert len([r for r in caplog.records if "shape not reported" in r.getMessage()]) == 1
    (report,) = _routed(config, _builder(config, source)).accelerators
    assert (report.total, report.healthy, report.node_size) == (72, 72, 0)


def test_the_static_fallback_reports_no_shape(tmp_path: Path) -> None:
    fake = FakePrometheus()
    fake.down = True
    config = _config(tmp_path, 'fallback = "static"\n')
    inventory = PrometheusInventory(config, fetch=fake).inventory()
    assert _shapes(inventory) == {"H100": (0, (), 0), "Ascend910B": (0, (), 0)}


def test_npu_nodes_are_named_by_node_label_else_the_scrape_targets_host(
    tmp_path: Path,
) -> None:
    """npu-exporter labels no node: each of its series is named by its scrape target's host
    (``instance`` without the port, IPv6 brackets kept), unless it carries a ``node`` label
    (a relabelling scrape config), which wins. Evaluated by ``promtool test rules``, the
    PromQL engine without a server."""
    promtool = str(Path(PROMETHEUS).with_name("promtool")) if PROMETHEUS else None
    require_binary("prometheus", promtool if promtool and Path(promtool).exists() else None)
    assert promtool is not None
    model = 'model_name="910B3-Ascend-V1"'
    series = [
        ('instance="10.0.3.7:8082",id="0"', "1"),
        ('instance="10.0.3.7:8082",id="1"', "1"),
        ('instance="10.0.3.7:8082",id="2"', "0"),
        ('instance="[fd00::9]:8082",id="0"', "1"),
        ('instance="npu-host-3",id="0"', "1"),
        ('instance="10.0.3.8:8082",node="node-b",id="0"', "1"),
    ]

    def expect(query: str, samples: dict[str, float]) -> dict[str, Any]:
        return {
            "expr": DEFAULT_QUERIES[query],
            "eval_time": "0m",
            "exp_samples": [
                {"labels": f'{{node="{node}",model="910B3-Ascend-V1"}}', "value": value}
                for node, value in samples.items()
            ],
        }

    tests = {
        "rule_files": [],
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": f'npu_chip_info_health_status{{job="npu",{labels},{model}}}',
                        "values": value,
                    }
                    for labels, value in series
                ],
                "promql_expr_test": [
                    expect(
                        "npu_devices",
                        {"10.0.3.7": 3, "[fd00::9]": 1, "npu-host-3": 1, "node-b": 1},
                    ),
                    expect("npu_unhealthy", {"10.0.3.7": 1}),
                ],
            }
        ],
    }
    path = tmp_path / "npu_nodes.yml"
    path.write_text(json.dumps(tests))  # JSON is YAML
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


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
    2 in use by others. node-b (ascend_npu_exporter.prom, named by its scrape target's host):
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
    assert set(nodes) == {("node-a", "H100"), (npu.host, "Ascend910B")}
    assert nodes["node-a", "H100"].power_draw_w == pytest.approx(
        sum(_power(_fixture("dcgm.prom"), "DCGM_FI_DEV_POWER_USAGE"))
    )
    assert nodes[npu.host, "Ascend910B"].power_draw_w == pytest.approx(
        sum(_power(_fixture("ascend_npu_exporter.prom"), "npu_chip_info_power"))
    )
    assert "node node-a: 8 H100 (NVIDIA H100 80GB HBM3), 7 healthy, 2 in use by others" in (
        nodes["node-a", "H100"].describe()
    )
    # node-a's NVLink clique (kube_node_labels): a domain of one node, none of it whole free.
    shapes = {i.model: (i.domain_nodes, i.domains_by_whole) for i in source.inventory()}
    assert shapes == {"H100": (1, (1, 0)), "Ascend910B": (0, ())}

    npu.stop()
    server.wait_for(DEFAULT_QUERIES["npu_devices"], lambda result: not result)
    with caplog.at_level(logging.WARNING, logger="site_agents.prometheus"):
        assert _counts(source.inventory()) == {"H100": (8, 7, 2, 700.0, False)}
    assert any(
        f"node {npu.host} no longer shows its Ascend910B" in r.getMessage() for r in caplog.records
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
    assert "placements" not in result.output  # sees_placements is off


def test_check_says_when_placements_were_not_read(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from netrouter.cli.embedded_broker import free_port
    from site_agents.cli import app

    _config(tmp_path, f'url = "http://127.0.0.1:{free_port()}"\ntimeout_s = 1\n' + SEES)
    result = CliRunner().invoke(app, ["check", "--config", str(tmp_path / "site.toml")])
    assert result.exit_code == 0, result.output
    assert "netrouter's placements: not read" in result.output


# --- a real Prometheus scraping many generated nodes ------------------------------------------


def _others(n: int, team: str = "team-a") -> Pod:
    return Pod(team, f"train-{n}", "trainer")


def _ours(n: int) -> Pod:
    return Pod("netrouter", f"nr-{n}-0", "worker", placement_id=f"pl-{n}")


def _gpu_node(i: int) -> list[Device]:
    """H100 node ``i`` of 48 (free devices in brackets): 0-23 idle [8]; 24-31 one GPU with
    XID 79 [7]; 32-39 four GPUs in another team's pod [4]; 40-43 all eight in netrouter's
    own pod [8]; 44-45 two in another team's pod, two in ours, one XID 79 [5]; 46 all eight
    in another team's pod [0]; 47 every GPU failed, two still in another team's pod (in
    use clamped to the 0 healthy) [0]."""
    idle = Device()
    devices = [idle] * 8
    if 24 <= i < 32:
        devices[i % 8] = Device(healthy=False)
    elif 32 <= i < 40:
        devices[:4] = [Device(pod=_others(i))] * 4
    elif 40 <= i < 44:
        devices = [Device(pod=_ours(i))] * 8
    elif i in (44, 45):
        devices[:4] = [Device(pod=_others(i))] * 2 + [Device(pod=_ours(i))] * 2
        devices[7] = Device(healthy=False)
    elif i == 46:
        devices = [Device(pod=_others(i))] * 8
    elif i == 47:
        devices = [Device(healthy=False, pod=_others(i))] * 2 + [Device(healthy=False)] * 6
    return devices


def _npu_node(j: int) -> list[Device]:
    """Ascend node ``j`` of 16 (free chips in brackets): 0-7 idle [8]; 8-11 four chips in
    another team's pod and one idle chip with health 0 [3]; 12-13 all eight in netrouter's
    own pod [8]; 14 two chips with health 0 [6]; 15 all eight in another team's pod [0]."""
    idle = Device()
    devices = [idle] * 8
    if 8 <= j < 12:
        devices[:4] = [Device(pod=_others(j, "team-b"))] * 4
        devices[5] = Device(healthy=False)
    elif j in (12, 13):
        devices = [Device(pod=_ours(100 + j))] * 8
    elif j == 14:
        devices[:2] = [Device(healthy=False)] * 2
    elif j == 15:
        devices = [Device(pod=_others(j, "team-b"))] * 8
    return devices


def _wait_all_up(server: Prometheus, jobs: int) -> None:
    """Until every target has been scraped successfully (its samples are in)."""
    server.wait_for(
        "count(up == 1)",
        lambda r: bool(r) and float(r[0]["value"][1]) == jobs,
        timeout=30,
    )


def _poll(
    source: PrometheusInventory,
    done: Callable[[list[Inventory]], bool],
    each: Callable[[list[Inventory]], None] = lambda _: None,
    timeout: float = 20.0,
) -> list[Inventory]:
    """Read the inventory until ``done`` holds, checking ``each`` read on the way."""
    deadline = time.monotonic() + timeout
    while True:
        inventory = source.inventory()
        each(inventory)
        if done(inventory):
            return inventory
        assert time.monotonic() < deadline, _counts(inventory)
        time.sleep(0.1)


@dataclass
class Site:
    """A site's exporters behind a real Prometheus, and the agent's source reading it."""

    dcgm: Exporter
    ksm: Exporter
    npus: list[Exporter]
    server: Prometheus
    config: SiteConfig
    source: PrometheusInventory
    resources: dict[str, str]
    """Each node's extended resource name, as kube-state-metrics gives it."""


def _site(
    tmp_path: Path,
    prometheus: StartPrometheus,
    new_exporter: Callable[..., Exporter],
    gpu_nodes: dict[str, list[Device]],
    npu_nodes: dict[str, list[Device]],
    *,
    pods_on: dict[str, list[Device]] | None = None,
    toml: str = "",
) -> Site:
    """One dcgm-exporter serving ``gpu_nodes``, one npu-exporter per node of ``npu_nodes``
    (each on its own loopback address), kube-state-metrics for the pods of ``pods_on``
    (default: every node), a Prometheus scraping them all (waited until every target is
    up) and the agent's source reading it (``toml``: more ``[inventory.prometheus]``)."""
    pods_on = {**gpu_nodes, **npu_nodes} if pods_on is None else pods_on
    resources = {
        node: "nvidia_com_gpu" if node in gpu_nodes else "huawei_com_Ascend910" for node in pods_on
    }
    dcgm = new_exporter(dcgm_text(gpu_nodes), job="dcgm")
    ksm = new_exporter(kube_state_metrics_text(pods_on, resources), job="ksm")
    npus = [
        new_exporter(npu_text(devices), job=f"npu-{n}", host=host)
        for n, (host, devices) in enumerate(npu_nodes.items())
    ]
    server = prometheus(dcgm, ksm, *npus)
    _wait_all_up(server, 2 + len(npus))
    config = _config(tmp_path, f'url = "{server.url}"\n' + toml)
    return Site(dcgm, ksm, npus, server, config, PrometheusInventory(config), resources)


@pytest.mark.prometheus
@pytest.mark.slow
def test_a_64_node_site_of_two_models_and_its_free_capacity_shape(
    tmp_path: Path, prometheus: StartPrometheus, new_exporter: Callable[..., Exporter]
) -> None:
    """48 H100 nodes of 8 behind one dcgm-exporter endpoint (``Hostname`` names each) and
    16 Ascend 910B nodes of 8, each its own npu-exporter on its own loopback address (no
    node label: the node is the scrape target's host), with kube-state-metrics for the
    pods (netrouter's carry a placement id). :func:`_gpu_node` and :func:`_npu_node` say
    which devices are failed and which pods hold which; the site reports per model the
    totals, healthy, in use by others and the exact free-per-node histogram, and the
    router takes the report."""
    gpu_nodes = {f"gpu-{i + 1:02d}": _gpu_node(i) for i in range(48)}
    npu_nodes = {f"127.0.0.{10 + j}": _npu_node(j) for j in range(16)}
    site = _site(tmp_path, prometheus, new_exporter, gpu_nodes, npu_nodes)
    config, source = site.config, site.source
    inventory = source.inventory()

    assert _counts(inventory) == {
        # 384 GPUs; 8 + 2 + 8 failed; in use: 8×4 + 2×2 + 8 (node 47's two clamped to 0)
        "H100": (384, 366, 44, 700.0, False),
        # 128 chips; 4 + 2 with health 0; in use: 4×4 + 8
        "Ascend910B": (128, 122, 24, 400.0, False),
    }
    assert _shapes(inventory) == {
        "H100": (8, (2, 0, 0, 0, 8, 2, 0, 8, 28), 0),
        "Ascend910B": (8, (1, 0, 0, 4, 0, 0, 1, 0, 10), 0),
    }
    for i in inventory:
        assert sum(k * n for k, n in enumerate(i.nodes_by_free)) == i.healthy - i.in_use_by_others
    nodes = {(e.node, e.model) for e in source.nodes}
    assert nodes == {(n, "H100") for n in gpu_nodes} | {(n, "Ascend910B") for n in npu_nodes}
    report = _routed(config, _builder(config, source))
    assert {a.model: a.whole_nodes for a in report.accelerators} == {
        "H100": 28,
        "Ascend910B": 10,
    }


@pytest.mark.prometheus
@pytest.mark.slow
def test_nodes_that_disappear_drop_out_and_are_never_reported_more(
    tmp_path: Path, prometheus: StartPrometheus, new_exporter: Callable[..., Exporter]
) -> None:
    """Three Ascend nodes (each its own npu-exporter) and two H100 nodes (one dcgm-exporter
    endpoint). One npu-exporter answers 500, another stops (connection refused), and the
    dcgm-exporter stops serving one node's GPUs: each time Prometheus marks those series
    stale on the next scrape and the next inventory leaves the node out; no read on the
    way reports more than before. A healed exporter's node comes back."""
    gpu_nodes = {"gpu-01": [Device()] * 8, "gpu-02": [Device(healthy=False)] + [Device()] * 7}
    npu_nodes = {f"127.0.0.{30 + j}": [Device()] * 8 for j in range(3)}
    npu_nodes["127.0.0.31"] = [Device(pod=_others(1, "team-b"))] * 2 + [Device()] * 6
    site = _site(tmp_path, prometheus, new_exporter, gpu_nodes, npu_nodes, pods_on=npu_nodes)
    dcgm, npus, config, source = site.dcgm, site.npus, site.config, site.source
    first = source.inventory()
    assert _counts(first) == {
        "H100": (16, 15, 0, 700.0, False),
        "Ascend910B": (24, 24, 2, 400.0, False),
    }
    assert _shapes(first)["Ascend910B"] == (8, (0, 0, 0, 0, 0, 0, 1, 0, 2), 0)

    def never_more(model: str, bound: int) -> Callable[[list[Inventory]], None]:
        def check(inventory: list[Inventory]) -> None:
            (i,) = [i for i in inventory if i.model == model]
            assert i.total <= bound and not i.from_static_config

        return check

    def total(model: str, n: int) -> Callable[[list[Inventory]], bool]:
        return lambda inventory: any(i.model == model and i.total == n for i in inventory)

    npus[0].fail(500)  # 127.0.0.30 answers errors
    got = _poll(source, total("Ascend910B", 16), never_more("Ascend910B", 24))
    assert _shapes(got)["Ascend910B"] == (8, (0, 0, 0, 0, 0, 0, 1, 0, 1), 0)
    assert "127.0.0.30" not in {e.node for e in source.nodes}

    npus[1].stop()  # 127.0.0.31 is gone: its pod's chips go with it
    got = _poll(source, total("Ascend910B", 8), never_more("Ascend910B", 16))
    assert _counts(got)["Ascend910B"] == (8, 8, 0, 400.0, False)
    assert _shapes(got)["Ascend910B"] == (8, (0, 0, 0, 0, 0, 0, 0, 0, 1), 0)

    dcgm.set_text(dcgm_text({"gpu-01": gpu_nodes["gpu-01"]}))  # gpu-02's series vanish
    got = _poll(source, total("H100", 8), never_more("H100", 16))
    assert _shapes(got)["H100"] == (8, (0, 0, 0, 0, 0, 0, 0, 0, 1), 0)
    assert {e.node for e in source.nodes} == {"gpu-01", "127.0.0.32"}
    _routed(config, _builder(config, source))

    npus[0].fail(None)  # healed: the node is seen again
    got = _poll(source, total("Ascend910B", 16))
    assert _shapes(got)["Ascend910B"] == (8, (0, 0, 0, 0, 0, 0, 0, 0, 2), 0)


@pytest.mark.prometheus
@pytest.mark.slow
def test_prometheus_down_the_report_falls_back_as_configured(
    tmp_path: Path, prometheus: StartPrometheus, new_exporter: Callable[..., Exporter]
) -> None:
    """The agent's report builder over a real Prometheus that stops. ``last_good``: the
    measured inventory (and its shape) for ``grace_s``, then the static ``[[accelerators]]``
    (no shape), each report one the router takes; ``none``: no report (CollectorError
    naming the inventory). Prometheus back: measured again."""
    dcgm = new_exporter(_fixture("dcgm.prom"), job="dcgm")
    ksm = new_exporter(_fixture("kube_state_metrics.prom"), job="ksm")
    npu = new_exporter(_fixture("ascend_npu_exporter.prom"), job="npu")
    server = prometheus(dcgm, ksm, npu)
    _wait_all_up(server, 3)
    clock = Clock()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    last_good = _config(tmp_path / "a", f'url = "{server.url}"\ngrace_s = 60\n')
    none = _config(tmp_path / "b", f'url = "{server.url}"\nfallback = "none"\n')
    builder = _builder(last_good, PrometheusInventory(last_good, clock=clock))
    strict = _builder(none, PrometheusInventory(none, clock=clock))

    def models(report: SiteReport) -> dict[str, tuple[int, int, int, bool, int, tuple[int, ...]]]:
        return {
            a.model: (
                a.total,
                a.healthy,
                a.in_use_by_others,
                a.from_static_config,
                a.node_size,
                a.nodes_by_free,
            )
            for a in report.accelerators
        }

    measured = {
        "H100": (8, 7, 2, False, 8, (0, 0, 0, 0, 0, 1, 0, 0, 0)),
        "Ascend910B": (8, 7, 4, False, 8, (0, 0, 0, 1, 0, 0, 0, 0, 0)),
    }
    assert models(_routed(last_good, builder)) == measured
    assert models(_routed(none, strict)) == measured

    server.stop()
    clock.now += 30
    assert models(_routed(last_good, builder)) == measured  # within the grace
    with pytest.raises(CollectorError, match="Connection refused") as info:
        strict.build()
    assert info.value.collector == "inventory"
    clock.now += 31
    assert models(_routed(last_good, builder)) == {
        "H100": (16, 16, 0, True, 0, ()),
        "Ascend910B": (4, 4, 0, True, 0, ()),
    }

    server.start()
    _wait_all_up(server, 3)
    assert models(_routed(last_good, builder)) == measured
    assert models(_routed(none, strict)) == measured


# --- netrouter's running placements ([inventory.prometheus] sees_placements) --------------

H100_LABEL, ASCEND_LABEL = "NVIDIA H100 80GB HBM3", "910B3-Ascend-V1"
SEES = "sees_placements = true\n"


def _placements_site() -> FakePrometheus:
    """node-a: 8 H100, one unhealthy, 2 in use by others, placement pl-1 on 4 (1 free);
    node-b: 8 H100, pl-1 on 2 and pl-2 on 8 (10, more than its 8: pl-2 counted 6; 0 free);
    node-c: 8 idle H100 (8 free); npu-1: 8 Ascend910B, all pl-3 (0 free); npu-2: 8, pl-3
    on 2 (6 free); pl-9 on a node no device query sees (left out)."""
    fake = FakePrometheus()
    fake.by_name["gpu_devices"] = [(n, H100_LABEL, 8) for n in ("node-a", "node-b", "node-c")]
    fake.by_name["gpu_unhealthy"] = [("node-a", H100_LABEL, 1)]
    fake.by_name["gpu_in_use_by_others"] = [("node-a", H100_LABEL, 2)]
    fake.by_name["gpu_placements"] = [
        ("node-a", H100_LABEL, "pl-1", 4),
        ("node-b", H100_LABEL, "pl-1", 2),
        ("node-b", H100_LABEL, "pl-2", 8),
        ("node-x", H100_LABEL, "pl-9", 8),
    ]
    fake.by_name["npu_devices"] = [("npu-1", ASCEND_LABEL, 8), ("npu-2", ASCEND_LABEL, 8)]
    fake.by_name["npu_placements"] = [
        ("npu-1", ASCEND_LABEL, "pl-3", 8),
        ("npu-2", ASCEND_LABEL, "pl-3", 2),
    ]
    return fake


def _running(report: SiteReport) -> set[tuple[str, str, int]]:
    return {(r.placement_id, r.model, r.devices) for r in report.running}


SEEN_RUNNING = {("pl-1", "H100", 6), ("pl-2", "H100", 6), ("pl-3", "Ascend910B", 10)}
SEEN_SHAPES = {
    "H100": (8, (1, 1, 0, 0, 0, 0, 0, 0, 1), 0),  # node-b 0, node-a 1, node-c 8 free
    "Ascend910B": (8, (1, 0, 0, 0, 0, 0, 1, 0, 0), 0),  # npu-1 0, npu-2 6 free
}
UNSEEN_SHAPES = {  # our work counted free, as without sees_placements
    "H100": (8, (0, 0, 0, 0, 0, 1, 0, 0, 2), 0),
    "Ascend910B": (8, (0, 0, 0, 0, 0, 0, 0, 0, 2), 0),
}


def test_running_placements_are_reported_and_the_shape_counts_them_as_used(
    tmp_path: Path,
) -> None:
    """With sees_placements the report lists each placement once (devices summed over its
    nodes, clamped to what a node has), in_use_by_others still leaves them out, and the
    shape counts them as used: the router's check (free == healthy - in use by others -
    running) holds and it takes the report."""
    config = _config(tmp_path, SEES)
    source = PrometheusInventory(config, fetch=_placements_site())
    inventory = source.inventory()
    assert _counts(inventory) == {
        "H100": (24, 23, 2, 700.0, False),
        "Ascend910B": (16, 16, 0, 400.0, False),
    }
    assert _shapes(inventory) == SEEN_SHAPES
    placements = source.placements()
    assert placements is not None
    assert {(r.placement_id, r.model, r.devices) for r in placements} == SEEN_RUNNING
    nodes = {(e.node, e.model): e for e in source.nodes}
    assert nodes["node-b", "H100"].ours == {"pl-1": 2, "pl-2": 6}
    assert "netrouter's: pl-1 (2), pl-2 (6)" in nodes["node-b", "H100"].describe()

    report = _routed(config, _builder(config, source))
    assert report.sees_placements and _running(report) == SEEN_RUNNING
    for a in report.accelerators:
        free = sum(k * n for k, n in enumerate(a.nodes_by_free))
        assert free == a.healthy - a.in_use_by_others - report.running_devices(a.model)
    assert {a.model: a.largest_free for a in report.accelerators} == {
        "H100": 8,
        "Ascend910B": 6,
    }


def test_without_sees_placements_nothing_is_asked_and_the_report_is_as_before(
    tmp_path: Path,
) -> None:
    fake = _placements_site()
    config = _config(tmp_path, "")
    assert config.inventory.prometheus.sees_placements is False
    source = PrometheusInventory(config, fetch=fake)
    assert _shapes(source.inventory()) == UNSEEN_SHAPES
    assert source.placements() is None
    assert fake.asked("gpu_placements") == fake.asked("npu_placements") == 0
    report = _routed(config, _builder(config, source))
    assert not report.sees_placements and report.running == ()


def test_a_failing_placement_query_reports_placements_unseen_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """npu_placements fails (Prometheus' error answer): the inventory is still measured,
    but that read claims to see no placements (sees_placements false, our work counted
    free), logged once with the query. Answering again: seen, and the builder's change
    test publishes at once."""
    from site_agents.report import significant_change

    fake = _placements_site()
    fake.failing = {"npu_placements"}
    config = _config(tmp_path, SEES)
    source = PrometheusInventory(config, fetch=fake)
    builder = _builder(config, source)
    with caplog.at_level(logging.INFO, logger="site_agents.prometheus"):
        unseen = builder.build()
        builder.build()
        fake.failing = set()
        seen = builder.build()
    report = decode_report(config.site.id, unseen.SerializeToString())
    assert not report.sees_placements and report.running == ()
    assert {a.model: (a.node_size, a.nodes_by_free, 0) for a in report.accelerators} == (
        UNSEEN_SHAPES
    )
    assert not any(a.from_static_config for a in report.accelerators)
    failing = [r.getMessage() for r in caplog.records if "npu_placements" in r.getMessage()]
    assert len(failing) == 2, failing  # failing once, then answering again
    assert "many-to-many" in failing[0] and DEFAULT_QUERIES["npu_placements"] in failing[0]
    assert "answers again" in failing[1]
    assert _running(decode_report(config.site.id, seen.SerializeToString())) == SEEN_RUNNING
    assert significant_change(unseen, seen) == "running"


def test_the_last_good_fallback_keeps_its_placements_and_static_sees_none(
    tmp_path: Path,
) -> None:
    """Prometheus down: the last good inventory within the grace comes with the placements
    its shape counted (the router takes it); after it, the static list sees none."""
    fake, clock = _placements_site(), Clock()
    config = _config(tmp_path, SEES + "grace_s = 60\n")
    builder = _builder(config, PrometheusInventory(config, clock=clock, fetch=fake))
    assert _running(_routed(config, builder)) == SEEN_RUNNING
    fake.down = True
    clock.now += 30
    within = _routed(config, builder)
    assert within.sees_placements and _running(within) == SEEN_RUNNING
    clock.now += 31
    static = _routed(config, builder)
    assert not static.sees_placements and static.running == ()
    assert all(a.from_static_config for a in static.accelerators)


def test_a_placement_on_two_models_is_reported_once_on_the_one_it_uses_most(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A report names a placement id once: pl-5 holds 2 H100 and 3 Ascend910B, so it is
    reported on Ascend910B; its 2 H100 count free, as before (logged once)."""
    fake = FakePrometheus()
    fake.by_name["gpu_devices"] = [("node-a", H100_LABEL, 8)]
    fake.by_name["gpu_unhealthy"] = []
    fake.by_name["gpu_placements"] = [("node-a", H100_LABEL, "pl-5", 2)]
    fake.by_name["npu_devices"] = [("npu-1", ASCEND_LABEL, 8)]
    fake.by_name["npu_placements"] = [("npu-1", ASCEND_LABEL, "pl-5", 3)]
    config = _config(tmp_path, SEES)
    source = PrometheusInventory(config, fetch=fake)
    with caplog.at_level(logging.WARNING, logger="site_agents.prometheus"):
        assert _shapes(source.inventory()) == {
            "H100": (8, (0, 0, 0, 0, 0, 0, 0, 0, 1), 0),
            "Ascend910B": (8, (0, 0, 0, 0, 0, 1, 0, 0, 0), 0),
        }
        report = _routed(config, _builder(config, source))
    assert _running(report) == {("pl-5", "Ascend910B", 3)}
    warned = [r.getMessage() for r in caplog.records if "pl-5" in r.getMessage()]
    assert warned == [
        "Prometheus: placement pl-5 runs on Ascend910B, H100; reported on Ascend910B only"
    ]


def test_more_placements_than_a_report_carries_are_not_claimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("site_agents.prometheus.MAX_RUNNING", 2)
    config = _config(tmp_path, SEES)
    source = PrometheusInventory(config, fetch=_placements_site())
    assert _shapes(source.inventory()) == UNSEEN_SHAPES
    assert source.placements() is None


def test_sees_placements_needs_the_placement_query_of_each_device_query(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigFileError) as info:
        _config(tmp_path, SEES + 'queries = { gpu_placements = "" }\n')
    assert info.value.key == "inventory.prometheus"
    assert "sees_placements needs queries.gpu_placements" in info.value.message
    # An Ascend-only site turns both GPU queries off.
    config = _config(tmp_path, SEES + 'queries = { gpu_devices = "", gpu_placements = "" }\n')
    assert config.inventory.prometheus.sees_placements
    assert (
        config.inventory.prometheus.queries["npu_placements"] == (DEFAULT_QUERIES["npu_placements"])
    )


def test_default_placement_queries_join_the_pod_labels(tmp_path: Path) -> None:
    """The default placement queries, evaluated by ``promtool test rules``: per node, model
    and placement id, the devices of pods whose kube_pod_labels carries the placement id
    (two kube-state-metrics replicas scraped: counted once); pods without it, devices
    without a pod, and npu-exporter chips (named by the scrape target's host) likewise."""
    promtool = str(Path(PROMETHEUS).with_name("promtool")) if PROMETHEUS else None
    require_binary("prometheus", promtool if promtool and Path(promtool).exists() else None)
    assert promtool is not None
    gpu = 'Hostname="gpu-1",modelName="NVIDIA H100 80GB HBM3"'
    npu = 'instance="10.0.3.7:8082",model_name="910B3-Ascend-V1"'
    series = [
        f'DCGM_FI_DEV_POWER_USAGE{{{gpu},gpu="0",namespace="netrouter",pod="nr-1-0"}}',
        f'DCGM_FI_DEV_POWER_USAGE{{{gpu},gpu="1",namespace="netrouter",pod="nr-1-0"}}',
        f'DCGM_FI_DEV_POWER_USAGE{{{gpu},gpu="2",namespace="netrouter",pod="nr-2-0"}}',
        f'DCGM_FI_DEV_POWER_USAGE{{{gpu},gpu="3",namespace="team-a",pod="train-0"}}',
        f'DCGM_FI_DEV_POWER_USAGE{{{gpu},gpu="4",namespace="",pod=""}}',
        'DCGM_FI_DEV_POWER_USAGE{Hostname="gpu-2",modelName="NVIDIA H100 80GB HBM3",'
        'gpu="0",namespace="netrouter",pod="nr-1-1"}',
        f'npu_chip_info_health_status{{{npu},id="0",namespace="netrouter",pod_name="nr-3-0"}}',
        f'npu_chip_info_health_status{{{npu},id="1",namespace="netrouter",pod_name="nr-3-0"}}',
        f'npu_chip_info_health_status{{{npu},id="2",namespace="team-b",pod_name="infer-0"}}',
        f'npu_chip_info_health_status{{{npu},id="3",namespace="",pod_name=""}}',
    ]
    labels = [
        ("netrouter", "nr-1-0", "pl-1"),
        ("netrouter", "nr-1-1", "pl-1"),
        ("netrouter", "nr-2-0", "pl-2"),
        ("netrouter", "nr-3-0", "pl-3"),
        ("team-a", "train-0", ""),
        ("team-b", "infer-0", ""),
    ]
    for job in ("ksm-a", "ksm-b"):
        for namespace, pod, placement in labels:
            label = f',label_netrouter_io_placement_id="{placement}"' if placement else ""
            series.append(
                f'kube_pod_labels{{job="{job}",namespace="{namespace}",pod="{pod}",'
                f'uid="u-{pod}"{label}}}'
            )

    def expect(query: str, samples: list[tuple[str, str, str, int]]) -> dict[str, Any]:
        return {
            "expr": DEFAULT_QUERIES[query],
            "eval_time": "0m",
            "exp_samples": [
                {
                    "labels": f'{{node="{n}",model="{m}",placement_id="{p}"}}',
                    "value": v,
                }
                for n, m, p, v in samples
            ],
        }

    tests = {
        "rule_files": [],
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": "1"} for s in series],
                "promql_expr_test": [
                    expect(
                        "gpu_placements",
                        [
                            ("gpu-1", H100_LABEL, "pl-1", 2),
                            ("gpu-1", H100_LABEL, "pl-2", 1),
                            ("gpu-2", H100_LABEL, "pl-1", 1),
                        ],
                    ),
                    expect("npu_placements", [("10.0.3.7", ASCEND_LABEL, "pl-3", 2)]),
                    {
                        "expr": DEFAULT_QUERIES["gpu_in_use_by_others"],
                        "eval_time": "0m",
                        "exp_samples": [
                            {"labels": f'{{node="gpu-1",model="{H100_LABEL}"}}', "value": 1}
                        ],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "placements.yml"
    path.write_text(json.dumps(tests))  # JSON is YAML
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
@pytest.mark.slow
def test_running_placements_from_a_real_prometheus_and_the_shape_counting_them(
    tmp_path: Path, prometheus: StartPrometheus, new_exporter: Callable[..., Exporter]
) -> None:
    """Three H100 nodes behind one dcgm-exporter and two Ascend nodes (each its own
    npu-exporter), kube-state-metrics labelling netrouter's pods with their placement id.
    gpu-01: pl-1's pod on 4 GPUs, another team on 2, one GPU failed [1 free]; gpu-02: pl-1's
    second pod on all 8 [0]; gpu-03: idle [8]; npu 127.0.0.40: pl-2 on 4 chips [4];
    127.0.0.41: another team on 2 [6]. With sees_placements the report lists pl-1 (12 H100)
    and pl-2 (4 Ascend910B), in_use_by_others leaves them out, the shape counts them used,
    and the router takes the report. Then pl-2's pod goes: the next read no longer lists
    it and its chips are free again."""
    pl1_a = Pod("netrouter", "nr-1-0", "worker", placement_id="pl-1")
    pl1_b = Pod("netrouter", "nr-1-1", "worker", placement_id="pl-1")
    pl2 = Pod("netrouter", "nr-2-0", "worker", placement_id="pl-2")
    gpu_nodes = {
        "gpu-01": [Device(pod=pl1_a)] * 4
        + [Device(pod=_others(1))] * 2
        + [Device(healthy=False), Device()],
        "gpu-02": [Device(pod=pl1_b)] * 8,
        "gpu-03": [Device()] * 8,
    }
    npu_nodes = {
        "127.0.0.40": [Device(pod=pl2)] * 4 + [Device()] * 4,
        "127.0.0.41": [Device(pod=_others(2, "team-b"))] * 2 + [Device()] * 6,
    }
    site = _site(tmp_path, prometheus, new_exporter, gpu_nodes, npu_nodes, toml=SEES)
    ksm, npus, config, source = site.ksm, site.npus, site.config, site.source
    builder = _builder(config, source)
    report = _routed(config, builder)
    assert report.sees_placements
    assert _running(report) == {("pl-1", "H100", 12), ("pl-2", "Ascend910B", 4)}
    by_model = {a.model: a for a in report.accelerators}
    h100, ascend = by_model["H100"], by_model["Ascend910B"]
    assert (h100.total, h100.healthy, h100.in_use_by_others) == (24, 23, 2)
    assert h100.nodes_by_free == (1, 1, 0, 0, 0, 0, 0, 0, 1)
    assert (ascend.total, ascend.healthy, ascend.in_use_by_others) == (16, 16, 2)
    assert ascend.nodes_by_free == (0, 0, 0, 0, 1, 0, 1, 0, 0)

    # pl-2 has finished. Until both exporters are scraped again its chips may show a pod
    # without a placement id (in use by others): less free for a moment, never more.
    npu_nodes["127.0.0.40"] = [Device()] * 8
    ksm.set_text(kube_state_metrics_text({**gpu_nodes, **npu_nodes}, site.resources))
    npus[0].set_text(npu_text(npu_nodes["127.0.0.40"]))

    def ascend_free(inventory: list[Inventory]) -> int:
        (a,) = [i for i in inventory if i.model == "Ascend910B"]
        return sum(k * n for k, n in enumerate(a.nodes_by_free))

    def never_more(inventory: list[Inventory]) -> None:
        assert ascend_free(inventory) <= 14

    _poll(source, lambda inventory: ascend_free(inventory) == 14, never_more)
    report = _routed(config, builder)
    assert _running(report) == {("pl-1", "H100", 12)}
    ascend = {a.model: a for a in report.accelerators}["Ascend910B"]
    assert ascend.nodes_by_free == (0, 0, 0, 0, 0, 0, 1, 0, 1)
