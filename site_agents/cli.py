"""``netrouter-agent``: run a site agent, or print one report."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from google.protobuf import json_format

from netrouter.configfile import ConfigFileError
from netrouter.wire import BrokerAddress, parse_mqtt_url
from site_agents.config import SiteConfig, load_site_config
from site_agents.publisher import SiteAgent
from site_agents.report import ReportBuilder

app = typer.Typer(
    help=(
        "netrouter site agent: publishes a data center's accelerators, PUE, electricity price "
        "and latency to the router over MQTT.\n\n"
        "Example: netrouter-agent run --config examples/sites/guian.toml --mqtt mqtt://127.0.0.1:1883"
    ),
    no_args_is_help=True,
    add_completion=False,
)

ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config", "-c", help="Site config TOML (see examples/sites/).", show_default=False
    ),
]


def _load(path: Path) -> SiteConfig:
    try:
        return load_site_config(path)
    except ConfigFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def once(config: ConfigOpt) -> None:
    """Print the report the agent would publish now, as JSON, without publishing."""
    report = ReportBuilder(_load(config)).build()
    typer.echo(
        json_format.MessageToJson(
            report, preserving_proto_field_name=True, indent=2, ensure_ascii=False
        )
    )


@app.command()
def run(
    config: ConfigOpt,
    mqtt: Annotated[
        str, typer.Option(help="Broker URL, mqtt://[user:pass@]HOST:PORT or mqtts:// for TLS.")
    ] = "mqtt://127.0.0.1:1883",
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Publish the site's report every publish.interval_s seconds until SIGTERM/SIGINT.

    Reports are retained (QoS 1) on netrouter/v1/sites/ID/report; the status topic says
    'online', and the broker publishes the last will 'offline' if the agent dies.
    """
    site = _load(config)
    try:
        broker = parse_mqtt_url(mqtt)
    except ValueError as exc:
        typer.echo(f"error: --mqtt: {exc}", err=True)
        raise typer.Exit(2) from exc
    logging.basicConfig(
        level=log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(_run(site, broker))


async def _run(site: SiteConfig, broker: BrokerAddress) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await SiteAgent(site, broker).run(stop)


def main() -> None:
    """Console-script entry point."""
    app()
