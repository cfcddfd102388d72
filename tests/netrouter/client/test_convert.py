"""Request conversion: size limits and ranges are checked before anything else runs."""

from __future__ import annotations

import pytest

from netrouter.client.convert import place_request_from_pb
from netrouter.client.errors import InvalidArgumentError, ResourceExhaustedError
from netrouter.contract.site_report import report_from_pb, report_to_pb
from netrouter.v1 import router_pb2 as pb
from netrouter.v1 import site_report_pb2 as rpb


def _workload(wid: str, count: int = 8) -> pb.Workload:
    return pb.Workload(
        id=wid,
        origin_region="csj",
        demands=[pb.AcceleratorDemand(model="H100", count=count)],
        duration_h=1.0,
    )


def test_a_batch_over_the_limit_is_refused_naming_the_field() -> None:
    """One workload over max_batch is RESOURCE_EXHAUSTED naming 'workloads', before any is
    checked."""
    request = pb.PlaceRequest(workloads=[_workload(f"w{i}") for i in range(5)])
    request.workloads[0].duration_h = -1.0  # not reached: the size is checked first
    with pytest.raises(ResourceExhaustedError, match="workloads: 5 in one batch, at most 4"):
        place_request_from_pb(request, max_batch=4)


def test_a_batch_at_the_limit_converts() -> None:
    """Exactly max_batch workloads are accepted, in order."""
    request = pb.PlaceRequest(workloads=[_workload(f"w{i}") for i in range(4)])
    assert [w.id for w in place_request_from_pb(request, max_batch=4)] == ["w0", "w1", "w2", "w3"]


def test_an_empty_batch_is_refused() -> None:
    """A Place with no workloads names the field."""
    with pytest.raises(InvalidArgumentError) as info:
        place_request_from_pb(pb.PlaceRequest(), max_batch=4)
    assert info.value.field == "workloads"


def test_a_device_count_no_site_could_hold_is_refused() -> None:
    """A demand above the largest inventory a site may report names its count."""
    request = pb.PlaceRequest(workloads=[_workload("w", count=4_000_000_000)])
    with pytest.raises(InvalidArgumentError) as info:
        place_request_from_pb(request, max_batch=4)
    assert info.value.field == "workloads[0].demands[0].count"


def test_a_reports_sustained_pue_survives_the_round_trip() -> None:
    """The mean PUE, its window and its coverage go from the wire to the domain and back."""
    message = rpb.SiteReport(
        site_id="alpha",
        pue=1.2,
        pue_mean=1.24,
        pue_mean_window_s=604_800.0,
        pue_mean_covered_s=3600.0,
    )
    report = report_from_pb(message)
    assert (report.pue_mean, report.pue_mean_window_s, report.pue_mean_covered_s) == (
        1.24,
        604_800.0,
        3600.0,
    )
    back = report_to_pb(report)
    assert (back.pue_mean, back.pue_mean_window_s, back.pue_mean_covered_s) == (
        1.24,
        604_800.0,
        3600.0,
    )
