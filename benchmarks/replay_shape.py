"""The replay on real node shapes: how the choice of node within a site fills fragments.

    uv run python benchmarks/replay_shape.py --data-dir ../shared/data --hours 24 --json
    uv run python benchmarks/replay_shape.py --hours 6 --policies optimizer,nearest --fits best
    uv run python benchmarks/replay_shape.py --hours 6 --policies optimizer --fits best \
        --optimizer-queue fifo

Replays the Alibaba multi-GPU pod list (``openb_pod_list_multigpu50.csv``, completed from
the default list: see ``netrouter/planning/traces.py``) over the 10 clusters, their devices
laid on nodes drawn from the trace's 1,213 GPU nodes, once per node choice (``best``,
``first``, ``worst`` fit; see ``netrouter/planning/replay_nodes.py``), every policy on the
same arrivals. Work a policy cannot place waits in its queue; after the window the replay
drains until every job has finished (at most ``--max-drain-h``). Each job has a deadline,
``--slack`` hours (by QoS class) after it would end started on arrival; the optimizer offers
its queue by ``--optimizer-queue``. Prints one JSON object: the settings, and per fit its
``drain_steps``, ``hindsight_bound`` (window and drain) and ``gap``, and per policy
``{"devices_in_use", "fragmented", "stranded", "waited", "wait_p50_h", "wait_p95_h",
"shape_waited", "large_waited", "dropped", "deadline_misses", "waits_by_class", "evicted",
"node_misses", "unplaced", "placed", "count_only_misfits", "count_only_checked",
"objective", "decide_s"}``, shares of all the replay's devices as fractions, waits in hours.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netrouter.planning.replay import DEFAULT_MAX_DRAIN_H, POLICIES, run_replay
from netrouter.planning.replay_nodes import FITS
from netrouter.planning.simulation import QUEUE_ORDERS
from netrouter.planning.traces import EXAMPLES, TraceFiles, parse_slack, slack_text
from solver import SolverConfig

FIGURES = (
    "devices_in_use",
    "fragmented",
    "stranded",
    "waited",
    "wait_p50_h",
    "wait_p95_h",
    "shape_waited",
    "large_waited",
    "dropped",
    "deadline_misses",
    "waits_by_class",
    "evicted",
    "node_misses",
    "unplaced",
    "placed",
    "count_only_misfits",
    "count_only_checked",
    "objective",
    "decide_s",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--pods", default="multigpu50", help="openb_pod_list_<PODS>.csv")
    parser.add_argument("--trace", default="alibaba-openb", help="alibaba-openb or both")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--load", type=float, default=0.85)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--fits", default=",".join(FITS))
    parser.add_argument("--time-limit", type=float, default=2.0, help="seconds per solve")
    parser.add_argument(
        "--max-drain-h",
        type=float,
        default=DEFAULT_MAX_DRAIN_H,
        help="hours past the window to wait for every job to finish",
    )
    parser.add_argument(
        "--slack", default="", help="CLASS=HOURS,... over the defaults (BE=24,Burstable=4,...)"
    )
    parser.add_argument("--optimizer-queue", default="deadline", choices=QUEUE_ORDERS)
    parser.add_argument(
        "--no-count-only", action="store_true", help="skip checking the count-only plans"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args(argv)

    slack = parse_slack(args.slack)
    files = TraceFiles.full(args.data_dir, pods=f"openb_pod_list_{args.pods}.csv")
    solver = SolverConfig(
        time_limit_s=args.time_limit, relative_gap_limit=1e-3, explain_max_workloads=0
    )
    result: dict[str, object] = {
        "pods": files.alibaba_pods.name,
        "trace": args.trace,
        "hours": args.hours,
        "load": args.load,
        "seed": args.seed,
        "max_drain_h": args.max_drain_h,
        "slack": slack_text(slack),
        "optimizer_queue": args.optimizer_queue,
    }
    fits: dict[str, object] = {}
    for fit in args.fits.split(","):
        began = time.perf_counter()
        report = run_replay(
            trace=args.trace,
            hours=args.hours,
            policies=args.policies.split(","),
            seed=args.seed,
            load=args.load,
            sites_dir=EXAMPLES / "sites",
            files=files,
            solver=solver,
            node_fit=fit,
            check_count_only=not args.no_count_only,
            max_drain_h=args.max_drain_h,
            optimizer_queue=args.optimizer_queue,
            slack=slack,
            progress=(lambda _m: None) if args.json else print,
        )
        result["jobs"] = report.jobs
        result["nodes"] = report.nodes
        fits[fit] = {
            "wall_s": round(time.perf_counter() - began, 1),
            "drain_steps": report.drain_steps,
            "hindsight_bound": report.hindsight_bound,
            "gap": report.gap,
            "bound_s": round(report.bound_s, 1),
            "policies": {
                name: r.model_dump(include=set(FIGURES)) for name, r in report.policies.items()
            },
        }
    result["fits"] = fits
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
