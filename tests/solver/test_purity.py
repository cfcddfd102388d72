"""The solver package stays pure: no I/O libraries and nothing else of ours."""

from __future__ import annotations

import subprocess
import sys

BLOCKED = (
    "grpc",
    "aiomqtt",
    "paho",
    "pynvml",
    "sqlite3",
    "socket",
    "netrouter",
    "site_agents",
    "amqtt",
)

SCRIPT = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError('solver must not import ' + name)
        return None
sys.meta_path.insert(0, Block())
import solver
from solver import Problem, Site, Workload, solve
site = Site(id='a', pue=1.1, hourly_price=(0.3,) * 24, carbon_kg_per_kwh=0.5,
            latency_ms={{'r': 5.0}}, free={{'H100': 8}}, power_w={{'H100': 700.0}})
plan = solve(Problem(sites=(site,), workloads=(Workload(id='w', origin_region='r',
             demands={{'H100': 8}}, duration_h=1.0),)))
assert len(plan.assignments) == 1
print('ok')
"""


def test_solver_imports_and_solves_with_io_libraries_blocked() -> None:
    """Importing and running the solver never touches grpc, MQTT, NVML, SQLite or sockets."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
