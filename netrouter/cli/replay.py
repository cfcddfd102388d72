"""``netrouter replay``: the real traces under every policy, the value report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from netrouter.cli.console import err, fail, out
from netrouter.cli.options import JsonOpt
from netrouter.cli.render import print_replay
from netrouter.cli.render_json import replay_json

POD_LISTS = ("gpuspec33", "multigpu50", "default")
DEFAULT_SLACK = "BE=24,Burstable=4,LS=0,Guaranteed=0,inference=0"
"""``netrouter.planning.traces.DEFAULT_SLACK_H`` as text (not imported: ``--help`` stays
instant; a test keeps the two alike)."""


def replay(
    trace: Annotated[
        str,
        typer.Option(
            help="Which trace to replay: alibaba-openb (batch), azure-llm (inference) or both."
        ),
    ] = "both",
    hours: Annotated[
        float,
        typer.Option(
            help="Simulated hours (from the start of the trace's busiest window).",
            min=0.25,
            max=168,
        ),
    ] = 24.0,
    policy: Annotated[
        str,
        typer.Option(help="all, or one of optimizer, nearest, cheapest-first, spread."),
    ] = "all",
    period_min: Annotated[
        float, typer.Option("--period-min", help="Minutes between decisions (a divisor of 60).")
    ] = 15.0,
    load: Annotated[
        float,
        typer.Option(
            help="Scale the traces so the busiest step needs this share of the free devices.",
            min=0.01,
            max=2.0,
        ),
    ] = 0.85,
    seed: Annotated[int, typer.Option(help="Seed for the origin regions.")] = 7,
    start: Annotated[
        str,
        typer.Option(
            help="Local start time of the replay (sets the tariffs' hours; default "
            "2023-11-16T00:00:00+08:00).",
            show_default=False,
        ),
    ] = "2023-11-16T00:00:00+08:00",
    time_limit: Annotated[float, typer.Option(help="Seconds per optimizer solve.", min=0.1)] = 2.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Read the full traces from this folder instead of the slices in "
            "examples/traces (where to get them and how to lay them out: "
            "examples/traces/README.md; default: those slices)."
        ),
    ] = None,
    pods: Annotated[
        str,
        typer.Option(
            help="With --data-dir, which Alibaba pod list: gpuspec33 (a third of the GPU "
            "pods need given types), multigpu50 (more multi-GPU pods: for node-shape "
            "figures) or default."
        ),
    ] = "gpuspec33",
    shape: Annotated[
        bool,
        typer.Option(
            help="Lay the sites' devices on nodes drawn from the Alibaba node list and plan "
            "on them (--no-shape: count devices only)."
        ),
    ] = True,
    node_fit: Annotated[
        str,
        typer.Option(
            "--node-fit",
            help="Which node of a site takes a placement: best (fewest free that hold it), "
            "first, or worst (most free).",
        ),
    ] = "best",
    max_drain_h: Annotated[
        float,
        typer.Option(
            "--max-drain-h",
            help="After the window, keep stepping until every job has finished in every "
            "policy, for at most this many hours (up to 168); jobs still waiting then are "
            "dropped.",
            min=0,
        ),
    ] = 72.0,
    slack: Annotated[
        str,
        typer.Option(
            "--slack",
            help="Hours of slack per deadline class beyond the job's own run: its deadline "
            "is arrival + run + slack (0: must start on arrival; none: no deadline). Classes: "
            "the pods' QoS (BE, Burstable, LS, Guaranteed) and inference (the Azure "
            "replicas); those not named keep the defaults. A late job still runs and counts "
            f"as a deadline miss. Default: {DEFAULT_SLACK.replace(',', ', ')}.",
            show_default=False,
        ),
    ] = DEFAULT_SLACK,
    optimizer_queue: Annotated[
        str,
        typer.Option(
            "--optimizer-queue",
            help="How the optimizer offers its queue: deadline (earliest deadline first, "
            "work that would be late a step later weighted up) or fifo (as the baselines, "
            "which always use FIFO).",
        ),
    ] = "deadline",
    json: JsonOpt = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write PNG plots of the replay into this folder (default: none, no plots).",
        ),
    ] = None,
) -> None:
    """Replay the real traces over the 10 national clusters: the value report.

    Batch jobs arrive as in the Alibaba GPU trace (with --data-dir: the pod list --pods),
    inference replicas follow the Azure LLM trace's token rate; the sites' devices sit on
    nodes drawn from the trace's node list; every policy places the same arrivals, step by
    step, at the sites' time-of-use prices, on the nodes. Work a policy cannot place waits
    in its queue and is offered again every step; after the window the replay drains until
    every job has run in full in every policy. Each job has a deadline, --slack hours after
    it would end started on arrival. Prints each policy's electricity cost, energy, carbon,
    SLO violations, penalties, their ratios to the optimizer, the hindsight lower bound
    (window and drain) with the optimizer's gap to it; its queue (jobs that waited, wait
    percentiles, dropped, deadline misses, site use) and waits by deadline class; and the
    devices in use, stranded in fragments and the work that waited for node shape.

    Example: netrouter replay --trace both --hours 2 --plot out/
    """
    from netrouter.planning.arrivals import TRACES
    from netrouter.planning.replay import MAX_DRAIN_H, POLICIES, run_replay
    from netrouter.planning.replay_nodes import FITS
    from netrouter.planning.simulation import QUEUE_ORDERS
    from netrouter.planning.traces import EXAMPLES, TraceFiles, parse_slack
    from solver import SolverConfig

    if trace not in TRACES:
        raise fail(f"--trace must be one of {', '.join(TRACES)}", 2)
    if policy != "all" and policy not in POLICIES:
        raise fail(f"--policy must be all or one of {', '.join(POLICIES)}", 2)
    if period_min <= 0 or 60.0 % period_min:
        raise fail("--period-min must divide 60 (5, 10, 15, 20, 30 or 60)", 2)
    if pods not in POD_LISTS:
        raise fail(f"--pods must be one of {', '.join(POD_LISTS)}", 2)
    if node_fit not in FITS:
        raise fail(f"--node-fit must be one of {', '.join(FITS)}", 2)
    if max_drain_h > MAX_DRAIN_H:
        raise fail(f"--max-drain-h must be at most {MAX_DRAIN_H:g}", 2)
    if optimizer_queue not in QUEUE_ORDERS:
        raise fail(f"--optimizer-queue must be one of {', '.join(QUEUE_ORDERS)}", 2)
    try:
        slack_h = parse_slack(slack)
    except ValueError as exc:
        raise fail(f"--slack: {exc}", 2) from exc
    files = (
        TraceFiles.full(data_dir, pods=f"openb_pod_list_{pods}.csv")
        if data_dir
        else TraceFiles.bundled(EXAMPLES)
    )
    if not shape:
        files = replace(files, alibaba_nodes=None)
    paths = [files.alibaba_pods, files.azure_conv, files.azure_code]
    if files.alibaba_nodes is not None:
        paths.append(files.alibaba_nodes)
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise fail(f"trace file not found: {missing[0]}", 2)
    solver = SolverConfig(time_limit_s=time_limit, relative_gap_limit=1e-3, explain_max_workloads=0)
    try:
        with err.status("reading the traces") as status:
            report = run_replay(
                trace=trace,
                hours=hours,
                policies=POLICIES if policy == "all" else (policy,),
                period_min=period_min,
                seed=seed,
                load=load,
                start=start,
                sites_dir=EXAMPLES / "sites",
                files=files,
                solver=solver,
                progress=status.update,
                node_fit=node_fit,
                max_drain_h=max_drain_h,
                optimizer_queue=optimizer_queue,
                slack=slack_h,
            )
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    if json:
        out.print_json(replay_json(report))
    else:
        print_replay(out, report)
    if plot is not None:
        from netrouter.cli.plots import write_replay_plots

        written = write_replay_plots(report, plot)
        err.print(f"wrote {len(written)} plots to {plot}", highlight=False)
