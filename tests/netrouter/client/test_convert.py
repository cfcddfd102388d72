"""Conversion: requests are checked before anything else runs; every message converts back
to the object it came from."""

from __future__ import annotations

import pytest
from hypothesis import given

from netrouter.client import convert
from netrouter.client import types as domain
from netrouter.client.convert import place_request_from_pb
from netrouter.client.errors import InvalidArgumentError, ResourceExhaustedError
from netrouter.v1 import router_pb2 as pb
from tests.helpers.strategies import (
    domain_workloads,
    drain_results,
    moves,
    place_results,
    placement_events,
    placements,
    rebalance_results,
    site_views,
    snapshots,
    solve_infos,
)


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


@given(domain_workloads())
def test_a_workload_survives_the_round_trip(workload: domain.Workload) -> None:
    """Any valid workload comes back equal from its message."""
    assert convert.workload_from_pb(convert.workload_to_pb(workload)) == workload


@given(placements())
def test_a_placement_survives_the_round_trip(placement: domain.Placement) -> None:
    """Any placement, its workload, costs and alternatives included, comes back equal."""
    assert convert.placement_from_pb(convert.placement_to_pb(placement)) == placement


@given(solve_infos())
def test_solve_info_survives_the_round_trip(info: domain.SolveInfo) -> None:
    """A solve's quality comes back equal."""
    assert convert.solve_info_from_pb(convert.solve_info_to_pb(info)) == info


@given(place_results())
def test_a_place_result_survives_the_round_trip(result: domain.PlaceResult) -> None:
    """What Place answers comes back equal."""
    assert convert.place_result_from_pb(convert.place_result_to_pb(result)) == result


@given(placement_events())
def test_a_placement_event_survives_the_round_trip(event: domain.PlacementEvent) -> None:
    """A watched event comes back equal."""
    assert convert.event_from_pb(convert.event_to_pb(event)) == event


@given(moves())
def test_a_move_survives_the_round_trip(move: domain.Move) -> None:
    """A move comes back equal."""
    assert convert.move_from_pb(convert.move_to_pb(move)) == move


@given(rebalance_results())
def test_a_rebalance_result_survives_the_round_trip(result: domain.RebalanceResult) -> None:
    """What Rebalance answers comes back equal."""
    assert convert.rebalance_from_pb(convert.rebalance_to_pb(result)) == result


@given(site_views())
def test_a_site_view_survives_the_round_trip(view: domain.SiteView) -> None:
    """The router's view of a site comes back equal."""
    assert convert.site_view_from_pb(convert.site_view_to_pb(view)) == view


@given(drain_results())
def test_a_drain_result_survives_the_round_trip(result: domain.DrainResult) -> None:
    """What DrainSite answers, the drained site, its moves and what stays, comes back equal."""
    assert convert.drain_from_pb(convert.drain_to_pb(result)) == result


@given(snapshots())
def test_a_snapshot_survives_the_round_trip(snapshot: domain.Snapshot) -> None:
    """The whole state, its site reports and links included, comes back equal."""
    assert convert.snapshot_from_pb(convert.snapshot_to_pb(snapshot)) == snapshot
