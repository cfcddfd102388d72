"""``netrouter demo``: the whole system on the 10 national clusters (see :mod:`.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from netrouter.cli.console import call, err, fail, out
from netrouter.cli.logs import setup_logging
from netrouter.cli.options import JsonOpt
from netrouter.cli.render import print_demo
from netrouter.cli.render_json import print_json


def demo(
    mqtt: Annotated[
        str | None,
        typer.Option(
            help="Use this broker, mqtt://HOST:PORT (default: an embedded one that the demo "
            "starts and stops)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling the traces and origin regions.")] = 7,
    jobs: Annotated[int, typer.Option(help="Jobs from the Alibaba trace in the batch.")] = 300,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Read the full traces from this folder instead of the slices in "
            "examples/traces (see examples/traces/README.md; default: those slices)."
        ),
    ] = None,
    json: JsonOpt = False,
    log_level: Annotated[
        str, typer.Option(help="Log level of the embedded services: DEBUG, INFO, WARNING or ERROR.")
    ] = "WARNING",
    snapshot: Annotated[
        Path | None,
        typer.Option(
            help="Also save the router's state to this file after placing, for 'netrouter whatif "
            "--snapshot' (default: none, not saved)."
        ),
    ] = None,
) -> None:
    """Run broker, router and 10 site agents of the national clusters; place a trace batch.

    Prints per-site GPUs used, cost per hour and energy, and what the same batch would cost
    if every workload went to its nearest site. Needs nothing installed but this package.
    """
    from netrouter.cli.demo import run_demo
    from netrouter.contract.broker import parse_mqtt_url
    from netrouter.planning.traces import TraceFiles

    setup_logging(log_level)
    try:
        broker = parse_mqtt_url(mqtt) if mqtt else None
    except ValueError as exc:
        raise fail(f"--mqtt: {exc}", 2) from exc
    traces = TraceFiles.full(data_dir) if data_dir else None
    with err.status("starting") as status:
        report = call(
            run_demo(
                mqtt=broker,
                seed=seed,
                jobs=jobs,
                traces=traces,
                progress=lambda m: status.update(m),
                snapshot_path=snapshot,
            )
        )
    if json:
        print_json(out, report)
        return
    print_demo(out, report)
