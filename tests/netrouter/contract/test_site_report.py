"""The site report contract: one conversion both ways, for the agent and the router."""

from __future__ import annotations

import pytest
from hypothesis import given

from netrouter.contract import site_report
from netrouter.v1 import site_report_pb2 as rpb
from site_agents.report import ReportBuilder
from tests.helpers.factories import site_config
from tests.helpers.strategies import region_latencies, site_labels, site_reports


def _message() -> rpb.SiteReport:
    return ReportBuilder(site_config("alpha")).build()


@given(site_reports())
def test_a_site_report_survives_the_round_trip(report: site_report.SiteReport) -> None:
    """Any report, tariff bands included, comes back equal from its message."""
    assert site_report.report_from_pb(site_report.report_to_pb(report)) == report


@given(site_labels())
def test_site_labels_survive_the_round_trip(labels: site_report.SiteLabels) -> None:
    """A site's labels come back equal."""
    assert site_report.labels_from_pb(site_report.labels_to_pb(labels)) == labels


@given(region_latencies())
def test_a_region_latency_survives_the_round_trip(latency: site_report.RegionLatency) -> None:
    """A region's latency comes back equal."""
    assert site_report.latency_from_pb(site_report.latency_to_pb(latency)) == latency


def test_an_agents_report_is_the_message_of_its_own_decoding() -> None:
    """What an agent publishes converts to the domain and back unchanged, byte for byte."""
    message = _message()
    again = site_report.report_to_pb(site_report.report_from_pb(message))
    assert again.SerializeToString(deterministic=True) == message.SerializeToString(
        deterministic=True
    )
    assert list(again.tariff.next_24h_bands) == list(message.tariff.next_24h_bands)
    assert len(message.tariff.next_24h_bands) == 24


def test_a_reports_sustained_pue_survives_the_round_trip() -> None:
    """The mean PUE, its window and its coverage go from the wire to the domain and back."""
    message = rpb.SiteReport(
        site_id="alpha",
        pue=1.2,
        pue_mean=1.24,
        pue_mean_window_s=604_800.0,
        pue_mean_covered_s=3600.0,
    )
    report = site_report.report_from_pb(message)
    assert (report.pue_mean, report.pue_mean_window_s, report.pue_mean_covered_s) == (
        1.24,
        604_800.0,
        3600.0,
    )
    back = site_report.report_to_pb(report)
    assert (back.pue_mean, back.pue_mean_window_s, back.pue_mean_covered_s) == (
        1.24,
        604_800.0,
        3600.0,
    )


def test_the_sustained_pue_is_the_mean_or_else_the_pue_now() -> None:
    """A report's mean over its window decodes as its sustained PUE; a report without one
    (0, as older agents send) is judged on its PUE now."""
    message = _message()
    message.pue, message.pue_mean = 1.15, 1.31
    message.pue_mean_window_s, message.pue_mean_covered_s = 604_800.0, 86_400.0
    report = site_report.decode_report("alpha", message.SerializeToString())
    assert (report.pue_mean, report.pue_mean_window_s, report.pue_mean_covered_s) == (
        1.31,
        604_800.0,
        86_400.0,
    )
    assert report.sustained_pue == 1.31
    message.pue_mean = message.pue_mean_window_s = message.pue_mean_covered_s = 0.0
    assert site_report.decode_report("alpha", message.SerializeToString()).sustained_pue == 1.15


def _shaped(
    node_size: int,
    nodes_by_free: list[int],
    healthy: int = 16,
    domains_by_whole: tuple[int, ...] = (0, 1, 0),
    domain_nodes: int = 2,
) -> bytes:
    message = _message()
    del message.accelerators[:]
    message.accelerators.add(
        model="H100",
        total=16,
        healthy=healthy,
        in_use_by_others=0,
        power_w=700.0,
        node_size=node_size,
        nodes_by_free=nodes_by_free,
        domain_nodes=domain_nodes,
        domains_by_whole=domains_by_whole,
    )
    return message.SerializeToString()


def test_a_node_shape_decodes_with_its_whole_nodes_and_largest_fragment() -> None:
    """One whole 8-GPU node and one with 7 free: the shape reads as it was sent."""
    report = site_report.decode_report("alpha", _shaped(8, [0, 0, 0, 0, 0, 0, 0, 1, 1], 15))
    (a,) = report.accelerators
    assert (a.node_size, a.nodes_by_free) == (8, (0, 0, 0, 0, 0, 0, 0, 1, 1))
    assert (a.domain_nodes, a.domains_by_whole) == (2, (0, 1, 0))
    assert (a.whole_nodes, a.largest_free, a.available) == (1, 8, 15)


def test_a_report_without_shape_counts_devices_only() -> None:
    """An older agent's report (no node size) has no whole nodes and its count as largest."""
    (a,) = site_report.decode_report("alpha", _message().SerializeToString()).accelerators
    assert (a.node_size, a.nodes_by_free, a.whole_nodes) == (0, (), 0)
    assert a.largest_free == a.available


@pytest.mark.parametrize(
    ("node_size", "nodes_by_free", "words"),
    [
        (8, [0, 0, 0, 0, 0, 0, 0, 0, 1], "holds 8 free devices, but healthy - in_use_by_others"),
        (8, [0, 0, 2], "needs node_size + 1 = 9"),
        (0, [0, 2], "nodes_by_free, domain_nodes or domains_by_whole without node_size"),
        (65, [0] * 65 + [0], "node_size=65 not in [1, 64]"),
    ],
)
def test_a_shape_that_does_not_add_up_is_refused(
    node_size: int, nodes_by_free: list[int], words: str
) -> None:
    """A shape must partition the available devices, one count per free size 0..node size."""
    with pytest.raises(site_report.ReportRejectedError, match="out_of_range") as info:
        site_report.decode_report("alpha", _shaped(node_size, nodes_by_free))
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("domain_nodes", "domains_by_whole", "words"),
    [
        (2, (0, 0, 1), "domains_by_whole holds 2 whole free nodes, nodes_by_free has 1"),
        (2, (0, 1), "domains_by_whole has 2 counts, needs domain_nodes + 1 = 3"),
        (0, (0, 1), "domains_by_whole without domain_nodes"),
        (1025, (0, 1) + (0,) * 1024, "domain_nodes=1025 not in [1, 1024]"),
    ],
)
def test_domains_that_do_not_hold_the_whole_nodes_are_refused(
    domain_nodes: int, domains_by_whole: tuple[int, ...], words: str
) -> None:
    """Interconnect domains must count each whole free node once, one count per size."""
    shape = [0, 0, 0, 0, 0, 0, 0, 1, 1]
    with pytest.raises(site_report.ReportRejectedError, match="out_of_range") as info:
        site_report.decode_report(
            "alpha", _shaped(8, shape, 15, domains_by_whole, domain_nodes=domain_nodes)
        )
    assert words in str(info.value)


def test_resizing_a_shaped_model_keeps_its_shape_whole() -> None:
    """Devices added come as whole free nodes (and a part node); devices taken go from the
    nodes with the most free first; the shape always holds the available devices."""
    a = site_report.AcceleratorInventory(
        model="H100",
        total=40,
        healthy=40,
        in_use_by_others=23,
        power_w=700.0,
        node_size=8,
        nodes_by_free=(1, 0, 0, 3, 0, 0, 0, 0, 1),
    )
    grown = site_report.resized(a, 40 + 19)
    assert grown.nodes_by_free == (1, 0, 0, 4, 0, 0, 0, 0, 3)
    shrunk = site_report.resized(a, 40 - 9)
    assert shrunk.nodes_by_free == (2, 0, 1, 2, 0, 0, 0, 0, 0)
    for b in (grown, shrunk, site_report.resized(a, 0)):
        assert sum(k * n for k, n in enumerate(b.nodes_by_free)) == b.available


def test_resizing_keeps_the_domains_holding_the_whole_nodes() -> None:
    """Whole nodes added are domains of their own; a whole node taken goes from the domain
    with the fewest whole free nodes, so the report stays one the router accepts."""
    a = site_report.AcceleratorInventory(
        model="H100",
        total=24,
        healthy=24,
        in_use_by_others=0,
        power_w=700.0,
        node_size=8,
        nodes_by_free=(0, 0, 0, 0, 0, 0, 0, 0, 3),
        domain_nodes=2,
        domains_by_whole=(0, 1, 1),
    )
    assert site_report.resized(a, 24 + 16).domains_by_whole == (0, 3, 1)
    assert site_report.resized(a, 24 - 8).domains_by_whole == (1, 0, 1)
    for healthy in (0, 5, 16, 24, 40):
        b = site_report.resized(a, healthy)
        site_report._check_domains(b)
