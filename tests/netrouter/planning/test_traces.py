"""Trace rows as workloads, and the deadline classes' slack."""

from __future__ import annotations

import random
import re

import pytest

from netrouter.planning.traces import (
    DEFAULT_SLACK_H,
    deadline_class,
    parse_slack,
    pod_workload,
    slack_text,
)


def test_a_pod_with_a_gpu_type_constraint_runs_on_nvidia_only() -> None:
    """A pod that names NVIDIA types may use H100 or A100; one without, any type."""
    row = {
        "name": "openb-pod-0001",
        "num_gpu": "2",
        "gpu_spec": "V100M16|V100M32",
        "qos": "LS",
    }
    constrained = pod_workload(row, random.Random(1), duration_h=1.0)
    assert dict(constrained.demands) == {"H100": 2, "A100": 2}
    assert constrained.labels["gpu_spec"] == "V100M16|V100M32"
    assert constrained.priority == 1
    free = pod_workload({**row, "gpu_spec": ""}, random.Random(1), duration_h=1.0)
    assert set(free.demands) == {"H100", "A100", "Ascend910B"}


def test_slack_is_read_over_the_defaults() -> None:
    """Named classes take the given hours (``none``: no deadline); the others keep their
    defaults; the text reads back the same."""
    slack = parse_slack("BE=12, LS=0.5,Guaranteed=none")
    assert slack == DEFAULT_SLACK_H | {"BE": 12.0, "LS": 0.5, "Guaranteed": None}
    assert parse_slack(slack_text(slack)) == slack
    assert parse_slack("") == DEFAULT_SLACK_H
    assert DEFAULT_SLACK_H == {
        "BE": 24.0,
        "Burstable": 4.0,
        "LS": 0.0,
        "Guaranteed": 0.0,
        "inference": 0.0,
    }


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Gold=1", "CLASS one of BE, Burstable"),
        ("BE", "want CLASS=HOURS"),
        ("BE=-1", "hours must be in [0, 168]"),
        ("BE=soon", "hours must be in"),
        ("BE=nan", "hours must be in"),
    ],
)
def test_bad_slack_is_refused_by_item(text: str, needle: str) -> None:
    """A slack item with an unknown class, no hours or bad hours is refused, quoted."""
    with pytest.raises(ValueError, match=re.escape(needle)):
        parse_slack(text)


def test_a_job_s_deadline_class_is_its_qos_or_its_kind() -> None:
    """Pods by QoS class, replicas as inference, anything else by kind."""
    assert deadline_class({"qos": "BE", "kind": "batch"}) == "BE"
    assert deadline_class({"kind": "inference"}) == "inference"
    assert deadline_class({}) == "other"
