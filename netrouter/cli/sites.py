"""``netrouter sites`` and ``netrouter sites remove``: the router's view of every site."""

from __future__ import annotations

from typing import Annotated

import typer

from netrouter.cli.connection import Connect, ask, reaches_router
from netrouter.cli.console import out
from netrouter.cli.options import DEFAULT_TARGET, JsonOpt, TargetOpt
from netrouter.cli.render import sites_table
from netrouter.cli.render_json import print_json

sites_app = typer.Typer(
    help="The router's live view of every site; 'sites remove ID' forgets a site that is gone.",
    no_args_is_help=False,
)


@sites_app.callback(invoke_without_command=True)
@reaches_router
def sites(
    ctx: typer.Context,
    target: TargetOpt = DEFAULT_TARGET,
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """Show the router's live view of every site: up/down and why, PUE, price, free
    capacity, and a 'duplicate agent' mark where two agents report for one site.

    'netrouter sites remove ID' forgets a site that is gone (see its --help)."""
    if ctx.invoked_subcommand is not None:
        return
    views = ask(connect(target), lambda client: client.list_sites())
    if json:
        print_json(out, views)
    else:
        out.print(sites_table(views))


@sites_app.command("remove")
@reaches_router
def sites_remove(
    site_id: Annotated[str, typer.Argument(help="The id of the site to forget.")],
    target: TargetOpt = DEFAULT_TARGET,
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """Forget a site that is gone (a decommissioned data center, a test site, a typo).

    Refused while the site has active placements: release them first, or let failover
    move them (a site whose agent stopped moves its work after [sites] stale_grace_s).

    The removal is durable: the site returns only when an agent publishes a new report
    for it; the broker's retained old one does not bring it back.

    Needs a read-write token where the router requires tokens.
    """
    view = ask(connect(target), lambda client: client.remove_site(site_id))
    if json:
        print_json(out, view)
    else:
        out.print(f"removed site {view.site_id} (it returns when its agent reports again)")
