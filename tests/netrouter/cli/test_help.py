"""Every help page of `netrouter` and `netrouter-agent`, walked from the command tree.

Each page must exit 0 and read cleanly: no leaked markup (RST ``code``, rich [tags]), no
empty or garbled ``[default: ...]``, no ``{name}`` or ``<bool>`` placeholders, no pointers
into the source tree; and every option or argument that takes a value says its default
(typer's ``[default: ...]`` or in words) or is required.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from netrouter.cli.app import app as netrouter_app
from site_agents.cli import app as agent_app

APPS = {"netrouter": netrouter_app, "netrouter-agent": agent_app}

LEAKS = ("``", "[/", "[bold", "[dim", "<bool>", "\\[")
EMPTY_DEFAULT = re.compile(r"\[default:(\s*\]|\s\s)")
SOURCE_POINTER = re.compile(r"\b(netrouter|site_agents|solver)/[\w/]*\.py\b")


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and sub-command under ``command``, with the words that reach it."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not sub.hidden:
            yield from _walk(sub, (*path, name))


WALK = [
    (app_name, path, command)
    for app_name, app in APPS.items()
    for path, command in _walk(typer.main.get_command(app))
]
PAGES = [pytest.param(*page, id=" ".join((page[0], *page[1]))) for page in WALK]


def test_the_walk_finds_every_command() -> None:
    """The tree walk is not vacuous: it reaches the sub-commands of both programs."""
    pages = {" ".join((app_name, *path)) for app_name, path, _ in WALK}
    assert {"netrouter sites drain", "netrouter whatif", "netrouter-agent run"} <= pages
    assert len(pages) >= 19


def _says_its_default(param: Any) -> bool:
    """Whether the help page gives ``param``'s default: typer's [default: ...], or words."""
    if param.required or "default" in (param.help or "").lower():
        return True
    shown = param.show_default is not False and param.default not in (None, "", (), [])
    return bool(shown)


@pytest.mark.parametrize(("app_name", "path", "command"), PAGES)
def test_help_page_reads_cleanly(app_name: str, path: tuple[str, ...], command: Any) -> None:
    result = CliRunner().invoke(
        APPS[app_name], [*path, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1"}
    )
    assert result.exit_code == 0, result.output
    page = result.output
    for leak in LEAKS:
        assert leak not in page, f"{leak!r} leaks into the help:\n{page}"
    assert not EMPTY_DEFAULT.search(page), page
    assert not SOURCE_POINTER.search(page), f"points into the source tree:\n{page}"
    ctx = command.make_context(app_name, [], resilient_parsing=True)
    for param in command.get_params(ctx):
        assert "{" + param.name + "}" not in page, f"{{{param.name}}} in the help:\n{page}"
        takes_value = not getattr(param, "is_flag", False)
        if takes_value and not param.hidden:
            assert _says_its_default(param), f"{param.name}: no default and not required"
