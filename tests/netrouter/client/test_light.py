"""The client library stays light: importing it loads no solver and no numeric stack."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("ortools", "numpy", "networkx", "matplotlib", "solver")
CLIENT_MODULES = (
    "netrouter.client",
    "netrouter.client.router_client",
    "netrouter.client.types",
    "netrouter.client.errors",
    "netrouter.client.convert",
    "netrouter.client.scenario",
    "netrouter.client.changes",
    "netrouter.client.selectors",
    "netrouter.client.world",
    "netrouter.client.whatif_report",
    "netrouter.client.workload_file",
)


def _loaded_after(modules: tuple[str, ...]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {list(modules)!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(out))


def test_client_loads_no_solver_or_numeric_stack() -> None:
    """A fresh interpreter that imports every client module has none of the heavy packages."""
    loaded = _loaded_after(CLIENT_MODULES)
    assert "netrouter" in loaded and "grpc" in loaded  # the check itself sees imports
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_check_sees_a_heavy_import() -> None:
    """The same check flags the router, which does load the solver."""
    loaded = _loaded_after(("netrouter.router.core",))
    assert {"solver", "ortools", "numpy"} <= loaded
