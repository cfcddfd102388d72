"""Fuzzing of every input edge: MQTT reports, scenario and config files, Place requests.

    uv run python benchmarks/fuzz.py --cases 10000 --json

Runs each target of tests/fuzz.py (the same strategies and property checks the test suite
runs a few hundred cases of) for at least ``--cases`` Hypothesis cases, and prints one JSON
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
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz import StateChanged, Target, targets

MAX_FAILURES_SHOWN = 5


def run_target(target: Target, cases: int) -> dict[str, Any]:
    """Run ``target`` for ``cases`` cases, counting outcomes instead of stopping at a failure."""
    figures: dict[str, Any] = {"cases": 0, "accepted": 0, "crashes": 0, "state_changes": 0}
    failures: list[dict[str, str]] = []

    @settings(
        max_examples=cases,
        database=None,
        deadline=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    @given(target.cases)
    def run(case: tuple[Any, ...]) -> None:
        figures["cases"] += 1
        try:
            if target.check(*case) == "accepted":
                figures["accepted"] += 1
            return
        except StateChanged as exc:
            figures["state_changes"] += 1
            error: Exception = exc
        except Exception as exc:
            figures["crashes"] += 1
            error = exc
        if len(failures) < MAX_FAILURES_SHOWN:
            frames = traceback.extract_tb(error.__traceback__)[-2:]
            failures.append(
                {
                    "error": f"{type(error).__name__}: {error}"[:400],
                    "where": " <- ".join(
                        f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames)
                    ),
                    "input": repr(case)[:400],
                }
            )

    start = time.perf_counter()
    while figures["cases"] < cases:  # Hypothesis may stop short; top up until N ran
        run()
    figures["seconds"] = round(time.perf_counter() - start, 2)
    if failures:
        figures["failures"] = failures
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per target")
    parser.add_argument("--only", action="append", help="run only this target (repeatable)")
    parser.add_argument("--json", action="store_true", help="JSON only (the default)")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as workdir, targets(Path(workdir)) as all_targets:
        known = [t.name for t in all_targets]
        for name in args.only or ():
            if name not in known:
                parser.error(f"unknown target {name!r}; known: {', '.join(known)}")
        for target in all_targets:
            if args.only and target.name not in args.only:
                continue
            out[target.name] = run_target(target, args.cases)
    print(json.dumps(out, indent=None if args.json else 2))
    failed = any(f["crashes"] or f["state_changes"] for f in out.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
