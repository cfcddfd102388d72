"""The agent's reports: what counts as a significant change, and what the builder reads
into a numbered report."""

from __future__ import annotations

import pytest

from netrouter.contract.site_report import decode_report
from netrouter.v1 import site_report_pb2 as rpb
from site_agents.collectors import (
    CollectorError,
    PlacementSource,
    StaticInventory,
    TimeOfUseTariff,
)
from site_agents.metrics import AgentMetrics
from site_agents.nvml import NvmlInventory
from site_agents.probes import TcpLatencyProbe
from site_agents.report import ReportBuilder, Sources, significant_change
from tests.helpers.factories import site_config


def test_what_counts_as_significant() -> None:
    a = rpb.SiteReport(
        accelerators=[rpb.AcceleratorInventory(model="H100", total=8, healthy=8)],
        tariff=rpb.Tariff(band_now="valley"),
        pue=1.2,
    )

    def changed(**kw: object) -> str | None:
        b = rpb.SiteReport()
        b.CopyFrom(a)
        for k, v in kw.items():
            if k == "band_now":
                b.tariff.band_now = str(v)
            elif k == "pue":
                b.pue = float(v)  # type: ignore[arg-type]
            else:
                setattr(b.accelerators[0], k, v)
        return significant_change(a, b)

    assert significant_change(None, a) == "first"
    assert changed() is None and changed(pue=1.21) is None
    assert changed(total=16) == "capacity" and changed(in_use_by_others=2) == "capacity"
    assert changed(healthy=7) == "health"
    assert changed(band_now="peak") == "price-band"


def test_a_change_in_our_running_placements_is_significant() -> None:
    """Whether the site sees placements, and which run on how many devices, are published
    at once (the router flags placements not shown running)."""
    a = rpb.SiteReport(
        accelerators=[rpb.AcceleratorInventory(model="H100", total=8, healthy=8)],
        sees_placements=True,
        running=[rpb.RunningPlacement(placement_id="pl-1", model="H100", devices=4)],
    )

    def changed(sees: bool, *running: tuple[str, int]) -> str | None:
        b = rpb.SiteReport(accelerators=a.accelerators, sees_placements=sees)
        b.running.extend(
            rpb.RunningPlacement(placement_id=p, model="H100", devices=n) for p, n in running
        )
        return significant_change(a, b)

    assert changed(True, ("pl-1", 4)) is None
    assert changed(True, ("pl-1", 2)) == "running"
    assert changed(True, ("pl-1", 4), ("pl-2", 4)) == "running"
    assert changed(True) == "running"
    assert changed(False) == "running"


def test_sources_without_placements_report_none_seen() -> None:
    """The static (and NVML) inventory tells no running work of ours from others'."""
    config = site_config("alpha", h100=16)
    assert not isinstance(StaticInventory(config), PlacementSource)
    assert not isinstance(NvmlInventory(config), PlacementSource)
    report = decode_report("alpha", ReportBuilder(config).build().SerializeToString())
    assert not report.sees_placements and report.running == ()


def test_a_report_carries_what_the_collectors_read_numbered_per_run() -> None:
    """At a fixed clock the report has the config's labels and inventory, the tariff of that
    moment and the fixed PUE; each build takes the next sequence number of one boot id."""
    config = site_config("alpha", h100=16, pue=1.3, latency={"csj": 4.0})
    builder = ReportBuilder(config, clock=lambda: 1_700_000_000.0)
    first, second = builder.build(), builder.build()
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.boot_id == second.boot_id and len(first.boot_id) == 32
    assert ReportBuilder(config).boot_id != builder.boot_id
    report = decode_report("alpha", first.SerializeToString())
    assert report.site_id == "alpha" and report.timestamp == 1_700_000_000.0
    assert report.labels.side == config.site.side and report.labels.hub == config.site.hub
    assert [(a.model, a.total) for a in report.accelerators] == [("H100", 16)]
    assert report.pue == 1.3 and report.pue_source == "config"
    tariff = TimeOfUseTariff(config).tariff(1_700_000_000.0)
    assert report.next_24h_yuan_per_kwh == pytest.approx(tariff.next_24h)
    assert report.band_now == tariff.band_now
    assert {(x.region, x.rtt_ms) for x in report.latencies} >= {("csj", 4.0)}


def test_a_failing_collector_is_named_and_timed() -> None:
    """Any error a collector raises comes out as a CollectorError naming the collector."""

    class Broken:
        def reading(self, now: float) -> object:
            raise OSError("DCIM gone")

    config = site_config("alpha")
    metrics = AgentMetrics()
    sources = Sources(
        inventory=StaticInventory(config),
        price=TimeOfUseTariff(config),
        pue=Broken(),  # type: ignore[arg-type]
        latency=TcpLatencyProbe(config),
    )
    builder = ReportBuilder(config, sources, metrics=metrics)
    with pytest.raises(CollectorError, match="OSError: DCIM gone") as caught:
        builder.build()
    assert "pue" in str(caught.value)
    assert builder.sequence == 0
    count = metrics.registry.get_sample_value
    assert count("netrouter_agent_collector_seconds_count", {"collector": "pue"}) == 1.0
    assert count("netrouter_agent_collector_seconds_count", {"collector": "price"}) == 1.0
    assert count("netrouter_agent_collector_seconds_count", {"collector": "inventory"}) is None
