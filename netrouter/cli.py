"""``netrouter``: run the router, talk to it, and run the demo."""

from __future__ import annotations

import asyncio
import json as json_module
import logging
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from netrouter.client import RouterClient
from netrouter.configfile import ConfigFileError
from netrouter.errors import RouterError
from netrouter.render import place_summary, placements_table, print_json, sites_table
from netrouter.workloads import WorkloadFileError, load_workloads

T = TypeVar("T")

app = typer.Typer(
    help=(
        "netrouter: places GPU workloads across China's national compute network (东数西算) "
        "at least energy cost, within latency SLOs and PUE caps.\n\n"
        "Start here: 'netrouter demo' runs everything on the 10 national clusters. "
        "'netrouter serve' runs the router; 'sites', 'place', 'placements' and 'release' "
        "talk to a running one."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
out = Console()
if not out.is_terminal:
    out.width = 140  # pipes and logs: do not squeeze tables to 80 columns
err = Console(stderr=True)

TargetOpt = Annotated[
    str,
    typer.Option(
        "--target", "-t", help="Router gRPC address HOST:PORT.", envvar="NETROUTER_TARGET"
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")
]
DEFAULT_TARGET = "127.0.0.1:50051"


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _call(coro: Awaitable[T]) -> T:
    async def wrapped() -> T:
        return await coro

    try:
        return asyncio.run(wrapped())
    except RouterError as exc:
        raise _fail(str(exc)) from exc


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json_module.dumps(line, ensure_ascii=False)


def _setup_logging(level: str, *, json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLines()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=level.upper(), handlers=[handler])


@app.command()
def serve(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Router TOML (see examples/router.toml).")
    ] = None,
    mqtt: Annotated[
        str | None, typer.Option(help="Broker URL mqtt://HOST:PORT (overrides config).")
    ] = None,
    listen: Annotated[
        str | None, typer.Option(help="gRPC listen address HOST:PORT (overrides config).")
    ] = None,
    db: Annotated[
        str | None, typer.Option(help="SQLite file for placements (overrides config).")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on this port (overrides config; 0: any)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    log_format: Annotated[
        str, typer.Option(help="'text', or 'json' for one JSON object per line.")
    ] = "text",
) -> None:
    """Run the router: ingest site reports from MQTT and serve the gRPC API until SIGTERM.

    On SIGTERM the health service turns NOT_SERVING first, calls in flight finish (up to the
    grace period), queued placements are committed, then the process exits 0.
    """
    from netrouter.app import RouterApp
    from netrouter.config import load_router_config, serve_settings

    if log_format not in ("text", "json"):
        raise _fail(f"--log-format: 'text' or 'json', got {log_format!r}", 2)
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise _fail(f"--log-level: DEBUG, INFO, WARNING or ERROR, got {log_level!r}", 2)
    try:
        settings = serve_settings(
            load_router_config(config), mqtt=mqtt, listen=listen, db=db, metrics_port=metrics_port
        )
    except (ConfigFileError, ValueError) as exc:
        raise _fail(str(exc), 2) from exc
    _setup_logging(log_level, json_lines=log_format == "json")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with RouterApp(settings) as router_app:
            metrics = (
                f", metrics :{router_app.metrics_port}" if settings.metrics_port is not None else ""
            )
            err.print(
                f"netrouter serving on {router_app.target}, MQTT {settings.mqtt.url}, "
                f"store {settings.db_path}{metrics}"
            )
            await stop.wait()

    _call(run())


@app.command()
def sites(target: TargetOpt = DEFAULT_TARGET, json: JsonOpt = False) -> None:
    """Show the router's live view of every site: up/down, PUE, price, free capacity."""

    async def run() -> Any:
        async with RouterClient(target) as client:
            return await client.list_sites()

    views = _call(run())
    if json:
        print_json(out, views)
    else:
        out.print(sites_table(views))


@app.command()
def place(
    file: Annotated[
        Path,
        typer.Option("--file", "-f", help="Workloads YAML or JSON (see examples/workloads.yaml)."),
    ],
    target: TargetOpt = DEFAULT_TARGET,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; commit nothing.")] = False,
    json: JsonOpt = False,
) -> None:
    """Place the workloads in FILE at least energy cost; print where each went and why."""
    try:
        workloads = load_workloads(file)
    except WorkloadFileError as exc:
        raise _fail(str(exc), 2) from exc

    async def run() -> Any:
        async with RouterClient(target) as client:
            return await client.place(workloads, dry_run=dry_run)

    result = _call(run())
    if json:
        print_json(out, result)
        return
    out.print(placements_table(result.placements))
    if result.unplaced:
        table = Table(title="Unplaced", title_justify="left")
        table.add_column("workload")
        table.add_column("reason", overflow="fold")
        for u in result.unplaced:
            table.add_row(u.workload_id, u.reason)
        out.print(table)
    out.print(place_summary(result))


@app.command()
def placements(
    target: TargetOpt = DEFAULT_TARGET,
    site: Annotated[str, typer.Option(help="Only this site.")] = "",
    state: Annotated[str, typer.Option(help="active, released or all.")] = "active",
    json: JsonOpt = False,
) -> None:
    """List placements (active by default)."""

    async def run() -> Any:
        async with RouterClient(target) as client:
            return await client.list_placements(site_id=site, state=state)

    found = _call(run())
    if json:
        print_json(out, found)
    else:
        out.print(placements_table(found))


@app.command()
def release(
    ids: Annotated[list[str], typer.Argument(help="Placement ids to release (all or none).")],
    target: TargetOpt = DEFAULT_TARGET,
    json: JsonOpt = False,
) -> None:
    """Release placements, freeing their devices."""

    async def run() -> Any:
        async with RouterClient(target) as client:
            return await client.release(ids)

    released = _call(run())
    if json:
        print_json(out, released)
    else:
        out.print(placements_table(released, title="Released"))


@app.command()
def demo(
    mqtt: Annotated[
        str | None,
        typer.Option(help="Use this broker (mqtt://HOST:PORT) instead of an embedded one."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling the traces and origin regions.")] = 7,
    jobs: Annotated[int, typer.Option(help="Alibaba trace jobs in the batch.")] = 300,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Read the full traces from this shared data folder instead of examples/traces."
        ),
    ] = None,
    json: JsonOpt = False,
    log_level: Annotated[
        str, typer.Option(help="Log level for the embedded services.")
    ] = "WARNING",
    snapshot: Annotated[
        Path | None,
        typer.Option(
            help="Also save the router's state after placing (for 'netrouter whatif --snapshot')."
        ),
    ] = None,
) -> None:
    """Run broker, router and 10 site agents of the national clusters; place a trace batch.

    Prints per-site GPUs used, cost per hour and energy, and what the same batch would cost
    if every workload went to its nearest site. Needs nothing installed but this package.
    """
    from netrouter.demo import run_demo
    from netrouter.traces import TraceFiles
    from netrouter.wire import parse_mqtt_url

    _setup_logging(log_level)
    try:
        broker = parse_mqtt_url(mqtt) if mqtt else None
    except ValueError as exc:
        raise _fail(f"--mqtt: {exc}", 2) from exc
    traces = TraceFiles.full(data_dir) if data_dir else None
    with err.status("starting") as status:
        report = _call(
            run_demo(
                mqtt=broker,
                seed=seed,
                jobs=jobs,
                traces=traces,
                progress=lambda m: status.update(m),
                snapshot_path=snapshot,
            )
        )
    if json:
        print_json(out, report)
        return
    _print_demo(report)


def _print_demo(report: Any) -> None:
    table = Table(title="Placement by site (optimizer)", title_justify="left")
    for col in ("site", "side", "PUE", "元/kWh now", "GPUs used", "workloads", "元/h", "kWh"):
        table.add_column(col, justify="left" if col in ("site", "side", "GPUs used") else "right")
    for r in report.rows:
        gpus = ", ".join(f"{n} {m}" for m, n in sorted(r.devices.items())) or "-"
        table.add_row(
            r.site_id,
            r.side,
            f"{r.pue:.2f}",
            f"{r.price_now:.4f}",
            gpus,
            str(r.workloads),
            f"{r.cost_per_hour_yuan:,.2f}",
            f"{r.energy_kwh:,.0f}",
        )
    out.print(table)
    cmp = Table(title="Same batch, two policies", title_justify="left")
    for col in (
        "policy",
        "placed",
        "unplaced",
        "energy cost 元",
        "元/h",
        "energy kWh",
        "CO2 kg",
        "west share",
    ):
        cmp.add_column(col, justify="left" if col == "policy" else "right")
    for name, t in (("netrouter optimizer", report.optimizer), ("nearest site", report.nearest)):
        cmp.add_row(
            name,
            str(t.placed),
            str(t.unplaced),
            f"{t.energy_cost_yuan:,.2f}",
            f"{t.cost_per_hour_yuan:,.2f}",
            f"{t.energy_kwh:,.0f}",
            f"{t.carbon_kg:,.0f}",
            f"{t.west_share:.0%}",
        )
    out.print(cmp)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.workloads.items()))
    out.print(
        f"Workloads: {kinds}. Optimizer saves {report.saving:.1%} of the nearest-site energy cost "
        f"(solve {report.solve_status}, gap {report.solve_gap:.4%}, {report.solve_wall_s:.2f} s); "
        f"demo took {report.elapsed_s:.1f} s."
    )


def main() -> None:
    """Console-script entry point."""
    app()
