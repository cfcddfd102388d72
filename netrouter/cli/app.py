"""``netrouter``: run the router, talk to it, and run the demo.

The root command and its entry point. Each command lives in its own module and imports
what it needs when it runs, so that ``netrouter --help`` loads only typer and rich.
"""

from __future__ import annotations

import typer

from netrouter.cli import demo_command, placements, replay, serve, sites, snapshot, watch, whatif
from netrouter.contract.help_style import Command, Group

app = typer.Typer(
    help=(
        "netrouter: places GPU workloads across China's national compute network (东数西算) "
        "at least energy cost, within latency SLOs and PUE caps.\n\n"
        "Start here: 'netrouter demo' runs everything on the 10 national clusters. "
        "'netrouter serve' runs the router; 'sites', 'place', 'queue', 'placements', 'get', "
        "'release' and 'rebalance' talk to a running one; 'whatif' answers what-if questions against a running router "
        "or a saved 'snapshot'; 'replay' runs the real traces under every policy."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    cls=Group,
)

app.command(cls=Command)(serve.serve)
app.add_typer(sites.sites_app, name="sites")
app.command(cls=Command)(placements.place)
app.command(cls=Command)(placements.placements)
app.command(cls=Command)(placements.queue)
app.command(cls=Command)(placements.get)
app.command(cls=Command)(placements.release)
app.command(cls=Command)(placements.rebalance)
app.command("demo", cls=Command)(demo_command.demo)
app.command(cls=Command)(snapshot.snapshot)
app.command(cls=Command)(replay.replay)
app.command(cls=Command)(whatif.whatif)
app.command(cls=Command)(watch.watch)


def main() -> None:
    """Console-script entry point."""
    app()
