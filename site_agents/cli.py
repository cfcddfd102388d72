"""``netrouter-agent``: run a site agent, or print one report."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from google.protobuf import json_format

from netrouter.configfile import ConfigFileError
from netrouter.wire import BrokerAddress, parse_mqtt_url
from site_agents.config import SiteConfig, load_site_config
from site_agents.nvml import NvmlInventory
from site_agents.publisher import SiteAgent
from site_agents.report import ReportBuilder, Sources

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
def check(config: ConfigOpt) -> None:
    """Validate the config and print what every collector sees now.

    A bad config exits with status 2 and names the key and line. With
    ``[inventory] source = "nvml"`` each GPU is listed with its health, or the reason NVML
    is unavailable (the static inventory is then what the agent reports).
    """
    site = _load(config)
    sources = Sources.from_config(site)
    now = time.time()
    typer.echo(f"config: {config} is valid (site {site.site.id}, {site.site.side} side)")
    typer.echo(f"inventory ({site.inventory.source}):")
    if isinstance(sources.inventory, NvmlInventory):
        devices = sources.inventory.devices()
        if devices is None:
            typer.echo(f"  NVML unavailable: {sources.inventory.unavailable_reason}")
        for d in devices or []:
            state = "healthy" if d.healthy else "UNHEALTHY: " + "; ".join(d.problems)
            typer.echo(
                f"  gpu {d.index}: {d.name} ({d.model}) {state}; "
                f"power {_unknown(d.power_draw_w, 'W')} of {_unknown(d.power_limit_w, 'W')}, "
                f"util {_unknown(d.utilization_pct, '%')}, "
                f"memory {_unknown(d.memory_used_mib, 'MiB')} of "
                f"{_unknown(d.memory_total_mib, 'MiB')}, "
                f"ECC {_unknown(d.ecc_uncorrected, '')}, "
                f"retired pages {_unknown(d.retired_pages, '')}, "
                f"other processes {_unknown(d.foreign_processes, '')}"
            )
    for a in sources.inventory.inventory():
        origin = "config" if a.from_static_config else "probed"
        typer.echo(
            f"  {a.model}: {a.total} total, {a.healthy} healthy, {a.in_use_by_others} in use by "
            f"others, {a.power_w:g} W each ({origin})"
        )
    tariff = sources.price.tariff(now)
    typer.echo(
        f"price: {tariff.price_now:g} 元/kWh now ({tariff.timezone}); next 24 h: "
        + ", ".join(f"{p:g}" for p in tariff.next_24h)
    )
    typer.echo(f"pue: {sources.pue.pue():g}")
    for lat in sources.latency.latencies():
        how = "measured" if lat.measured else "configured"
        typer.echo(f"latency {lat.region}: {lat.rtt_ms:g} ms ({how})")


def _unknown(value: float | None, unit: str) -> str:
    if value is None:
        return "unknown"
    return f"{value:g}{(' ' + unit) if unit and unit != '%' else unit}"


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
