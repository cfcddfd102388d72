"""``netrouter``: run the router, talk to it, and run the demo.

The root command and its entry point. Each command lives in its own module and imports
what it needs when it runs, so that ``netrouter --help`` loads only typer and rich.
"""

from __future__ import annotations

import typer

from netrouter.cli import demo_command, placements, replay, serve, sites, snapshot, watch, whatif

app = typer.Typer(
    help=(
        "netrouter: places GPU workloads across China's national compute network (东数西算) "
        "at least energy cost, within latency SLOs and PUE caps.\n\n"
        "Start here: 'netrouter demo' runs everything on the 10 national clusters. "
        "'netrouter serve' runs the router; 'sites', 'place', 'placements', 'get', 'release' and "
        "'rebalance' talk to a running one; 'whatif' answers what-if questions against a running router "
        "or a saved 'snapshot'; 'replay' runs the real traces under every policy."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)

app.command()(serve.serve)
app.add_typer(sites.sites_app, name="sites")
app.command()(placements.place)
app.command()(placements.placements)
app.command()(placements.get)
app.command()(placements.release)
app.command()(placements.rebalance)
app.command("demo")(demo_command.demo)
app.command()(snapshot.snapshot)
app.command()(replay.replay)
app.command()(whatif.whatif)
app.command()(watch.watch)


def main() -> None:
    """Console-script entry point."""
    app()
