"""How a command reaches a router: the TLS and token options, and the client they make."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from netrouter.cli.console import call, fail

if TYPE_CHECKING:
    from netrouter.client.router_client import RouterClient

T = TypeVar("T")

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
        help="CA (PEM) that signed the router's certificate; turns TLS on (default: none, "
        "the system's CAs).",
        show_default=False,
    ),
]
TlsCertOpt = Annotated[
    Path | None,
    typer.Option(
        "--tls-cert",
        envvar="NETROUTER_TLS_CERT",
        help="Client certificate (PEM), for a router that requires one (mTLS; default: none).",
        show_default=False,
    ),
]
TlsKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--tls-key",
        envvar="NETROUTER_TLS_KEY",
        help="The client certificate's key (PEM; default: none).",
        show_default=False,
    ),
]
TokenFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        envvar="NETROUTER_TOKEN_FILE",
        help="File holding the bearer token for a router that requires one "
        f"(default: the token in ${TOKEN_ENV}, else none).",
        show_default=False,
    ),
]

Connect = Callable[[str], "RouterClient"]
"""What a command that talks to a router receives: ``connect(target)`` gives its client."""


def ask(router: RouterClient, request: Callable[[RouterClient], Awaitable[T]]) -> T:
    """Open ``router``, await ``request`` on it and close it; a router error exits 1."""

    async def run() -> T:
        async with router as client:
            return await request(client)

    return call(run())


CLIENT_FLAGS = {
    "target": "--target",
    "tls": "--tls",
    "ca_file": "--tls-ca",
    "cert_file": "--tls-cert",
    "key_file": "--tls-key",
}
"""The client's target and TLS keywords as the CLI spells them: its checks name these
flags."""

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


def reaches_router(command: Callable[..., None]) -> Callable[..., None]:
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
            return router_client(target, tls, tls_ca, tls_cert, tls_key, token_file)

        command(*args, connect=connect, **kwargs)

    parameters = [*kept, *_CONNECTION_OPTIONS]
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    # Typer reads the hints too: the evaluated ones, without ``connect`` (whose client type
    # is imported only when a command runs).
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters} | {
        "return": signature.return_annotation
    }
    return wrapper


def router_client(
    target: str,
    tls: bool,
    ca: Path | None,
    cert: Path | None,
    key: Path | None,
    token_file: Path | None,
) -> RouterClient:
    """A client for the commands that talk to a router, with its TLS files and token.

    The client checks the target and the TLS options itself, naming them by
    :data:`CLIENT_FLAGS`; a mistake exits 2."""
    from netrouter.client.errors import InvalidArgumentError
    from netrouter.client.router_client import RouterClient
    from netrouter.contract.secrets import read_secret

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
    except (ValueError, InvalidArgumentError) as exc:
        raise fail(str(exc), 2) from exc
