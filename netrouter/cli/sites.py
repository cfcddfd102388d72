"""``netrouter sites`` and ``netrouter sites remove``: the router's view of every site."""

from __future__ import annotations

from typing import Annotated

import typer

from netrouter.cli.connection import Connect, ask, reaches_router
from netrouter.cli.console import out, show
from netrouter.cli.options import DEFAULT_TARGET, JsonOpt, TargetOpt
from netrouter.cli.render import sites_table
from netrouter.contract.help_style import Command, Group

sites_app = typer.Typer(no_args_is_help=False, cls=Group)  # its help: the callback's


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
    capacity, and a 'duplicate agent' mark where two agents report for one site. A
    drained site shows 'drained' in the up column.

    'netrouter sites drain ID' takes a site out of service and 'sites undrain ID' puts it
    back; 'netrouter sites remove ID' forgets a site that is gone (see their --help)."""
    if ctx.invoked_subcommand is not None:
        return
    views = ask(connect(target), lambda client: client.list_sites())
    show(views, json, lambda v: out.print(sites_table(v)))


@sites_app.command("remove", cls=Command)
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
    show(
        view,
        json,
        lambda v: out.print(f"removed site {v.site_id} (it returns when its agent reports again)"),
    )


@sites_app.command("drain", cls=Command)
@reaches_router
def sites_drain(
    site_id: Annotated[str, typer.Argument(help="The id of the site to drain.")],
    target: TargetOpt = DEFAULT_TARGET,
    move: Annotated[
        bool,
        typer.Option(
            "--move",
            help="Also move the site's running work elsewhere now, in one batch (default: "
            "it stays until it ends or a rebalance moves it).",
        ),
    ] = False,
    reason: Annotated[
        str,
        typer.Option(help="Why, shown with the site (default: none), e.g. 'maintenance 12-07'."),
    ] = "",
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """Take a site out of service (a maintenance window): it takes no new work and shows
    as drained until 'netrouter sites undrain ID'. The drain is durable: it survives a
    router restart.

    Its running work stays where it is (a 'rebalance' moves it off where it can), unless
    --move: then it is re-placed elsewhere now, as one batch; work that fits nowhere else
    stays, and the answer lists it. Draining a drained site changes nothing but --move.

    Needs a read-write token where the router requires tokens.
    """
    from netrouter.cli.render import print_drain

    result = ask(
        connect(target),
        lambda client: client.drain_site(site_id, move_running=move, reason=reason),
    )
    show(result, json, lambda v: print_drain(out, v, moving=move))


@sites_app.command("undrain", cls=Command)
@reaches_router
def sites_undrain(
    site_id: Annotated[str, typer.Argument(help="The id of the drained site.")],
    target: TargetOpt = DEFAULT_TARGET,
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """Put a drained site back in service: it takes new work again at once (work moved off
    it stays where it went; a 'rebalance' may bring some back). A site that is not drained
    is refused, saying so.

    Needs a read-write token where the router requires tokens.
    """
    view = ask(connect(target), lambda client: client.undrain_site(site_id))
    show(view, json, lambda v: out.print(f"site {v.site_id} undrained: it takes new work again"))
