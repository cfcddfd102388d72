"""``netrouter watch``: follow placement events as they happen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from netrouter.cli.connection import Connect, ask, reaches_router
from netrouter.cli.console import fail, out
from netrouter.cli.options import DEFAULT_TARGET, TargetOpt
from netrouter.cli.render import event_line
from netrouter.cli.render_json import json_line

if TYPE_CHECKING:
    from netrouter.client.router_client import RouterClient


@reaches_router
def watch(
    target: TargetOpt = DEFAULT_TARGET,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Print every stored event first, then follow.")
    ] = False,
    after: Annotated[
        int | None,
        typer.Option(
            "--after",
            help="Resume after this event id (the first column, or event_id in --json); "
            "default: from now.",
            min=0,
            show_default=False,
        ),
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="One JSON object per event and line (JSON Lines).")
    ] = False,
    *,
    connect: Connect,
) -> None:
    """Follow placement events (placed, moved, released, evicted) as they happen, one line
    each, until Ctrl-C (which exits 0).

    Reconnects by itself when the router restarts, resuming after the last event printed,
    so none is missed or printed twice. Example: netrouter watch --after 1200 --json
    """
    if from_start and after is not None:
        raise fail("give --from-start or --after ID, not both", 2)

    async def follow(client: RouterClient) -> None:
        from netrouter.client.errors import OutOfRangeError

        try:
            async for event in client.watch(after_event_id=after or 0, from_start=from_start):
                if json:
                    print(json_line(event), flush=True)
                else:
                    out.print(event_line(event), highlight=False, soft_wrap=True)
        except OutOfRangeError as exc:  # --after past the last event: the input is wrong
            said = (
                str(exc).replace("after_event_id:", "--after").replace("from_start", "--from-start")
            )
            raise fail(said, 2) from exc

    try:
        ask(connect(target), follow)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
