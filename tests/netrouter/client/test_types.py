"""Domain types of the client library: a bad workload raises the library's own error."""

from __future__ import annotations

import pytest

from netrouter.client.errors import InvalidArgumentError
from netrouter.client.types import Workload


def test_a_bad_workload_raises_invalid_argument_naming_the_field() -> None:
    """Workload(demands={"H100": 0}) raises netrouter.client.errors.InvalidArgumentError."""
    with pytest.raises(InvalidArgumentError) as info:
        Workload(id="w", origin_region="csj", demands={"H100": 0}, duration_h=1.0)
    assert info.value.field == "demands.H100"
    assert "must be >= 1" in info.value.message


def test_model_names_take_their_one_spelling() -> None:
    """h100 is H100, so it matches the sites that report H100."""
    w = Workload(id="w", origin_region="csj", demands={"h100": 8, "a100": 16}, duration_h=1.0)
    assert dict(w.demands) == {"H100": 8, "A100": 16}


def test_a_model_named_twice_is_refused() -> None:
    """H100 and h100 in one workload are the same model twice."""
    with pytest.raises(InvalidArgumentError) as info:
        Workload(id="w", origin_region="csj", demands={"H100": 8, "h100": 4}, duration_h=1.0)
    assert info.value.field == "demands.h100"


def test_a_near_miss_model_says_did_you_mean() -> None:
    """H10 would never match a site: refused, suggesting H100."""
    with pytest.raises(InvalidArgumentError, match=r"did you mean H100\?") as info:
        Workload(id="w", origin_region="csj", demands={"H10": 8}, duration_h=1.0)
    assert info.value.field == "demands.H10"


def test_a_workloads_own_restart_hours_price_its_move() -> None:
    """Moving running work costs its own restart_h at its cost per hour, else the
    router's."""
    from netrouter.client.types import MoveCost
    from tests.helpers.factories import placement

    p = placement("p1", cost_per_hour_yuan=10.0)
    assert MoveCost(restart_h=0.25).restart_yuan(p) == 2.5
    own = placement(
        "p2",
        cost_per_hour_yuan=10.0,
        workload=Workload(
            id="w", origin_region="csj", demands={"H100": 8}, duration_h=4.0, restart_h=1.5
        ),
    )
    assert MoveCost(restart_h=0.25).restart_yuan(own) == 15.0


def test_times_are_checked_as_they_are_given() -> None:
    """A deadline the run cannot fit before is refused, and so is a time in milliseconds."""
    base = {"id": "w", "origin_region": "csj", "demands": {"H100": 8}, "duration_h": 2.0}
    with pytest.raises(InvalidArgumentError, match="can never be met") as info:
        Workload(**base, earliest_start=1_800_000_000.0, deadline=1_800_003_600.0)
    assert info.value.field == "deadline"
    with pytest.raises(InvalidArgumentError) as info:
        Workload(**base, earliest_start=1_800_000_000_000.0)
    assert info.value.field == "earliest_start"
    ok = Workload(**base, earliest_start=1_800_000_000.0, deadline=1_800_007_200.0)
    assert ok.deadline - ok.earliest_start == 2 * 3600
