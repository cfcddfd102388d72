"""How fast and how close to optimal the optimizer is, against the baselines.

    uv run python benchmarks/solver_scale.py --workloads 100000 --sites 100 --seed 1 --json

Prints one JSON object: ``wall_s``, ``objective``, ``bound``, ``gap``, ``peak_rss_mb`` and,
for each baseline run on the same instance in the same process, its ``objective`` and
``ratio`` = baseline objective / ours (> 1: the baseline is dearer). Instances come from
benchmarks/instances.py (national clusters × public traces, demand 90–110% of supply).
Targets on 2 cores: 100,000 × 100 in ≤ 10 s at gap ≤ 0.2%; 10,000 × 50 in ≤ 1 s at
gap ≤ 0.5%; 1,000 × 20 in ≤ 0.5 s at gap ≤ 0.5%; never dearer than a baseline; peak
memory under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.instances import instance, shaped
from solver import BASELINES, SolverConfig, build_table, run_baseline, solve
from solver.shaped import counted, node_pairs


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", type=int, default=10_000)
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=10.0, help="solver limit, s")
    parser.add_argument("--gap-limit", type=float, default=0.001, help="stop at this gap")
    parser.add_argument(
        "--heterogeneous",
        action="store_true",
        help="single-GPU pods may also take 1 H100 (site-dependent demand: a GAP)",
    )
    parser.add_argument(
        "--shaped",
        action="store_true",
        help="sites' free devices sit on 8-device nodes, 40%% whole (benchmarks/instances.py)",
    )
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args(argv)

    built = time.perf_counter()
    problem, tightness = instance(
        args.workloads, args.sites, args.seed, heterogeneous=args.heterogeneous
    )
    if args.shaped:
        problem = shaped(problem, random.Random(args.seed))
    built = time.perf_counter() - built
    config = SolverConfig(
        time_limit_s=args.time_limit, relative_gap_limit=args.gap_limit, num_workers=2
    )
    plan = solve(problem, config)
    rss = peak_rss_mb()
    # Pairs of the table the solve starts from (counted, for shaped sites) and, shaped,
    # of the node table (estimated: building it is what the solve avoids).
    table, ctx = build_table(counted(problem))
    nodes = node_pairs(problem, ctx, table) if args.shaped else table.n_arcs
    result: dict[str, object] = {
        "workloads": args.workloads,
        "sites": args.sites,
        "seed": args.seed,
        "tightness": round(tightness, 4),
        "heterogeneous": args.heterogeneous,
        "shaped": args.shaped,
        "wall_s": round(plan.wall_s, 3),
        "objective": plan.objective,
        "bound": plan.bound,
        "gap": plan.gap,
        "status": plan.status,
        "method": plan.method,
        "placed": len(plan.assignments),
        "unplaced": len(plan.unplaced),
        "peak_rss_mb": round(rss, 1),
        "instance_build_s": round(built, 3),
        "pools": table.n_pools,
        "pairs": table.n_arcs,
        "node_pairs": nodes,
    }
    if not args.no_baselines:
        baselines = {}
        for name in BASELINES:
            other = run_baseline(name, problem)
            baselines[name] = {
                "objective": other.objective,
                "ratio": other.objective / plan.objective if plan.objective else 1.0,
                "unplaced": len(other.unplaced),
                "wall_s": round(other.wall_s, 3),
            }
        result["baselines"] = baselines
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
