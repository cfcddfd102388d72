"""The NVML collector against a fake NVML: grouping, unknown fields, health, fallback."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from site_agents.config import SiteConfig
from site_agents.nvml import NvmlInventory, model_of
from site_agents.report import ReportBuilder, Sources
from tests.factories import site_dict
from tests.site_agents.fake_nvml import FakeDevice, FakeNvml


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
    devices = [FakeDevice(uuid="GPU-0"), FakeDevice(uuid="GPU-1", lost=True)]
    inv, _ = collector(devices)
    statuses = inv.devices() or []
    assert [s.healthy for s in statuses] == [True, False]
    assert "unreadable" in statuses[1].problems[0]
    assert sum(i.total for i in inv.inventory() if i.model != "Ascend910B") == 2


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
    assert by_model["H100"].total == 4 and not by_model["H100"].from_static_config
    assert by_model["Ascend910B"].from_static_config


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
