"""The network model: reported latency when fresh, else the shortest path; path prices."""

from __future__ import annotations

import pytest

from netrouter.client.errors import InvalidArgumentError
from netrouter.client.types import Link
from netrouter.planning.network import NetworkModel
from tests.helpers.factories import report_of, site_config


def test_fresh_report_wins_else_shortest_path_with_its_price() -> None:
    """A site without a reported latency from a region is reached over the backbone."""
    links = [
        Link(a="csj", b="jjj", latency_ms=14.6, bandwidth_gbps=400, yuan_per_gb=0.01),
        Link(a="jjj", b="north", latency_ms=5.0, bandwidth_gbps=100, yuan_per_gb=0.02),
        Link(a="csj", b="north", latency_ms=40.0, yuan_per_gb=0.5),
    ]
    north = report_of(site_config("north", latency={"jjj": 4.0}))
    paths = NetworkModel(links).paths({"csj", "jjj"}, [north], ["north"])
    assert paths["north"]["jjj"].latency_ms == 4.0  # the site's own fresh value
    via = paths["north"]["csj"]
    assert via.latency_ms == pytest.approx(14.6 + 4.0)  # csj → jjj → (reported) north
    assert via.yuan_per_gb == pytest.approx(0.01 + 0.02)  # backbone path csj → jjj → north
    assert via.bandwidth_gbps == 100
    # Without the report (a stale site), the backbone alone gives the path.
    alone = NetworkModel(links).paths({"csj"}, [], ["north"])
    assert alone["north"]["csj"].latency_ms == pytest.approx(14.6 + 5.0)


def test_unreachable_region_is_left_out_and_bad_links_refused() -> None:
    """No path: no latency (the SLO check then fails); a self-loop is an invalid link."""
    assert NetworkModel().paths({"gba"}, [], ["x"]) == {"x": {}}
    with pytest.raises(InvalidArgumentError, match=r"links\[0\]"):
        NetworkModel([Link(a="a", b="a", latency_ms=1.0)])
