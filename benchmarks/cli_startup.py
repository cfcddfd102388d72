"""Start-up time of the two command-line tools: how long ``--help`` takes to print.

    python benchmarks/cli_startup.py [--runs 5]

Runs ``netrouter --help`` and ``netrouter-agent --help`` (the console scripts installed
next to this interpreter, else ``python -m netrouter`` / ``python -m site_agents``) and
``python -c pass`` ``--runs`` times each, as subprocesses, and prints one JSON object: the
median wall seconds per command, and each command's ratio to the bare interpreter's
start-up (``baseline_s``). The goal is 0.4 s or less for both commands.

One untimed run of each comes first, so that the timed ones find the files in the page
cache and, where Python may write them, the modules' bytecode caches. ``bytecode_cache``
says whether it may: with ``PYTHONDONTWRITEBYTECODE`` set, every run compiles from source
each module that has no cached bytecode yet, which no installed copy does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

COMMANDS = {"netrouter": "netrouter", "netrouter-agent": "site_agents"}
"""Console script -> the package ``python -m`` runs when the script is not installed."""


def command_line(script: str) -> list[str]:
    """``script --help`` as installed beside this interpreter, else through ``-m``."""
    installed = shutil.which(script, path=str(Path(sys.executable).parent))
    if installed:
        return [installed, "--help"]
    return [sys.executable, "-m", COMMANDS[script], "--help"]


def median_seconds(argv: Sequence[str], runs: int) -> float:
    """The median wall time of ``runs`` runs of ``argv`` after one untimed run; a failing
    run raises."""
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="Runs per command (default 5).")
    args = parser.parse_args(argv)
    baseline = median_seconds([sys.executable, "-c", "pass"], args.runs)
    commands = {}
    for script in COMMANDS:
        seconds = median_seconds(command_line(script), args.runs)
        commands[f"{script} --help"] = {
            "median_s": round(seconds, 3),
            "ratio_to_baseline": round(seconds / baseline, 1),
        }
    figures = {
        "runs": args.runs,
        "bytecode_cache": not os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "baseline_s": round(baseline, 3),
        "commands": commands,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
