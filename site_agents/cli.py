"""``netrouter-agent``: run a site agent, or print one report."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netrouter.contract import broker_flags
from netrouter.contract.help_style import Command, Group
from netrouter.contract.secrets import PASSWORD_ENV

if TYPE_CHECKING:
    # Each command imports what it uses when it runs: '--help' loads only typer.
    from netrouter.contract.broker import BrokerAddress
    from netrouter.v1 import site_report_pb2 as rpb
    from site_agents.collectors import Inventory, PueMean, PueReading
    from site_agents.config import SiteConfig
    from site_agents.metrics import MetricsServer
    from site_agents.publisher import SiteAgent


app = typer.Typer(
    help=(
        "netrouter site agent: publishes a data center's accelerators, PUE, electricity price "
        "and latency to the router over MQTT.\n\n"
        "Example: netrouter-agent run --config examples/sites/guian.toml --mqtt mqtt://127.0.0.1:1883"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    cls=Group,
)

ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config", "-c", help="Site config TOML (examples in examples/sites/).", show_default=False
    ),
]


def _load(path: Path) -> SiteConfig:
    from netrouter.contract.configfile import ConfigFileError
    from site_agents.config import load_site_config

    try:
        return load_site_config(path)
    except ConfigFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command(cls=Command)
def once(config: ConfigOpt) -> None:
    """Print the report the agent would publish now, as JSON, without publishing.

    Exits 1 when a collector has nothing to report (e.g. no fresh PUE and no fallback).
    """
    from google.protobuf import json_format

    from site_agents.collectors import CollectorError
    from site_agents.report import ReportBuilder

    site = _load(config)
    builder = ReportBuilder(site)
    try:
        report = builder.build()
    except CollectorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for line in _node_lines(builder.sources.inventory):
        typer.echo(line.strip(), err=True)
    warning = pue_cap_warning(site, _pue_of(report))
    if warning:
        typer.echo(warning, err=True)
    typer.echo(
        json_format.MessageToJson(
            report,
            preserving_proto_field_name=True,
            indent=2,
            ensure_ascii=False,
            always_print_fields_with_no_presence=True,  # a 0 is shown, not left out
        )
    )


@app.command(cls=Command)
def check(config: ConfigOpt) -> None:
    """Validate the config and print what every collector sees now.

    A bad config exits with status 2 and names the key and line. With
    `[inventory] source = "nvml"` each GPU is listed with its health, or the reason NVML
    is unavailable (the static inventory is then what the agent reports). With
    `source = "prometheus"` each node's devices per model are listed, or the failing query.
    """
    from site_agents.collectors import CollectorError
    from site_agents.nvml import NvmlInventory
    from site_agents.prometheus import PrometheusInventory, QueryError
    from site_agents.report import Sources

    site = _load(config)
    try:
        broker = broker_address(site)
    except ValueError as exc:
        typer.echo(f"error: {config}: broker: {exc}", err=True)
        raise typer.Exit(2) from exc
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
                f"util {_unknown(d.utilisation_pct, '%')}, "
                f"memory {_unknown(d.memory_used_mib, 'MiB')} of "
                f"{_unknown(d.memory_total_mib, 'MiB')}, "
                f"ECC {_unknown(d.ecc_uncorrected, '')}, "
                f"retired pages {_unknown(d.retired_pages, '')}, "
                f"other processes {_unknown(d.foreign_processes, '')}"
            )
    if isinstance(sources.inventory, PrometheusInventory):
        try:
            for entry in sources.inventory.read_nodes():
                typer.echo(f"  {entry.describe()}")
        except QueryError as exc:
            typer.echo(f"  Prometheus: {exc}")
    inventory = sources.inventory.inventory()
    for line in _node_lines(sources.inventory):
        typer.echo(line)
    shares = sources.inventory.node_shares if isinstance(sources.inventory, NvmlInventory) else []
    refined = {share.model for share in shares if share.configured is not None}
    for a in inventory:
        origin = "config"
        if isinstance(sources.inventory, PrometheusInventory) and not a.from_static_config:
            origin = "Prometheus"
        elif not a.from_static_config:
            origin = "config, refined by this node" if a.model in refined else "this node"
        typer.echo(
            f"  {a.model}: {a.total} total, {a.healthy} healthy, {a.in_use_by_others} in use by "
            f"others, {a.power_w:g} W each ({origin})" + _shape_text(a)
        )
    if isinstance(sources.inventory, PrometheusInventory) and (
        site.inventory.prometheus.sees_placements
    ):
        running = sources.inventory.placements()
        typer.echo(
            "  netrouter's placements: "
            + (
                "not read (a query failed or Prometheus is down)"
                if running is None
                else ", ".join(f"{r.placement_id} ({r.devices} {r.model})" for r in running)
                or "none running"
            )
        )
    tariff = sources.price.tariff(now)
    typer.echo(
        f"price: {tariff.price_now:g} 元/kWh now, band {tariff.band_now} ({tariff.timezone}); "
        "next 24 h: " + ", ".join(f"{p:g}" for p in tariff.next_24h)
    )
    pue: PueReading | None = None
    try:
        pue = sources.pue.reading(now)
        typer.echo(
            f"pue: {pue.value:g} (from {pue.source}, {pue.age_s:.0f} s old); "
            f"{_describe_mean(pue.mean)}"
        )
    except CollectorError as exc:
        typer.echo(f"pue: NONE: {exc} (the agent will not publish until it has one)")
    warning = pue_cap_warning(site, pue)
    if warning:
        typer.echo(warning)
    for lat in sources.latency.latencies():
        how = "measured" if lat.measured else "configured"
        typer.echo(f"latency {lat.region}: {lat.rtt_ms:g} ms ({how})")
    typer.echo(
        f"broker: {broker.url}"
        + (", with a password" if broker.password else "")
        + (f", CA {broker.ca_file}" if broker.ca_file else "")
        + (f", client certificate {broker.cert_file}" if broker.cert_file else "")
    )
    typer.echo(f"metrics: {_describe_metrics(site.metrics.address, site.metrics.port)}")


def _describe_metrics(address: str, port: int | None) -> str:
    if port is None:
        return "off"
    if port == 0:
        return f"http://{address}:PORT/metrics, PORT any free port (run logs it)"
    return f"http://{address}:{port}/metrics"


def _pue_of(report: rpb.SiteReport) -> PueReading:
    """The PUE reading a report was built from."""
    from site_agents.collectors import PueMean, PueReading

    mean = PueMean(
        value=report.pue_mean,
        window_s=report.pue_mean_window_s,
        covered_s=report.pue_mean_covered_s,
    )
    return PueReading(value=report.pue, source=report.pue_source, age_s=report.pue_age_s, mean=mean)


def _hours(seconds: float) -> str:
    """A span as an operator reads it: seconds, minutes, or hours from 2 h on."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.4g} h"


def _describe_mean(mean: PueMean) -> str:
    if not mean.value:
        return f"sustained: no reading in the last {_hours(mean.window_s)} yet"
    covered = (
        "all of it" if mean.covered_s >= mean.window_s else f"{_hours(mean.covered_s)} of it so far"
    )
    return (
        f"sustained {mean.value:.4g} (mean over the last {_hours(mean.window_s)}, "
        f"readings covering {covered})"
    )


def pue_cap_warning(site: SiteConfig, reading: PueReading | None) -> str | None:
    """A WARNING line when the PUE now, the configured PUE or the sustained PUE is above
    the hub's cap (``[site] pue_cap``), or None when all are within it (or no cap)."""
    cap = site.site.pue_cap
    if not cap:
        return None
    over: list[str] = []
    if reading is not None and reading.value > cap:
        over.append(f"now {reading.value:g} (from {reading.source})")
    configured = site.pue.value
    if (
        configured is not None
        and configured > cap
        and (reading is None or reading.source != "config")
    ):
        over.append(f"configured value {configured:g}")
    if reading is not None and reading.mean.value > cap:
        over.append(f"sustained {reading.mean.value:.4g} over {_hours(reading.mean.window_s)}")
    if not over:
        return None
    return (
        f"WARNING: PUE above the hub's cap {cap:g} ([site] pue_cap): {', '.join(over)}. "
        "The router gives no new work to a site whose sustained PUE is above its cap."
    )


def _shape_text(a: Inventory) -> str:
    """How the free devices sit on nodes, as ``netrouter sites`` shows it: ``; free
    nodes: 2 whole of 8, 1×3`` (nothing where the shape is not reported)."""
    from netrouter.contract.site_report import free_nodes_text

    if not a.node_size:
        return ""
    return f"; free nodes: {free_nodes_text(a.node_size, a.nodes_by_free, a.domains_by_whole)}"


def _node_lines(inventory: object) -> list[str]:
    """What the devices NVML sees on this node make of the configured site, per model."""
    from site_agents.nvml import NvmlInventory

    if not isinstance(inventory, NvmlInventory):
        return []
    return [f"  node (NVML): {share.describe()}" for share in inventory.node_shares]


def _unknown(value: float | None, unit: str) -> str:
    if value is None:
        return "unknown"
    return f"{value:g}{(' ' + unit) if unit and unit != '%' else unit}"


def broker_address(
    site: SiteConfig,
    *,
    url: str | None = None,
    username: str | None = None,
    password_file: str | None = None,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
) -> BrokerAddress:
    """The broker to use: command-line values over ``[broker]`` in the config.

    The password comes from the URL, else ``password_file`` given on the command line, else
    the NETROUTER_MQTT_PASSWORD environment variable, else ``[broker] password_file``.
    Raises ``ValueError`` naming what is wrong.
    """
    from netrouter.contract import broker

    return broker.broker_address(
        site.broker,
        section_name="broker",
        url=url,
        username=username,
        password_file=password_file,
        env_password=os.environ.get(PASSWORD_ENV),
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
    )


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@app.command(cls=Command)
def run(
    config: ConfigOpt,
    mqtt: Annotated[str | None, broker_flags.url("broker")] = None,
    mqtt_username: Annotated[str | None, broker_flags.username("broker")] = None,
    mqtt_password_file: Annotated[str | None, broker_flags.password_file("broker")] = None,
    tls_ca: Annotated[str | None, broker_flags.tls_ca("broker", "--tls-ca")] = None,
    tls_cert: Annotated[str | None, broker_flags.tls_cert("broker", "--tls-cert")] = None,
    tls_key: Annotated[str | None, broker_flags.tls_key("broker", "--tls-key")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve Prometheus metrics on this TCP port; 0: any free port, logged at start "
            "(default: the config's [metrics] port, else no metrics).",
        ),
    ] = None,
    no_metrics: Annotated[
        bool, typer.Option("--no-metrics", help="Serve no metrics, whatever [metrics] port says.")
    ] = False,
    topic_prefix: Annotated[
        str | None,
        typer.Option(
            help="Root of the site topics, shared with the router "
            "(default: the config's [broker] topic_prefix, else netrouter/v1)."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Log every publish: the same as --log-level DEBUG."),
    ] = False,
) -> None:
    """Publish the site's report every [publish] interval_s seconds until SIGTERM or SIGINT.

    Reports are retained (QoS 1) on netrouter/v1/sites/ID/report (under another prefix
    with --topic-prefix); a capacity, health, price-band or running-placements change is
    published at once.
    The status topic says 'online BOOT_ID', and the broker publishes the last will
    'offline BOOT_ID' if the agent dies; an 'offline' this agent did not send is answered
    with 'online'. A broker outage never stops the agent: it notices within seconds and
    reconnects with backoff (at most 5 s between tries). SIGTERM publishes 'offline' and
    exits 0.

    Every [publish] summary_interval_s (default 300 s) one INFO line says how many reports
    went out and the last error; each publish is a DEBUG line (-v).
    """
    import asyncio

    from netrouter.contract.metrics_server import chosen_port
    from netrouter.contract.topics import Topics
    from site_agents.metrics import AgentMetrics
    from site_agents.publisher import SiteAgent

    site = _load(config)
    try:
        topics = Topics(topic_prefix or site.broker.topic_prefix)
    except ValueError as exc:
        typer.echo(f"error: --topic-prefix: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        broker = broker_address(
            site,
            url=mqtt,
            username=mqtt_username,
            password_file=mqtt_password_file,
            ca_file=tls_ca,
            cert_file=tls_cert,
            key_file=tls_key,
        )
    except ValueError as exc:
        typer.echo(f"error: broker: {exc}", err=True)
        raise typer.Exit(2) from exc
    if log_level.upper() not in LOG_LEVELS:
        typer.echo(
            f"error: --log-level: {log_level!r} is not one of {', '.join(LOG_LEVELS)}", err=True
        )
        raise typer.Exit(2)
    logging.basicConfig(
        level="DEBUG" if verbose else log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        port = chosen_port(metrics_port, no_metrics, site.metrics.port)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    metrics = AgentMetrics()
    server: MetricsServer | None = None
    if port is not None:
        try:
            server = metrics.serve(port, site.metrics.address)
        except OSError as exc:
            typer.echo(
                f"error: metrics: cannot listen on {site.metrics.address}:{port}: {exc.strerror}",
                err=True,
            )
            raise typer.Exit(2) from exc
        logging.getLogger(__name__).info(
            "metrics on http://%s:%d/metrics", site.metrics.address, server.port
        )
    agent = SiteAgent(site, broker, metrics=metrics, topics=topics)
    try:
        asyncio.run(_run(agent))
    finally:
        if server is not None:
            server.close()
        close = getattr(agent.builder.sources.inventory, "close", None)
        if callable(close):
            close()


async def _run(agent: SiteAgent) -> None:
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await agent.run(stop)


def main() -> None:
    """Console-script entry point."""
    app()
