"""Field-by-name copying between flat messages and their domain twins."""

from __future__ import annotations

import pytest

from netrouter.client.types import Unplaced
from netrouter.contract.messages import same_fields, same_named
from netrouter.contract.site_report import RegionLatency
from netrouter.v1 import router_pb2 as pb
from netrouter.v1 import site_report_pb2 as rpb
from tests.helpers.factories import workload


def test_every_field_of_the_message_is_read_by_its_name() -> None:
    """Each field the message declares is read off the source under the same name."""
    latency = RegionLatency(region="csj", rtt_ms=12.5, measured=True)
    assert same_named(rpb.RegionLatency, latency) == {
        "region": "csj",
        "rtt_ms": 12.5,
        "measured": True,
    }


def test_domain_fields_the_wire_lacks_are_left_out() -> None:
    """A workload's ``current_site`` stays in the router: the message has no such field."""
    work = workload("w1", current_site="guian")
    copied = same_named(pb.Workload, work)
    assert set(copied) == {f.name for f in pb.Workload.DESCRIPTOR.fields}
    assert "current_site" not in copied and copied["id"] == "w1"


def test_given_fields_replace_what_is_read_and_must_exist() -> None:
    """A field passed in is used instead of the source's; a name the message lacks is a
    TypeError naming it, so a typo cannot drop a value silently."""
    unplaced = Unplaced(workload_id="w1", reason="no capacity", penalty_yuan=3.0)
    assert same_named(pb.Unplaced, unplaced, reason="full") == {
        "workload_id": "w1",
        "reason": "full",
        "penalty_yuan": 3.0,
    }
    with pytest.raises(TypeError, match="Unplaced has no field reasn"):
        same_named(pb.Unplaced, unplaced, reasn="full")
    with pytest.raises(TypeError, match="Unplaced has no field reasn"):
        same_fields(Unplaced, unplaced, reasn="full")
    assert same_fields(Unplaced, unplaced, penalty_yuan=1.0)["penalty_yuan"] == 1.0
