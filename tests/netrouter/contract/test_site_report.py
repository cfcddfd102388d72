"""The site report contract: one conversion both ways, for the agent and the router."""

from __future__ import annotations

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
