"""Field-by-name copying between flat messages and their domain twins."""

from __future__ import annotations

from netrouter.client.types import Unplaced
from netrouter.contract.messages import same_named
from netrouter.contract.site_report import RegionLatency
from netrouter.v1 import router_pb2 as pb
from netrouter.v1 import site_report_pb2 as rpb


def test_every_field_of_the_message_is_read_by_its_name() -> None:
    """Each field the message declares is read off the source under the same name."""
    latency = RegionLatency(region="csj", rtt_ms=12.5, measured=True)
    assert same_named(rpb.RegionLatency, latency) == {
        "region": "csj",
        "rtt_ms": 12.5,
        "measured": True,
    }


def test_domain_fields_the_wire_lacks_are_left_out() -> None:
    """An unplaced workload's penalty stays in the router: the message has no such field."""
    unplaced = Unplaced(workload_id="w1", reason="no capacity", penalty_yuan=3.0)
    assert same_named(pb.Unplaced, unplaced) == {"workload_id": "w1", "reason": "no capacity"}
