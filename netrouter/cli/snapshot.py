"""``netrouter snapshot``: save a running router's whole state to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from netrouter.cli.connection import Connect, ask, reaches_router
from netrouter.cli.console import err, fail
from netrouter.cli.options import DEFAULT_TARGET, TargetOpt


@reaches_router
def snapshot(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write (JSON; binary if it ends .pb).")
    ],
    target: TargetOpt = DEFAULT_TARGET,
    *,
    connect: Connect,
) -> None:
    """Save a running router's whole state (sites, reports, active work, links) to a file.

    Use it for offline what-ifs: 'netrouter whatif SCENARIO --snapshot FILE'.
    """
    from netrouter.planning.whatif import save_snapshot

    state = ask(connect(target), lambda client: client.snapshot())
    try:
        save_snapshot(state, output)
    except OSError as exc:
        raise fail(f"{output}: cannot write: {exc.strerror}") from exc
    err.print(
        f"saved {len(state.site_reports)} sites and {len(state.placements)} active placements "
        f"to {output}",
        highlight=False,
    )
