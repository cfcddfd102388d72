"""Trace rows as workloads."""

from __future__ import annotations

import random

from netrouter.planning.traces import pod_workload


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
