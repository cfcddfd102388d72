"""The NVML collector against a fake NVML: grouping, unknown fields, health, fallback."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from netrouter.contract.site_report import decode_report
from site_agents.cli import app
from site_agents.collectors import Inventory, StaticInventory
from site_agents.config import InventorySection, SiteConfig, load_site_config
from site_agents.nvml import DeviceStatus, NvmlInventory, model_of, refine
from site_agents.report import ReportBuilder, Sources
from tests.helpers.factories import site_dict, write_site_toml
from tests.helpers.fake_nvml import FakeDevice, FakeNvml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sites"


def nvml_config(**inventory: Any) -> SiteConfig:
    data = site_dict("gpu-site", h100=8)
    data["accelerators"].append(
        {"model": "Ascend910B", "total": 16, "healthy": 15, "in_use_by_others": 0, "power_w": 400.0}
    )
    data["inventory"] = {"source": "nvml", **inventory}
    return SiteConfig.model_validate(data)


def collector(devices: list[FakeDevice], **inventory: Any) -> tuple[NvmlInventory, FakeNvml]:
    fake = FakeNvml(devices)
    return NvmlInventory(nvml_config(**inventory), api_loader=lambda: fake), fake


def test_devices_group_into_per_model_totals() -> None:
    """8 H100: one with ECC errors, one running someone else's job, one running ours."""
    devices = [FakeDevice(uuid=f"GPU-{i}") for i in range(8)]
    devices[1].ecc = 2
    devices[2].processes = [(4242, "python train_other.py")]
    devices[3].processes = [(4343, "netrouter-worker")]
    inv, _ = collector(devices, own_process_names=["netrouter-worker"])
    got = {i.model: i for i in inv.inventory()}
    assert set(got) == {"H100", "Ascend910B"}
    h100 = got["H100"]
    assert (h100.total, h100.healthy, h100.in_use_by_others) == (8, 7, 1)
    assert not h100.from_static_config
    assert h100.power_w == 700.0  # the config's board power for the model wins
    ascend = got["Ascend910B"]  # NVML cannot see it: from the config
    assert ascend.from_static_config and ascend.total == 16


def test_unsupported_fields_are_unknown_not_errors() -> None:
    """A device that supports no optional field still counts, healthy, with None fields."""
    bare = FakeDevice(
        name="NVIDIA A100-SXM4-80GB",
        power_mw=None,
        limit_mw=None,
        util=None,
        ecc=None,
        retired=None,
        pending=None,
        processes=None,
    )
    inv, _ = collector([bare])
    (status,) = inv.devices() or []
    assert status.model == "A100"
    assert status.power_draw_w is None and status.ecc_uncorrected is None
    assert status.retired_pages is None and status.foreign_processes is None
    assert status.healthy
    (a100,) = [i for i in inv.inventory() if i.model == "A100"]
    assert a100.power_w == 700.0  # neither config nor NVML knows: the documented default


def test_a_lost_device_is_counted_unhealthy() -> None:
    """A device NVML cannot name, on a node of H100s, counts as an unhealthy H100."""
    devices = [FakeDevice(uuid="GPU-0"), FakeDevice(uuid="GPU-1", lost=True)]
    inv, _ = collector(devices)
    statuses = inv.devices() or []
    assert [s.healthy for s in statuses] == [True, False]
    assert "unreadable" in statuses[1].problems[0]
    (h100,) = [i for i in inv.inventory() if i.model == "H100"]
    assert (h100.total, h100.healthy) == (8, 7)  # the configured 8, one of them lost


def test_critical_xid_marks_the_device_unhealthy_and_stays() -> None:
    devices = [FakeDevice(uuid="GPU-0"), FakeDevice(uuid="GPU-1")]
    inv, fake = collector(devices)
    assert all(s.healthy for s in inv.devices() or [])
    fake.pending_xids.append((1, 79))  # fell off the bus
    fake.pending_xids.append((0, 13))  # graphics engine exception: not critical
    first = inv.devices() or []
    assert first[0].healthy and first[0].xids == (13,)
    assert not first[1].healthy and first[1].xids == (79,)
    again = inv.devices() or []  # sticky for the life of the agent
    assert not again[1].healthy


def test_page_retirement_pending_is_unhealthy() -> None:
    inv, _ = collector([FakeDevice(pending=1, retired=[1, 2, 3])])
    (status,) = inv.devices() or []
    assert not status.healthy and status.retired_pages == 3


def test_no_driver_falls_back_to_static_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeNvml([], no_driver=True)
    inv = NvmlInventory(nvml_config(), api_loader=lambda: fake)
    with caplog.at_level(logging.WARNING):
        got = inv.inventory()
        inv.inventory()
    assert all(i.from_static_config for i in got)
    assert {i.model for i in got} == {"H100", "Ascend910B"}
    warnings = [r for r in caplog.records if "NVML unavailable" in r.getMessage()]
    assert len(warnings) == 1  # said once, not every period
    assert inv.unavailable_reason is not None


def test_missing_library_falls_back_too() -> None:
    def loader() -> Any:
        raise ImportError("No module named 'pynvml'")

    inv = NvmlInventory(nvml_config(), api_loader=loader)
    assert all(i.from_static_config for i in inv.inventory())


def test_reports_carry_the_nvml_inventory() -> None:
    devices = [FakeDevice(uuid=f"GPU-{i}") for i in range(4)]
    inv, _ = collector(devices)
    config = nvml_config()
    sources = Sources.from_config(config)
    builder = ReportBuilder(
        config,
        Sources(inventory=inv, price=sources.price, pue=sources.pue, latency=sources.latency),
    )
    report = builder.build()
    by_model = {a.model: a for a in report.accelerators}
    assert by_model["H100"].total == 8 and not by_model["H100"].from_static_config
    assert by_model["Ascend910B"].from_static_config


def _large_site(**h100: int) -> SiteConfig:
    """A site of 448 H100 (and the Ascend910B NVML cannot see), reading NVML."""
    data = site_dict("big-site", h100=448)
    data["accelerators"][0].update(h100)
    data["inventory"] = {"source": "nvml", "own_process_names": ["netrouter-worker"]}
    return SiteConfig.model_validate(data)


def _node(count: int = 8) -> list[FakeDevice]:
    """One node's GPUs: one with ECC errors, one running someone else's job."""
    devices = [FakeDevice(uuid=f"GPU-{i}") for i in range(count)]
    devices[1].ecc = 3
    devices[2].processes = [(4242, "python train_other.py")]
    devices[3].processes = [(4343, "netrouter-worker")]
    return devices


def test_the_node_refines_the_configured_site_never_shrinks_it() -> None:
    """448 configured H100, 8 on this node: one with ECC errors, one busy with a foreign
    job. The site keeps its 448, one fewer healthy, one more in use by others."""
    fake = FakeNvml(_node())
    inv = NvmlInventory(_large_site(in_use_by_others=20), api_loader=lambda: fake)
    (h100,) = inv.inventory()
    assert (h100.total, h100.healthy, h100.in_use_by_others) == (448, 447, 21)
    assert not h100.from_static_config and h100.power_w == 700.0
    (share,) = inv.node_shares
    assert (share.total, share.healthy, share.in_use_by_others) == (8, 7, 1)
    assert "this node has 8 H100 (7 healthy, 1 in use by others)" in share.describe()
    assert "448 configured" in share.describe() and "447 healthy" in share.describe()


def test_a_healthy_idle_node_reports_the_configured_site() -> None:
    """Gui'an as configured (448 H100: 443 healthy, 53 in use by others) with a healthy,
    idle 8-GPU node reports just that; the models NVML cannot see are unchanged."""
    config = load_site_config(EXAMPLES / "guian.toml")
    config = config.model_copy(update={"inventory": InventorySection(source="nvml")})
    fake = FakeNvml([FakeDevice(uuid=f"GPU-{i}") for i in range(8)])
    got = NvmlInventory(config, api_loader=lambda: fake).inventory()
    want = StaticInventory(config).inventory()
    assert [(i.model, i.total, i.healthy, i.in_use_by_others) for i in got] == [
        (i.model, i.total, i.healthy, i.in_use_by_others) for i in want
    ]
    assert [i.from_static_config for i in got] == [False, True, True]
    fake.devices[5].ecc = 1
    (h100, *_) = NvmlInventory(config, api_loader=lambda: fake).inventory()
    assert (h100.total, h100.healthy, h100.in_use_by_others) == (448, 442, 53)


def test_more_devices_on_the_node_than_configured_counts_the_node_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A config listing fewer devices than the node holds is out of date: the site has at
    least the node's, and the log says so once."""
    fake = FakeNvml(_node())
    inv = NvmlInventory(_large_site(total=4, healthy=4), api_loader=lambda: fake)
    with caplog.at_level(logging.INFO):
        (h100,) = inv.inventory()
        inv.inventory()
    assert (h100.total, h100.healthy, h100.in_use_by_others) == (8, 7, 1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "more than the 4 configured" in warnings[0].getMessage()


def test_a_model_not_configured_is_reported_as_the_node_has_it() -> None:
    fake = FakeNvml([FakeDevice(name="NVIDIA H200", uuid=f"GPU-{i}") for i in range(4)])
    inv = NvmlInventory(_large_site(), api_loader=lambda: fake)
    got = {i.model: i for i in inv.inventory()}
    assert (got["H100"].total, got["H100"].from_static_config) == (448, True)
    assert (got["H200"].total, got["H200"].healthy, got["H200"].power_w) == (4, 4, 700.0)
    assert "not in [[accelerators]]" in inv.node_shares[0].describe()


def test_the_node_is_the_shape_only_where_it_is_the_whole_inventory() -> None:
    """8 H100 configured and 8 on the node (one with ECC errors, one busy with a foreign
    job, one with ours): the node is the site's H100, so one node of 8 with 6 free, and
    the router takes it. H200 not configured: one node of 4, all free. The 448-H100 site
    refined by one node: the other nodes' shape is unknown, none is reported; nor for the
    Ascend910B NVML cannot see, nor when NVML is missing."""
    inv, _ = collector(_node(), own_process_names=["netrouter-worker"])
    got = {i.model: i for i in inv.inventory()}
    assert (got["H100"].node_size, got["H100"].nodes_by_free) == (8, (0, 0, 0, 0, 0, 0, 1, 0, 0))
    assert (got["Ascend910B"].node_size, got["Ascend910B"].nodes_by_free) == (0, ())
    config = nvml_config()
    sources = Sources.from_config(config)
    builder = ReportBuilder(
        config,
        Sources(inventory=inv, price=sources.price, pue=sources.pue, latency=sources.latency),
    )
    report = decode_report(config.site.id, builder.build().SerializeToString())
    (h100,) = [a for a in report.accelerators if a.model == "H100"]
    assert (h100.available, h100.largest_free, h100.whole_nodes) == (6, 6, 0)

    fake = FakeNvml([FakeDevice(name="NVIDIA H200", uuid=f"GPU-{i}") for i in range(4)])
    got = {i.model: i for i in NvmlInventory(_large_site(), api_loader=lambda: fake).inventory()}
    assert (got["H200"].node_size, got["H200"].nodes_by_free) == (4, (0, 0, 0, 0, 1))
    assert (got["H100"].node_size, got["H100"].nodes_by_free) == (0, ())

    fake = FakeNvml(_node())
    (h100_site,) = NvmlInventory(_large_site(), api_loader=lambda: fake).inventory()
    assert (h100_site.total, h100_site.node_size, h100_site.nodes_by_free) == (448, 0, ())

    missing, _ = collector([])
    missing.api_loader = lambda: FakeNvml([], no_driver=True)
    assert all(i.node_size == 0 for i in missing.inventory())


@given(
    total=st.integers(0, 600),
    healthy_share=st.floats(0, 1),
    busy_share=st.floats(0, 1),
    node=st.lists(st.tuples(st.booleans(), st.booleans()), max_size=16),
)
def test_refined_counts_always_nest(
    total: int, healthy_share: float, busy_share: float, node: list[tuple[bool, bool]]
) -> None:
    """Whatever the config and the node say, in use <= healthy <= total, the site never
    shrinks below its configured total, and a healthy idle node changes nothing."""
    healthy = int(total * healthy_share)
    configured = Inventory(
        model="H100",
        total=total,
        healthy=healthy,
        in_use_by_others=int(healthy * busy_share),
        power_w=700.0,
        from_static_config=True,
    )
    devices = [
        DeviceStatus(
            index=i,
            name="NVIDIA H100",
            model="H100",
            problems=() if ok else ("ECC",),
            foreign_processes=int(busy),
        )
        for i, (ok, busy) in enumerate(node)
    ]
    site = refine(configured, devices)
    assert 0 <= site.in_use_by_others <= site.healthy <= site.total
    assert site.total == max(total, len(node))
    idle = [DeviceStatus(index=i, name="NVIDIA H100", model="H100") for i in range(len(node))]
    if healthy >= len(node) and configured.in_use_by_others <= healthy - len(node):
        same = refine(configured, idle)
        assert (same.total, same.healthy, same.in_use_by_others) == (
            configured.total,
            configured.healthy,
            configured.in_use_by_others,
        )


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA H200", "H200"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("Tesla V100-SXM2-32GB", "V100"),
    ],
)
def test_model_names(name: str, model: str) -> None:
    assert model_of(name, {}) == model
    assert model_of(name, {name: "custom"}) == "custom"


@pytest.mark.gpu
def test_real_nvml_when_a_gpu_is_present() -> None:
    """On a machine with an NVIDIA GPU and driver, NVML reports at least one device."""
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pytest.skip("no NVIDIA driver here")
    pynvml.nvmlShutdown()
    inv = NvmlInventory(nvml_config())
    devices = inv.devices()
    assert devices
    assert all(d.model and d.memory_total_mib for d in devices)


def test_check_and_once_say_how_the_node_refines_the_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`check` lists the node's GPUs, a line on what they make of the configured 448, and
    the site's totals; `once` reports those totals and says the same on stderr."""
    data = site_dict("big-site", h100=448)
    data["inventory"] = {"source": "nvml", "own_process_names": ["netrouter-worker"]}
    path = write_site_toml(tmp_path / "site.toml", data)
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(_node()))
    result = CliRunner().invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "gpu 1: NVIDIA H100 80GB HBM3 (H100) UNHEALTHY: 3 uncorrected ECC errors" in out
    assert (
        "node (NVML): this node has 8 H100 (7 healthy, 1 in use by others), among the site's "
        "448 configured; with them the site has 447 healthy (configured 448) and 1 in use by "
        "others (configured 0)"
    ) in out
    assert "H100: 448 total, 447 healthy, 1 in use by others, 700 W each (config, refined" in out

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(_node()))
    result = CliRunner().invoke(app, ["once", "--config", str(path)])
    assert result.exit_code == 0, result.output
    (h100,) = json.loads(result.stdout)["accelerators"]
    assert (h100["total"], h100["healthy"], h100["in_use_by_others"]) == (448, 447, 1)
    assert "node (NVML): this node has 8 H100" in result.stderr
