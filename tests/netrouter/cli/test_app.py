"""The root command: every command is there, and its top module imports nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from netrouter.cli.app import app
from tests.helpers.factories import run_cli_async

HEAVY = ("grpc", "pydantic", "aiomqtt", "google", "numpy", "matplotlib", "ortools", "solver")
COMMANDS = (
    "serve",
    "sites",
    "place",
    "placements",
    "get",
    "release",
    "rebalance",
    "watch",
    "demo",
    "snapshot",
    "replay",
    "whatif",
)


def _top_packages_after_help(module: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after ``python -m MODULE --help``."""
    code = (
        "import json, runpy, sys\n"
        f"sys.argv = [{module!r}, '--help']\n"
        "try:\n"
        f"    runpy.run_module({module!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded: set[str] = set(json.loads(done.stderr.strip().splitlines()[-1]))
    return loaded


def test_help_lists_every_command() -> None:
    """`netrouter --help` names every command."""
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


def test_netrouter_help_loads_no_heavy_package() -> None:
    """`netrouter --help` loads typer and rich but no gRPC, pydantic, MQTT or solver."""
    loaded = _top_packages_after_help("netrouter")
    assert {"netrouter", "typer", "rich"} <= loaded  # the check itself sees imports
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_agent_help_loads_no_heavy_package() -> None:
    """`netrouter-agent --help` loads no gRPC, protobuf, pydantic or MQTT either."""
    loaded = _top_packages_after_help("site_agents")
    assert {"site_agents", "typer"} <= loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


async def test_help_teaches() -> None:
    """The installed `netrouter --help` names every command, and `place --help` the file
    format."""
    code, out, _ = await run_cli_async("--help")
    assert code == 0
    assert all(command in out for command in COMMANDS)
    code, out, _ = await run_cli_async("place", "--help")
    assert "examples/workloads.yaml" in out
