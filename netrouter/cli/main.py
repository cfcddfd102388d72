"""``netrouter``: run the router, talk to it, and run the demo."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json as json_module
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from netrouter.cli.render import (
    moves_table,
    place_summary,
    placements_table,
    print_json,
    rebalance_summary,
    sites_table,
)
from netrouter.client.errors import InvalidArgumentError, ListenError, RouterError, StoreLockedError
from netrouter.client.router_client import RouterClient
from netrouter.client.workload_file import WorkloadFileError, load_workloads
from netrouter.contract.configfile import ConfigFileError
from netrouter.contract.wire import PASSWORD_ENV, read_secret

T = TypeVar("T")

app = typer.Typer(
    help=(
        "netrouter: places GPU workloads across China's national compute network (东数西算) "
        "at least energy cost, within latency SLOs and PUE caps.\n\n"
        "Start here: 'netrouter demo' runs everything on the 10 national clusters. "
        "'netrouter serve' runs the router; 'sites', 'place', 'placements', 'release' and "
        "'rebalance' talk to a running one; 'whatif' answers what-if questions against a running router "
        "or a saved 'snapshot'; 'replay' runs the real traces under every policy."
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
TOKEN_ENV = "NETROUTER_TOKEN"
TlsOpt = Annotated[
    bool,
    typer.Option(
        "--tls",
        envvar="NETROUTER_TLS",
        help="Dial the router over TLS, checking its certificate against the system's CAs.",
    ),
]
TlsCaOpt = Annotated[
    Path | None,
    typer.Option(
        "--tls-ca",
        envvar="NETROUTER_TLS_CA",
        help="CA (PEM) that signed the router's certificate; turns TLS on.",
        show_default=False,
    ),
]
TlsCertOpt = Annotated[
    Path | None,
    typer.Option(
        "--tls-cert",
        envvar="NETROUTER_TLS_CERT",
        help="Client certificate (PEM), for a router that requires one (mTLS).",
        show_default=False,
    ),
]
TlsKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--tls-key",
        envvar="NETROUTER_TLS_KEY",
        help="The client certificate's key (PEM).",
        show_default=False,
    ),
]
TokenFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        envvar="NETROUTER_TOKEN_FILE",
        help=f"File holding the bearer token for a router that requires one (or set {TOKEN_ENV}).",
        show_default=False,
    ),
]


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


Connect = Callable[[str], RouterClient]
"""What a command that talks to a router receives: ``connect(target)`` gives its client."""

_CONNECTION_OPTIONS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
    for name, kind, default in (
        ("tls", TlsOpt, False),
        ("tls_ca", TlsCaOpt, None),
        ("tls_cert", TlsCertOpt, None),
        ("tls_key", TlsKeyOpt, None),
        ("token_file", TokenFileOpt, None),
    )
]


def _reaches_router(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the options that reach a secured router (--tls, --tls-ca,
    --tls-cert, --tls-key, --token-file), passed to it as one ``connect`` argument."""
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "connect"]

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        tls: bool,
        tls_ca: Path | None,
        tls_cert: Path | None,
        tls_key: Path | None,
        token_file: Path | None,
        **kwargs: Any,
    ) -> None:
        def connect(target: str) -> RouterClient:
            return _client(target, tls, tls_ca, tls_cert, tls_key, token_file)

        command(*args, connect=connect, **kwargs)

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*kept, *_CONNECTION_OPTIONS]
    )
    return wrapper


CLIENT_FLAGS = {
    "tls": "--tls",
    "ca_file": "--tls-ca",
    "cert_file": "--tls-cert",
    "key_file": "--tls-key",
}


def _client(
    target: str,
    tls: bool,
    ca: Path | None,
    cert: Path | None,
    key: Path | None,
    token_file: Path | None,
) -> RouterClient:
    """A client for the commands that talk to a router, with its TLS files and token."""
    try:
        token = (
            read_secret(str(token_file), "token file (--token-file)")
            if token_file
            else os.environ.get(TOKEN_ENV)
        )
        return RouterClient(
            target,
            token=token,
            tls=True if tls else None,
            ca_file=ca,
            cert_file=cert,
            key_file=key,
            option_names=CLIENT_FLAGS,
        )
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc


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
        str | None,
        typer.Option(
            help="Broker URL, mqtt://HOST:PORT or mqtts://HOST:PORT for TLS "
            "[default: [mqtt] url, else mqtt://127.0.0.1:1883]."
        ),
    ] = None,
    mqtt_username: Annotated[
        str | None, typer.Option(help="Broker username [default: [mqtt] username].")
    ] = None,
    mqtt_password_file: Annotated[
        str | None,
        typer.Option(
            help=f"File holding the broker password (or set {PASSWORD_ENV}) "
            "[default: [mqtt] password_file]."
        ),
    ] = None,
    mqtt_tls_ca: Annotated[
        str | None,
        typer.Option(help="CA that signed the broker's certificate [default: [mqtt] ca_file]."),
    ] = None,
    mqtt_tls_cert: Annotated[
        str | None,
        typer.Option(help="Client certificate (PEM) for the broker [default: [mqtt] cert_file]."),
    ] = None,
    mqtt_tls_key: Annotated[
        str | None,
        typer.Option(help="That certificate's key (PEM) [default: [mqtt] key_file]."),
    ] = None,
    topic_prefix: Annotated[
        str | None,
        typer.Option(
            help="Root of the site topics, shared with the agents "
            "[default: [mqtt] topic_prefix, else netrouter/v1]."
        ),
    ] = None,
    listen: Annotated[
        str | None, typer.Option(help="gRPC listen address HOST:PORT (overrides config).")
    ] = None,
    tls_cert: Annotated[
        str | None,
        typer.Option(
            help="Serve gRPC over TLS with this certificate chain (PEM) "
            "[default: [grpc] tls_cert; none: plaintext]."
        ),
    ] = None,
    tls_key: Annotated[
        str | None,
        typer.Option(help="The server certificate's key (PEM) [default: [grpc] tls_key]."),
    ] = None,
    tls_client_ca: Annotated[
        str | None,
        typer.Option(
            help="Require client certificates signed by this CA (mTLS) [default: [grpc] client_ca]."
        ),
    ] = None,
    tokens_file: Annotated[
        str | None,
        typer.Option(
            help="Require bearer tokens, with roles read-only and read-write, from this TOML "
            "file (see netrouter/auth.py) [default: [grpc] tokens_file; none: no tokens]."
        ),
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

    Security (README "Security"): --mqtt mqtts://... with --mqtt-username and a password
    file log in to the broker over TLS; --tls-cert/--tls-key serve gRPC over TLS,
    --tls-client-ca also requires client certificates, and --tokens-file requires a bearer
    token on every call (Place, Release and Rebalance need a read-write one).

    One router per port and per store: if another process listens on the port, or holds the
    SQLite file (its lock file FILE.lock names the holder's pid and host), it exits 2.

    On SIGTERM the health service turns NOT_SERVING first, calls in flight finish (up to the
    grace period), queued placements are committed, then the process exits 0.
    """
    from netrouter.router.app import RouterApp
    from netrouter.router.config import load_router_config, serve_settings

    if log_format not in ("text", "json"):
        raise _fail(f"--log-format: 'text' or 'json', got {log_format!r}", 2)
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise _fail(f"--log-level: DEBUG, INFO, WARNING or ERROR, got {log_level!r}", 2)
    try:
        settings = serve_settings(
            load_router_config(config),
            mqtt=mqtt,
            mqtt_username=mqtt_username,
            mqtt_password_file=mqtt_password_file,
            mqtt_password=os.environ.get(PASSWORD_ENV),
            mqtt_tls_ca=mqtt_tls_ca,
            mqtt_tls_cert=mqtt_tls_cert,
            mqtt_tls_key=mqtt_tls_key,
            topic_prefix=topic_prefix,
            listen=listen,
            tls_cert=tls_cert,
            tls_key=tls_key,
            client_ca=tls_client_ca,
            tokens_file=tokens_file,
            db=db,
            metrics_port=metrics_port,
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
            security = ", ".join(
                part
                for part, on in (
                    ("TLS", settings.grpc_tls is not None),
                    (
                        "client certificates",
                        bool(settings.grpc_tls and settings.grpc_tls.client_ca),
                    ),
                    ("tokens", settings.tokens is not None),
                )
                if on
            )
            err.print(
                f"netrouter serving on {router_app.target} ({security or 'plaintext, no tokens'}), "
                f"MQTT {settings.mqtt.url} ({settings.topics.prefix}), "
                f"store {settings.db_path}{metrics}"
            )
            await stop.wait()

    try:
        asyncio.run(run())
    except (ListenError, StoreLockedError) as exc:
        # Another router has the port or the store: refused at start, as a bad flag is.
        raise _fail(str(exc), 2) from exc
    except RouterError as exc:
        raise _fail(str(exc)) from exc


sites_app = typer.Typer(
    help="The router's live view of every site; 'sites remove ID' forgets a site that is gone.",
    no_args_is_help=False,
)
app.add_typer(sites_app, name="sites")


@sites_app.callback(invoke_without_command=True)
@_reaches_router
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
    router = connect(target)

    async def run() -> Any:
        async with router as client:
            return await client.list_sites()

    views = _call(run())
    if json:
        print_json(out, views)
    else:
        out.print(sites_table(views))


@sites_app.command("remove")
@_reaches_router
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
    router = connect(target)

    async def run() -> Any:
        async with router as client:
            return await client.remove_site(site_id)

    view = _call(run())
    if json:
        print_json(out, view)
    else:
        out.print(f"removed site {view.site_id} (it returns when its agent reports again)")


@app.command()
@_reaches_router
def place(
    file: Annotated[
        Path,
        typer.Option("--file", "-f", help="Workloads YAML or JSON (see examples/workloads.yaml)."),
    ],
    target: TargetOpt = DEFAULT_TARGET,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; commit nothing.")] = False,
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """Place the workloads in FILE at least energy cost; print where each went and why."""
    try:
        workloads = load_workloads(file)
    except WorkloadFileError as exc:
        raise _fail(str(exc), 2) from exc

    router = connect(target)

    async def run() -> Any:
        async with router as client:
            try:
                return await client.place(workloads, dry_run=dry_run)
            except InvalidArgumentError as exc:
                # The router checks what only it knows (its regions): name the file too.
                raise _fail(f"{file}: {exc}", 2) from exc

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
@_reaches_router
def placements(
    target: TargetOpt = DEFAULT_TARGET,
    site: Annotated[str, typer.Option(help="Only this site.")] = "",
    state: Annotated[str, typer.Option(help="active, released or all.")] = "active",
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """List placements (active by default)."""

    router = connect(target)

    async def run() -> Any:
        async with router as client:
            return await client.list_placements(site_id=site, state=state)

    found = _call(run())
    if json:
        print_json(out, found)
    else:
        out.print(placements_table(found))


@app.command()
@_reaches_router
def release(
    ids: Annotated[list[str], typer.Argument(help="Placement ids to release (all or none).")],
    target: TargetOpt = DEFAULT_TARGET,
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """Release placements, freeing their devices."""

    router = connect(target)

    async def run() -> Any:
        async with router as client:
            return await client.release(ids)

    released = _call(run())
    if json:
        print_json(out, released)
    else:
        out.print(placements_table(released, title="Released"))


@app.command()
@_reaches_router
def rebalance(
    target: TargetOpt = DEFAULT_TARGET,
    commit: Annotated[
        bool, typer.Option("--commit", help="Make the moves (default: only propose them).")
    ] = False,
    max_moves: Annotated[int, typer.Option(help="At most this many moves (0: no cap).")] = 0,
    min_saving: Annotated[
        float, typer.Option(help="Only moves that each save at least this many 元.")
    ] = 0.0,
    json: JsonOpt = False,
    *,
    connect: Connect,
) -> None:
    """Re-optimise running work: the moves that save money, and moves off sites over their
    hub's PUE cap (whatever they save), each with its reason. A dry run unless --commit."""

    router = connect(target)

    async def run() -> Any:
        async with router as client:
            return await client.rebalance(
                commit=commit, max_moves=max_moves, min_saving_yuan=min_saving
            )

    result = _call(run())
    if json:
        print_json(out, result)
        return
    out.print(moves_table(result))
    out.print(rebalance_summary(result))


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
    from netrouter.cli.demo import run_demo
    from netrouter.contract.wire import parse_mqtt_url
    from netrouter.planning.traces import TraceFiles

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


@app.command()
@_reaches_router
def snapshot(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write (JSON; binary if it ends .pb).")
    ],
    target: TargetOpt = DEFAULT_TARGET,
    *,
    connect: Connect,
) -> None:
    """Save a running router's whole state (sites, reports, active work, links) to a file.

    Use it for offline what-ifs: 'netrouter whatif SCENARIO --snapshot FILE'.
    """
    from netrouter.planning.whatif import save_snapshot

    router = connect(target)

    async def run() -> Any:
        async with router as client:
            return await client.snapshot()

    state = _call(run())
    try:
        save_snapshot(state, output)
    except OSError as exc:
        raise _fail(f"{output}: cannot write: {exc.strerror}") from exc
    err.print(
        f"saved {len(state.site_reports)} sites and {len(state.placements)} active placements "
        f"to {output}",
        highlight=False,
    )


@app.command()
def replay(
    trace: Annotated[
        str,
        typer.Option(
            help="Which trace to replay: alibaba-openb (batch), azure-llm (inference) or both."
        ),
    ] = "both",
    hours: Annotated[
        float,
        typer.Option(
            help="Simulated hours (from the start of the trace's busiest window).",
            min=0.25,
            max=168,
        ),
    ] = 24.0,
    policy: Annotated[
        str,
        typer.Option(help="all, or one of optimizer, nearest, cheapest-first, spread."),
    ] = "all",
    period_min: Annotated[
        float, typer.Option("--period-min", help="Minutes between decisions (divides 60).")
    ] = 15.0,
    load: Annotated[
        float,
        typer.Option(
            help="Scale the traces so the busiest step needs this share of the free devices.",
            min=0.01,
            max=2.0,
        ),
    ] = 0.85,
    seed: Annotated[int, typer.Option(help="Seed for the origin regions.")] = 7,
    start: Annotated[
        str, typer.Option(help="Local start time of the replay (sets the tariffs' hours).")
    ] = "2023-11-16T00:00:00+08:00",
    time_limit: Annotated[float, typer.Option(help="Seconds per optimizer solve.", min=0.1)] = 2.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Read the full traces from this shared data folder instead of the slices in "
            "examples/traces."
        ),
    ] = None,
    json: JsonOpt = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write PNG plots of the replay here.")
    ] = None,
) -> None:
    """Replay the real traces over the 10 national clusters: the value report.

    Batch jobs arrive as in the Alibaba GPU trace (with --data-dir: the pod list where a
    third of the pods need given GPU types), inference replicas follow the Azure LLM trace's
    token rate; every policy places the same arrivals, step by step, at the sites'
    time-of-use prices. Prints each policy's electricity cost, energy, carbon, SLO violations
    and unplaced work, their ratios to the optimizer, and the hindsight lower bound with the
    optimizer's gap to it.

    Example: netrouter replay --trace both --hours 24 --data-dir ../shared/data --plot out/
    """
    from netrouter.planning.arrivals import TRACES
    from netrouter.planning.replay import POLICIES, run_replay
    from netrouter.planning.traces import EXAMPLES, TraceFiles
    from solver import SolverConfig

    if trace not in TRACES:
        raise _fail(f"--trace must be one of {', '.join(TRACES)}", 2)
    if policy != "all" and policy not in POLICIES:
        raise _fail(f"--policy must be all or one of {', '.join(POLICIES)}", 2)
    if period_min <= 0 or 60.0 % period_min:
        raise _fail("--period-min must divide 60 (5, 10, 15, 20, 30 or 60)", 2)
    files = (
        TraceFiles.full(data_dir, pods="openb_pod_list_gpuspec33.csv")
        if data_dir
        else TraceFiles.bundled(EXAMPLES)
    )
    paths = (files.alibaba_pods, files.azure_conv, files.azure_code)
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise _fail(f"trace file not found: {missing[0]}", 2)
    solver = SolverConfig(time_limit_s=time_limit, relative_gap_limit=1e-3, explain_max_workloads=0)
    try:
        with err.status("reading the traces") as status:
            report = run_replay(
                trace=trace,
                hours=hours,
                policies=POLICIES if policy == "all" else (policy,),
                period_min=period_min,
                seed=seed,
                load=load,
                start=start,
                sites_dir=EXAMPLES / "sites",
                files=files,
                solver=solver,
                progress=status.update,
            )
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    if json:
        exclude = {"policies": {"__all__": {"cost_per_step"}}}
        out.print_json(report.model_dump_json(exclude=exclude))
    else:
        _print_replay(report)
    if plot is not None:
        from netrouter.cli.plots import write_replay_plots

        written = write_replay_plots(report, plot)
        err.print(f"wrote {len(written)} plots to {plot}", highlight=False)


def _print_replay(report: Any) -> None:
    jobs = ", ".join(f"{n:,} {kind}" for kind, n in sorted(report.jobs.items()))
    out.print(
        f"[bold]Replay[/] of {report.trace} over {report.hours:g} h from {report.start} "
        f"({report.steps} steps of {report.period_min:g} min): {jobs}; batch pods ×"
        f"{report.training_copies}, inference tokens ×{report.inference_scale:.0f} (load "
        f"{report.load:g})",
        highlight=False,
    )
    table = Table(title="Policies on the same arrivals", title_justify="left")
    cols = [
        "policy", "cost 元", "energy kWh", "carbon kg", "unplaced", "SLO viol.", "moves",
        "penalty 元", "cost+penalty", "vs optimizer", "gap to bound", "west energy",
    ]  # fmt: skip
    for i, c in enumerate(cols):
        table.add_column(c, justify="left" if i == 0 else "right")
    for name, r in report.policies.items():
        ratio = report.ratios.get(name, {}).get("objective")
        table.add_row(
            name,
            f"{r.cost:,.0f}",
            f"{r.energy_kwh:,.0f}",
            f"{r.carbon_kg:,.0f}",
            f"{r.unplaced:,}" + (f" ({r.evicted:,} evicted)" if r.evicted else ""),
            f"{r.slo_violations:,}",
            f"{r.migrations:,}",
            f"{r.penalty:,.0f}",
            f"{r.objective:,.0f}",
            "-" if ratio is None else f"{ratio:.3f}×",
            f"{100 * r.gap_to_bound:.2f}%",
            f"{100 * r.west_energy_share:.0f}%",
        )
    out.print(table)
    gap = "" if report.gap is None else f"; the optimizer is within {100 * report.gap:.2f}% of it"
    out.print(
        f"Hindsight lower bound (each step's relaxation, migrations free): "
        f"{report.hindsight_bound:,.0f} 元{gap}. {report.wall_s:.1f} s.",
        highlight=False,
    )


@app.command()
@_reaches_router
def whatif(
    scenarios: Annotated[
        list[Path],
        typer.Argument(
            help="Scenario files (TOML or YAML; see examples/scenarios/). Each is solved "
            "against the same baseline.",
            show_default=False,
        ),
    ],
    target: Annotated[
        str | None,
        typer.Option(
            "--target", "-t", help="Ask this running router (HOST:PORT).", show_default=False
        ),
    ] = None,
    snapshot_file: Annotated[
        Path | None,
        typer.Option(
            "--snapshot",
            "-s",
            help="Use a saved state instead ('netrouter snapshot', or 'netrouter demo --snapshot').",
        ),
    ] = None,
    json: JsonOpt = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write PNG plots for each scenario here.")
    ] = None,
    html_file: Annotated[
        Path | None,
        typer.Option("--html", help="Write one self-contained HTML report (tables and plots)."),
    ] = None,
    time_limit: Annotated[
        float, typer.Option(help="Seconds per solve (baseline and each scenario).", min=0.1)
    ] = 5.0,
    show_moves: Annotated[int, typer.Option(help="Moves listed per scenario.", min=0)] = 15,
    *,
    connect: Connect,
) -> None:
    """What if a site fails, a price rises, a PUE cap tightens, a link is cut, demand doubles?

    Solves the current state (the baseline) and each scenario of it with the same solver and
    prints them side by side: cost per hour and per day, energy, carbon, the east/west split,
    unplaced work and SLO violations, then per scenario the workloads that move (from where
    to where, and why). Nothing is committed.

    Example: netrouter whatif examples/scenarios/guian-outage.toml --snapshot state.json
    """
    from dataclasses import replace as dc_replace

    from netrouter.client.scenario import load_scenario
    from netrouter.client.world import ScenarioError
    from netrouter.planning.whatif import (
        DEFAULT_SOLVER,
        SnapshotFileError,
        load_snapshot,
        run_whatif,
    )

    if (target is None) == (snapshot_file is None):
        raise _fail("give exactly one of --target HOST:PORT and --snapshot FILE", 2)
    try:
        loaded = [load_scenario(p) for p in scenarios]
    except ConfigFileError as exc:
        raise _fail(str(exc), 2) from exc
    config = dc_replace(DEFAULT_SOLVER, time_limit_s=time_limit)
    with err.status("solving the baseline") as status:

        def progress(name: str) -> None:
            status.update(f"solving {name}")

        if snapshot_file is not None:
            try:
                state = load_snapshot(snapshot_file)
                report = run_whatif(state, loaded, config=config, progress=progress)
            except (SnapshotFileError, ScenarioError) as exc:
                raise _fail(str(exc), 2) from exc
        else:
            assert target is not None
            router = connect(target)

            async def ask() -> Any:
                async with router as client:
                    status.update(f"{target} is solving the baseline and {len(loaded)} scenario(s)")
                    return await client.what_if(loaded, time_limit_s=time_limit)

            try:
                report = _call(ask())
            except ScenarioError as exc:
                raise _fail(str(exc), 2) from exc
    if json:
        out.print_json(report.model_dump_json())
    else:
        _print_whatif(report, show_moves)
    if plot is not None or html_file is not None:
        from netrouter.cli.plots import render, write_html, write_plots

        images = render(report)
        if plot is not None:
            paths = write_plots(report, plot, images)
            err.print(f"wrote {len(paths)} plots to {plot}", highlight=False)
        if html_file is not None:
            write_html(report, html_file, images)
            err.print(f"wrote {html_file}", highlight=False)


def _print_whatif(report: Any, show_moves: int) -> None:
    from netrouter.cli.plots import summary_rows

    headers, rows = summary_rows(report)
    table = Table(title="Baseline and scenarios, side by side", title_justify="left")
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    out.print(table)
    for s in report.scenarios:
        d = s.diff
        title = f"{s.name}: {s.description}" if s.description else s.name
        out.print(
            f"[bold]{title}[/]: cost/day {d.cost_per_day_yuan:+,.2f} 元, "
            f"energy {d.energy_kwh:+,.1f} kWh, carbon {d.carbon_kg:+,.1f} kg, "
            f"west share {100 * d.west_share_delta:+.1f} pts, {d.moved} moved, "
            f"{d.unplaced:+d} unplaced, {d.added} added, {d.removed} removed",
            highlight=False,
        )
        if d.flows:
            flows = Table(show_header=True, box=None, padding=(0, 2))
            for col in ("from", "to", "workloads"):
                flows.add_column(col, justify="right" if col == "workloads" else "left")
            for f in d.flows:
                flows.add_row(
                    f.from_site or "(left out)", f.to_site or "(left out)", str(f.workloads)
                )
            out.print(flows)
        if d.moves and show_moves:
            moves = Table(show_header=True, box=None, padding=(0, 2))
            for col in ("workload", "from", "to", "why"):
                moves.add_column(col)
            for m in d.moves[:show_moves]:
                moves.add_row(m.workload_id, m.from_site or "-", m.to_site or "-", m.reason)
            out.print(moves)
            if len(d.moves) > show_moves:
                out.print(f"  … {len(d.moves) - show_moves} more (--show-moves, --json)")


def main() -> None:
    """Console-script entry point."""
    app()
