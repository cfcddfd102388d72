"""``netrouter serve``: run the router until SIGTERM."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from netrouter.cli.console import err, fail
from netrouter.cli.logs import setup_logging
from netrouter.contract import broker_flags
from netrouter.contract.secrets import PASSWORD_ENV


def serve(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Router config TOML, every key optional (example: examples/router.toml; "
            "default: none, built-in settings).",
        ),
    ] = None,
    mqtt: Annotated[str | None, broker_flags.url("mqtt")] = None,
    mqtt_username: Annotated[str | None, broker_flags.username("mqtt")] = None,
    mqtt_password_file: Annotated[str | None, broker_flags.password_file("mqtt")] = None,
    mqtt_tls_ca: Annotated[str | None, broker_flags.tls_ca("mqtt")] = None,
    mqtt_tls_cert: Annotated[str | None, broker_flags.tls_cert("mqtt")] = None,
    mqtt_tls_key: Annotated[str | None, broker_flags.tls_key("mqtt")] = None,
    topic_prefix: Annotated[
        str | None,
        typer.Option(
            help="Root of the site topics, shared with the agents "
            "(default: the config's [mqtt] topic_prefix, else netrouter/v1)."
        ),
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            help="gRPC listen address HOST:PORT "
            "(default: the config's [grpc] listen, else 127.0.0.1:50051)."
        ),
    ] = None,
    tls_cert: Annotated[
        str | None,
        typer.Option(
            help="Serve gRPC over TLS with this certificate chain (PEM) "
            "(default: the config's [grpc] tls_cert, else none: plaintext)."
        ),
    ] = None,
    tls_key: Annotated[
        str | None,
        typer.Option(
            help="The server certificate's key (PEM) (default: the config's [grpc] tls_key)."
        ),
    ] = None,
    tls_client_ca: Annotated[
        str | None,
        typer.Option(
            help="Require client certificates signed by this CA (mTLS) "
            "(default: the config's [grpc] client_ca, else none: no client certificates)."
        ),
    ] = None,
    tokens_file: Annotated[
        str | None,
        typer.Option(
            help="Require bearer tokens, with roles read-only and read-write, from this TOML "
            'file (format: README, "Security") '
            "(default: the config's [grpc] tokens_file, else none: no tokens)."
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="SQLite file for placements (default: the config's [store] path, "
            "else netrouter.db in the working directory)."
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve Prometheus metrics on this TCP port; 0: any free port, printed at start "
            "(default: the config's [metrics] port, else no metrics).",
        ),
    ] = None,
    no_metrics: Annotated[
        bool, typer.Option("--no-metrics", help="Serve no metrics, whatever [metrics] port says.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    log_format: Annotated[
        str, typer.Option(help="'text', or 'json' for one JSON object per line.")
    ] = "text",
) -> None:
    """Run the router: ingest site reports from MQTT and serve the gRPC API until SIGTERM.

    Security (README "Security"): --mqtt mqtts://... with --mqtt-username and a password
    file log in to the broker over TLS; --tls-cert/--tls-key serve gRPC over TLS,
    --tls-client-ca also requires client certificates, and --tokens-file requires a bearer
    token on every call (Place, Release, Rebalance and the 'sites' commands that change a
    site need a read-write one).

    One router per port and per store: if another process listens on the port, or holds the
    SQLite file (its lock file FILE.lock names the holder's pid and host), it exits 2.

    On SIGTERM the health service turns NOT_SERVING first, calls in flight finish (up to the
    grace period), queued placements are committed, then the process exits 0.
    """
    import asyncio
    import signal

    from netrouter.client.errors import ListenError, RouterError, StoreLockedError
    from netrouter.contract.configfile import ConfigFileError
    from netrouter.router.app import RouterApp
    from netrouter.router.config import load_router_config, serve_settings

    if log_format not in ("text", "json"):
        raise fail(f"--log-format: 'text' or 'json', got {log_format!r}", 2)
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise fail(f"--log-level: DEBUG, INFO, WARNING or ERROR, got {log_level!r}", 2)
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
            no_metrics=no_metrics,
        )
    except (ConfigFileError, ValueError) as exc:
        raise fail(str(exc), 2) from exc
    setup_logging(log_level, json_lines=log_format == "json")

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
        raise fail(str(exc), 2) from exc
    except RouterError as exc:
        raise fail(str(exc)) from exc
