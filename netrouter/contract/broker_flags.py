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
