"""``netrouter whatif``: scenarios solved against a running router or a saved snapshot."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netrouter.cli.connection import Connect, ask, reaches_router
from netrouter.cli.console import err, fail, out
from netrouter.cli.options import DEFAULT_TARGET, TARGET_ENV, JsonOpt
from netrouter.cli.render import print_whatif
from netrouter.cli.render_json import whatif_json

if TYPE_CHECKING:
    from netrouter.client.router_client import RouterClient
    from netrouter.client.whatif_report import WhatIfReport


@reaches_router
def whatif(
    scenarios: Annotated[
        list[Path],
        typer.Argument(
            help="Scenario files (TOML or YAML; see examples/scenarios/). Each is solved "
            "against the same baseline.",
            show_default=False,
        ),
    ],
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="Ask this running router (HOST:PORT; default $NETROUTER_TARGET, else "
            f"{DEFAULT_TARGET}) unless --snapshot is given.",
            show_default=False,
        ),
    ] = None,
    snapshot_file: Annotated[
        Path | None,
        typer.Option(
            "--snapshot",
            "-s",
            help="Use a saved state instead ('netrouter snapshot', or 'netrouter demo --snapshot'; "
            "default: none, ask the router).",
        ),
    ] = None,
    json: JsonOpt = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Write PNG plots for each scenario into this folder (default: none)."
        ),
    ] = None,
    html_file: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Write one self-contained HTML report (tables and plots) to this file "
            "(default: none).",
        ),
    ] = None,
    time_limit: Annotated[
        float, typer.Option(help="Seconds per solve (baseline and each scenario).", min=0.1)
    ] = 5.0,
    show_moves: Annotated[int, typer.Option(help="Moves listed per scenario.", min=0)] = 15,
    *,
    connect: Connect,
) -> None:
    """What if a site fails, a price rises, a PUE cap tightens, a link is cut, demand doubles?

    Solves the current state (the baseline) and each scenario of it with the same solver and
    prints them side by side: cost per hour and per day, energy, carbon, the east/west split,
    unplaced work and SLO violations, then per scenario the workloads that move (from where
    to where, and why). Nothing is committed.

    Example: netrouter whatif examples/scenarios/guian-outage.toml --snapshot state.json
    """
    from dataclasses import replace as dc_replace

    from netrouter.client.scenario import load_scenario
    from netrouter.client.world import ScenarioError
    from netrouter.contract.configfile import ConfigFileError
    from netrouter.planning.whatif import (
        DEFAULT_SOLVER,
        SnapshotFileError,
        load_snapshot,
        run_whatif,
    )

    if target is not None and snapshot_file is not None:
        raise fail("give either --target HOST:PORT or --snapshot FILE, not both", 2)
    if snapshot_file is None and target is None:
        target = os.environ.get(TARGET_ENV) or DEFAULT_TARGET
    try:
        loaded = [load_scenario(p) for p in scenarios]
    except ConfigFileError as exc:
        raise fail(str(exc), 2) from exc
    config = dc_replace(DEFAULT_SOLVER, time_limit_s=time_limit)
    with err.status("solving the baseline") as status:

        def progress(name: str) -> None:
            status.update(f"solving {name}")

        if snapshot_file is not None:
            try:
                state = load_snapshot(snapshot_file)
                report = run_whatif(state, loaded, config=config, progress=progress)
            except (SnapshotFileError, ScenarioError) as exc:
                raise fail(str(exc), 2) from exc
        else:
            assert target is not None
            router = connect(target)

            async def solve(client: RouterClient) -> WhatIfReport:
                status.update(f"{target} is solving the baseline and {len(loaded)} scenario(s)")
                return await client.what_if(loaded, time_limit_s=time_limit)

            try:
                report = ask(router, solve)
            except ScenarioError as exc:
                raise fail(str(exc), 2) from exc
    if json:
        out.print_json(whatif_json(report))
    else:
        print_whatif(out, report, show_moves)
    if plot is not None or html_file is not None:
        from netrouter.cli.plots import render, write_plots
        from netrouter.cli.render_html import write_html

        images = render(report)
        if plot is not None:
            paths = write_plots(report, plot, images)
            err.print(f"wrote {len(paths)} plots to {plot}", highlight=False)
        if html_file is not None:
            write_html(report, html_file, images)
            err.print(f"wrote {html_file}", highlight=False)
