"""The real-Prometheus fixture: it scrapes the test's exporters, sees their text change and
reports a vanished exporter as down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.prometheus import Exporter, Prometheus, values

# Each test takes about 6 s: Prometheus scrapes new targets only after a fixed 5 s tick.
pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

StartPrometheus = Callable[..., Prometheus]

# What NVIDIA's dcgm-exporter serves for one GPU (its default counters, trimmed).
DCGM_TEXT = """\
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{{gpu="0",UUID="GPU-5f3c2a9e-1b7d-4e60-9a2f-0c8d4b6e7a11",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-a1",DCGM_FI_DRIVER_VERSION="535.161.08"}} {util}
# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{{gpu="0",UUID="GPU-5f3c2a9e-1b7d-4e60-9a2f-0c8d4b6e7a11",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-a1",DCGM_FI_DRIVER_VERSION="535.161.08"}} 312.448000
"""

# What node_exporter serves for one hwmon sensor (a different exporter on the same site).
NODE_TEXT = """\
# HELP node_hwmon_temp_celsius Hardware monitor for temperature (input)
# TYPE node_hwmon_temp_celsius gauge
node_hwmon_temp_celsius{chip="platform_coretemp_0",sensor="temp1"} 47
"""


def test_a_query_returns_the_served_samples_with_their_labels(
    prometheus: StartPrometheus, new_exporter: Callable[..., Exporter]
) -> None:
    dcgm = new_exporter(DCGM_TEXT.format(util=87), job="dcgm")
    node = new_exporter(NODE_TEXT, job="node")
    server = prometheus(dcgm, node)

    util = server.wait_for("DCGM_FI_DEV_GPU_UTIL")
    assert values(util) == {
        (
            ("DCGM_FI_DRIVER_VERSION", "535.161.08"),
            ("Hostname", "node-a1"),
            ("UUID", "GPU-5f3c2a9e-1b7d-4e60-9a2f-0c8d4b6e7a11"),
            ("__name__", "DCGM_FI_DEV_GPU_UTIL"),
            ("device", "nvidia0"),
            ("gpu", "0"),
            ("instance", dcgm.target),
            ("job", "dcgm"),
            ("modelName", "NVIDIA H100 80GB HBM3"),
        ): 87.0
    }
    temp = server.wait_for("node_hwmon_temp_celsius")
    assert [(r["metric"]["job"], float(r["value"][1])) for r in temp] == [("node", 47.0)]
    assert server.startup_s is not None and server.startup_s < 5


def test_new_exporter_text_is_seen_after_the_next_scrape(
    prometheus: StartPrometheus, exporter: Exporter
) -> None:
    exporter.set_text(DCGM_TEXT.format(util=10))
    server = prometheus(exporter)
    assert [float(r["value"][1]) for r in server.wait_for("DCGM_FI_DEV_GPU_UTIL")] == [10.0]

    exporter.set_text(DCGM_TEXT.format(util=95))
    server.wait_for("DCGM_FI_DEV_GPU_UTIL == 95")
    # The old sample is replaced, not kept beside the new one.
    assert [float(r["value"][1]) for r in server.query("DCGM_FI_DEV_GPU_UTIL")] == [95.0]


def test_a_stopped_or_broken_exporter_is_down_for_its_job(
    prometheus: StartPrometheus, new_exporter: Callable[..., Exporter]
) -> None:
    gone = new_exporter(NODE_TEXT, job="gone")
    broken = new_exporter(NODE_TEXT, job="broken")
    healthy = new_exporter(NODE_TEXT, job="healthy")
    server = prometheus(gone, broken, healthy)

    def up_by_job(result: list[dict[str, Any]]) -> dict[str, float]:
        return {r["metric"]["job"]: float(r["value"][1]) for r in result}

    server.wait_for("up", lambda r: up_by_job(r) == {"gone": 1, "broken": 1, "healthy": 1})
    gone.stop()
    broken.fail(500)
    server.wait_for("up", lambda r: up_by_job(r) == {"gone": 0, "broken": 0, "healthy": 1})
    # Their samples go stale with them; the healthy exporter's stay.
    temps = server.wait_for("node_hwmon_temp_celsius", lambda r: len(r) == 1)
    assert [r["metric"]["job"] for r in temps] == ["healthy"]
