"""How help pages show parameters: flags bare, arguments as click writes them.

typer 0.29 gives every flag a type column as if it took a value (``--json <bool>``, even
``--help <bool>``) and writes a required argument in braces on the usage line
(``netrouter release [OPTIONS] {ids}...``). Commands and groups made with these classes
show flags without a placeholder and arguments as ``SITE_ID``, ``IDS...``, ``[NAME]``.
Both programs use them (``netrouter`` and ``netrouter-agent``), so they live with what
the two share.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# The context and parameter types are typer's vendored click ones, which it does not export.


def bare_flags(params: list[Any]) -> list[Any]:
    """``params`` with every flag's placeholder emptied, so help shows ``--json`` alone."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


def usage_pieces(command: TyperCommand | TyperGroup, ctx: Any) -> list[str]:
    """The usage line after the command's name: [OPTIONS], then each argument's NAME."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if not isinstance(param, TyperArgument):
            pieces.extend(param.get_usage_pieces(ctx))
            continue
        name = (param.metavar or param.name or "").upper()
        name = name if param.required else f"[{name}]"
        pieces.append(name + ("..." if param.nargs != 1 else ""))
    return pieces


class Command(TyperCommand):
    """A command whose help shows flags bare and arguments as NAME (see the module)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return bare_flags(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return usage_pieces(self, ctx)


class Group(TyperGroup):
    """A group whose help shows flags bare and arguments as NAME (see the module)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return bare_flags(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*usage_pieces(self, ctx), self.subcommand_metavar]
