"""How the CLI fails: a message on stderr and an exit status."""

from __future__ import annotations

import pytest
import typer

from netrouter.cli.console import call, fail
from netrouter.client.errors import NotFoundError


def test_fail_prints_the_error_and_gives_the_exit(capsys: pytest.CaptureFixture[str]) -> None:
    """fail() writes 'error: MESSAGE' to stderr and returns an exit with the given status."""
    exit_ = fail("bad flag", 2)
    assert exit_.exit_code == 2
    assert "error: bad flag" in capsys.readouterr().err


def test_call_returns_the_result() -> None:
    """call() runs the coroutine and returns what it returns."""

    async def answer() -> int:
        return 42

    assert call(answer()) == 42


def test_call_turns_a_router_error_into_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A RouterError from the coroutine exits 1 with its message on stderr."""

    async def missing() -> None:
        raise NotFoundError("no placement p-1")

    with pytest.raises(typer.Exit) as exited:
        call(missing())
    assert exited.value.exit_code == 1
    assert "no placement p-1" in capsys.readouterr().err
