"""Tokens and gRPC security settings for the router's security tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

READER = "r" * 32
WRITER = "w" * 32


def router_toml(tmp_path: Path, pki: dict[str, str], **grpc_keys: Any) -> Path:
    """A router config whose [grpc] section turns on TLS, client certificates and tokens."""
    keys = {
        "tls_cert": pki["server_cert"],
        "tls_key": pki["server_key"],
        "client_ca": pki["ca"],
        "tokens_file": str(tokens_file(tmp_path)),
        "max_receive_mib": 2,
        **grpc_keys,
    }
    lines = ["[grpc]"] + [
        f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in keys.items()
    ]
    path = tmp_path / "router.toml"
    path.write_text("\n".join(lines).replace("'", '"') + "\n")
    return path


def tokens_file(tmp_path: Path, role: str = "read-only", token: str = READER) -> Path:
    """A tokens file with one token of ``role``."""
    path = tmp_path / "tokens.toml"
    path.write_text(f'[[tokens]]\nname = "dashboard"\nrole = "{role}"\ntoken = "{token}"\n')
    path.chmod(0o600)
    return path
