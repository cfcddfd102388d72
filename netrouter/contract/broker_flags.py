"""The broker flags both programs take (``netrouter serve`` and ``netrouter-agent run``),
worded once; ``section`` is the config section their defaults come from."""

from __future__ import annotations

from typing import Any

import typer

from netrouter.contract.secrets import PASSWORD_ENV


def url(section: str) -> Any:
    """``--mqtt``: the broker's URL."""
    return typer.Option(
        help="Broker URL, mqtt://HOST:PORT or mqtts://HOST:PORT for TLS "
        f"(default: the config's [{section}] url, else mqtt://127.0.0.1:1883)."
    )


def username(section: str) -> Any:
    """``--mqtt-username``."""
    return typer.Option(
        help=f"Broker username (default: the config's [{section}] username, else none)."
    )


def password_file(section: str) -> Any:
    """``--mqtt-password-file``: never the password itself on the command line."""
    return typer.Option(
        help=f"File holding the broker password (default: the password in ${PASSWORD_ENV}, "
        f"else the config's [{section}] password_file, else none)."
    )


def tls_ca(section: str, *aliases: str) -> Any:
    """``--mqtt-tls-ca``: the CA that signed the broker's certificate."""
    return typer.Option(
        "--mqtt-tls-ca",
        *aliases,
        help="CA bundle (PEM) that signed the broker's certificate "
        f"(default: the config's [{section}] ca_file, else the system's CAs).",
    )


def tls_cert(section: str, *aliases: str) -> Any:
    """``--mqtt-tls-cert``: a client certificate for a broker that asks for one."""
    return typer.Option(
        "--mqtt-tls-cert",
        *aliases,
        help="Client certificate (PEM), for a broker that asks for one "
        f"(default: the config's [{section}] cert_file, else none).",
    )


def tls_key(section: str, *aliases: str) -> Any:
    """``--mqtt-tls-key``: that certificate's key."""
    return typer.Option(
        "--mqtt-tls-key",
        *aliases,
        help=f"The client certificate's key (PEM) (default: the config's [{section}] key_file, "
        "else none).",
    )
