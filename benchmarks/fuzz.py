"""Fuzzing of every input edge: MQTT reports, scenario and config files, Place requests.

    uv run python benchmarks/fuzz.py --cases 10000 --json

Runs the test suite's fuzz campaign (``tests/test_fuzz.py::test_fuzz_campaign``: the
same targets, strategies and property checks the suite runs a few hundred cases of) in a
child pytest, for at least ``--cases`` Hypothesis cases, and prints one JSON
object: per target ``{"cases", "accepted", "crashes", "state_changes", "seconds"}``, plus the
first few failures (target, error, input) when there are any. ``crashes`` counts any error
other than the code's own documented rejections (or one that names no field or key, or an
accepted input that breaks what accepted input promises); ``state_changes`` counts rejected
input that changed state or was not counted. Target: zero of both on every target. Exits 1
when either is not zero.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per target")
    parser.add_argument("--only", action="append", help="run only this target (repeatable)")
    parser.add_argument("--json", action="store_true", help="JSON only (the default)")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    with tempfile.TemporaryDirectory() as workdir:
        report = Path(workdir) / "figures.json"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout=0",
            f"{ROOT / 'tests' / 'test_fuzz.py'}::test_fuzz_campaign",
            f"--fuzz-cases={args.cases}",
            f"--fuzz-report={report}",
            *(f"--fuzz-only={name}" for name in args.only or ()),
        ]
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if not report.exists():  # an unknown target, or the campaign could not start
            errors = [line[1:].strip() for line in run.stdout.splitlines() if line[:2] == "E "]
            sys.stderr.write((errors[0] if errors else run.stdout[-4000:] + run.stderr) + "\n")
            return 2
        out: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    print(json.dumps(out, indent=None if args.json else 2))
    failed = any(f["crashes"] or f["state_changes"] for f in out.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
