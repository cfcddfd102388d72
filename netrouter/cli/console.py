"""Where the CLI prints (stdout for results, stderr for status and errors) and how it fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console

T = TypeVar("T")

out = Console()
if not out.is_terminal:
    out.width = 140  # pipes and logs: do not squeeze tables to 80 columns
err = Console(stderr=True)


def show(value: T, as_json: bool, render: Callable[[T], object]) -> None:
    """Print a result: as one JSON document with ``as_json``, else as ``render`` prints it."""
    if as_json:
        from netrouter.cli.render_json import print_json

        print_json(out, value)
    else:
        render(value)


EXIT_UNPLACED = 3
"""``place`` exits with this when some workload got no site (1: the router refused or
could not be reached; 2: bad input)."""


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; the exit to raise, with status ``code``."""
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def call(coro: Awaitable[T]) -> T:
    """Run ``coro`` to its end; a :class:`RouterError` exits 1 with its message."""
    import asyncio

    from netrouter.client.errors import RouterError

    async def wrapped() -> T:
        return await coro

    try:
        return asyncio.run(wrapped())
    except RouterError as exc:
        raise fail(str(exc)) from exc
