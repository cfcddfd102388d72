"""``netrouter place``, ``placements``, ``release`` and ``rebalance``: work on a router."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netrouter.cli.connection import Connect, ask, reaches_router
from netrouter.cli.console import EXIT_UNPLACED, err, fail, out, show
from netrouter.cli.options import DEFAULT_TARGET, JsonOpt, PlacementState, TargetOpt
from netrouter.cli.render import (
    moves_table,
    place_summary,
    placements_table,
    queue_table,
    rebalance_summary,
    unplaced_table,
)
from netrouter.cli.render_json import print_json

if TYPE_CHECKING:
    from netrouter.client.router_client import RouterClient
    from netrouter.client.types import PlaceResult, RebalanceResult


@reaches_router
def place(
    file: Annotated[
        Path,
        typer.Option("--file", "-f", help="Workloads YAML or JSON (see examples/workloads.yaml)."),
    ],
    target: TargetOpt = DEFAULT_TARGET,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Plan only; commit nothing. Rows are 'planned', without an id; work "
            "already placed is planned as a re-placement.",
        ),
    ] = False,
    no_queue: Annotated[
        bool,
        typer.Option(
            "--no-queue",
            help="Work that cannot start now is left unplaced instead of waiting in the "
            "router's queue.",
        ),
    ] = False,
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """Place the workloads in FILE at least energy cost; print where each went and why.

    Work that cannot start now waits in the router's queue, saying why, and starts when
    capacity allows ('netrouter queue' lists it; 'netrouter release' cancels it). Work no
    site could ever take (no site has its model, or enough devices, or meets its SLO or
    residency) is refused at once.

    Exits 0 when every workload was placed or queued, 3 when some were not (each listed
    with its reason and penalty, and a one-line summary on stderr), 2 for a bad file, 1
    when the router refused the request or could not be reached.
    """
    from netrouter.client.errors import InvalidArgumentError
    from netrouter.client.workload_file import WorkloadFileError, load_workloads

    try:
        workloads = load_workloads(file)
    except WorkloadFileError as exc:
        raise fail(str(exc), 2) from exc

    async def place_all(client: RouterClient) -> PlaceResult:
        try:
            return await client.place(workloads, dry_run=dry_run, queue=not no_queue)
        except InvalidArgumentError as exc:
            # The router checks what only it knows (its regions): name the file too.
            raise fail(f"{file}: {exc}", 2) from exc

    result = ask(connect(target), place_all)
    if json:
        print_json(out, result)
    else:
        out.print(placements_table(result.placements))
        if result.queued:
            out.print(queue_table(result.queued, time.time(), title="Queued"))
        if result.unplaced:
            out.print(unplaced_table(result.unplaced))
        out.print(place_summary(result))
    if result.unplaced:
        verb = "would not be placed" if dry_run else "not placed"
        err.print(
            f"{len(result.unplaced)} of {len(workloads)} workloads {verb}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_UNPLACED)


@reaches_router
def placements(
    target: TargetOpt = DEFAULT_TARGET,
    site: Annotated[str, typer.Option(help="Only this site (default: every site).")] = "",
    state: Annotated[
        PlacementState,
        typer.Option(help="Which placements; ended ones show why they ended."),
    ] = PlacementState.active,
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """List placements (active by default)."""

    found = ask(
        connect(target), lambda client: client.list_placements(site_id=site, state=state.value)
    )
    show(found, json, lambda v: out.print(placements_table(v)))


@reaches_router
def queue(
    target: TargetOpt = DEFAULT_TARGET,
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """List the work waiting in the router's queue, in the order it starts: higher
    priority first, then the longest waiting. Each says why it waits; 'netrouter release
    ID' cancels one."""

    found = ask(connect(target), lambda client: client.queued())
    show(
        found,
        json,
        lambda v: out.print(queue_table(v, time.time()) if v else "The queue is empty."),
    )


@reaches_router
def get(
    placement_id: Annotated[
        str,
        typer.Argument(
            help="The placement's id, or its first characters (at least 4, naming one "
            "placement: the 12 a table shows will do)."
        ),
    ],
    target: TargetOpt = DEFAULT_TARGET,
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """Show one placement, active or ended: its table row, then its workload, costs,
    state (and why it ended), created and updated times, and the cheaper sites it did not
    get, with why."""
    from netrouter.cli.render import print_placement

    found = ask(connect(target), lambda client: client.get_placement(placement_id))
    show(found, json, lambda v: print_placement(out, v))


@reaches_router
def release(
    ids: Annotated[
        list[str],
        typer.Argument(
            help="Placement ids to release, all or none; each may be its first characters "
            "(at least 4, naming one placement: the 12 a table shows will do)."
        ),
    ],
    target: TargetOpt = DEFAULT_TARGET,
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """Release placements, freeing their devices."""

    released = ask(connect(target), lambda client: client.release(ids))
    show(released, json, lambda v: out.print(placements_table(v, title="Released")))


@reaches_router
def rebalance(
    target: TargetOpt = DEFAULT_TARGET,
    commit: Annotated[
        bool, typer.Option("--commit", help="Make the moves (default: only propose them).")
    ] = False,
    max_moves: Annotated[
        int, typer.Option(help="At most this many moves, best first; 0: no cap.", min=0)
    ] = 0,
    min_saving: Annotated[
        float | None,
        typer.Option(
            help="What a move must save, in 元, beyond what it costs (default: the router's "
            "[rebalance] min_saving_yuan, 1 元 unless configured).",
            show_default=False,
            min=0.0,
        ),
    ] = None,
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """Re-optimise running work and propose the moves worth making; a dry run unless --commit.

    A move must save more than what it costs plus --min-saving. Moving running work costs
    its data transfer, its own migration cost and its restart: the hours since its last
    checkpoint are re-run (the router's [rebalance] restart_h, 0.25 h unless configured,
    at the work's cost per hour). Work on a site over its hub's PUE cap moves whatever it
    saves. Each move says what it saves and what it costs.
    """

    result = ask(
        connect(target),
        lambda client: client.rebalance(
            commit=commit, max_moves=max_moves, min_saving_yuan=min_saving
        ),
    )
    show(result, json, print_rebalance)


def print_rebalance(result: RebalanceResult) -> None:
    """The moves (when there are any), then the summary line."""
    if result.moves:
        out.print(moves_table(result))
    out.print(rebalance_summary(result))
