"""The workload file format: every value is range-checked and errors name the key."""

from __future__ import annotations

import pytest

from netrouter.workloads import WorkloadFileError, parse_workloads

GOOD = {"id": "w", "origin_region": "csj", "demands": {"H100": 8}, "duration_h": 1.0}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("duration_h", 1e9),
        ("duration_h", 1e-9),
        ("priority", -1),
        ("priority", 10**6),
        ("power_w_per_device", 0.5),
        ("power_w_per_device", 1e6),
        ("latency_slo_ms", 1e-6),
        ("demands", {"H100": 2_000_000}),
    ],
)
def test_values_beyond_the_solvers_ranges_name_their_key(key: str, value: object) -> None:
    """What the solver would refuse is refused at parse time, naming workloads[0].<key>."""
    with pytest.raises(WorkloadFileError, match=rf"workloads\[0\]\.{key}"):
        parse_workloads([{**GOOD, key: value}], "w.yaml")


def test_a_good_entry_parses() -> None:
    """The same entry with sane values is a workload."""
    (w,) = parse_workloads([GOOD], "w.yaml")
    assert w.id == "w" and w.demands == {"H100": 8}
