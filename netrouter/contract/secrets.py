"""Secrets an entry point reads: the broker password's environment variable, and passwords
or tokens kept in files. Light on purpose: the CLIs name it in their ``--help``."""

from __future__ import annotations

from pathlib import Path

PASSWORD_ENV = "NETROUTER_MQTT_PASSWORD"
"""The environment variable an entry point may read the broker password from."""


def read_secret(path: str, what: str) -> str:
    """A password or token kept in a file (surrounding whitespace dropped).

    Raises ``ValueError`` naming ``what`` (the kind of file and its key or flag) and the path
    when the file cannot be read or is empty.
    """
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {path}: {exc.strerror}") from exc
    if not secret:
        raise ValueError(f"{what}: {path} is empty")
    return secret
