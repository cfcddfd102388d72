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
