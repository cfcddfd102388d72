"""The router's config file and flags: the [grpc] security settings and the tokens file."""

from __future__ import annotations

from pathlib import Path

import pytest

from netrouter.contract.configfile import ConfigFileError
from netrouter.router.config import load_router_config, serve_settings
from tests.helpers.security import READER, WRITER, router_toml, tokens_file


def test_router_config_reads_grpc_tls_tokens_and_limit(tmp_path: Path, pki: dict[str, str]) -> None:
    """[grpc] tls_cert/tls_key/client_ca/tokens_file/max_receive_mib reach the settings."""
    settings = serve_settings(load_router_config(router_toml(tmp_path, pki)))
    assert settings.grpc_tls is not None and settings.grpc_tls.client_ca is not None
    assert settings.tokens is not None
    principal = settings.tokens.lookup(READER)
    assert principal is not None and principal.role == "read-only"
    assert settings.tokens.lookup(WRITER) is None
    assert settings.max_receive_bytes == 2 * 2**20


@pytest.mark.parametrize(
    ("keys", "flags", "message"),
    [
        ({"tls_key": ""}, {}, "grpc.tls_key: TLS needs both"),
        ({"tls_cert": "", "tls_key": ""}, {}, "grpc.client_ca: client certificates need TLS"),
        ({}, {"tls_key": "CLIENT_KEY"}, "not a certificate and its private key"),
        ({}, {"tls_cert": "/nonexistent/cert.pem"}, "--tls-cert: cannot read /nonexistent"),
        ({"client_ca": "SERVER_KEY"}, {}, "grpc.client_ca"),
    ],
)
def test_bad_grpc_tls_settings_name_the_key_or_flag(
    tmp_path: Path, pki: dict[str, str], keys: dict[str, str], flags: dict[str, str], message: str
) -> None:
    """Missing halves, mismatched key and unreadable files are refused by key or flag."""
    files = {"CLIENT_KEY": pki["client_key"], "SERVER_KEY": pki["server_key"]}
    keys = {k: files.get(v, v) for k, v in keys.items()}
    flags = {k: files.get(v, v) for k, v in flags.items()}
    with pytest.raises(ValueError, match=message):
        serve_settings(load_router_config(router_toml(tmp_path, pki, **keys)), **flags)


@pytest.mark.parametrize(
    ("role", "token", "key", "line"),
    [("admin", READER, "tokens[0].role", 3), ("read-only", "short", "tokens[0].token", 4)],
)
def test_bad_tokens_file_names_key_and_line(
    tmp_path: Path, role: str, token: str, key: str, line: int
) -> None:
    """An unknown role or a token under 16 characters is refused with its key and line."""
    path = tokens_file(tmp_path, role=role, token=token)
    with pytest.raises(ConfigFileError) as info:
        serve_settings(load_router_config(None), tokens_file=str(path))
    assert (info.value.key, info.value.line) == (key, line)


def test_rebalance_section_sets_the_move_cost_and_minimum(tmp_path: Path) -> None:
    """[rebalance] restart_h and min_saving_yuan reach the router; a negative one is refused
    by key."""
    path = tmp_path / "router.toml"
    path.write_text("[rebalance]\nrestart_h = 0.5\nmin_saving_yuan = 3.0\n")
    router = serve_settings(load_router_config(path)).router
    assert router.move_cost.restart_h == 0.5 and router.min_saving_yuan == 3.0
    path.write_text("[rebalance]\nrestart_h = -1\n")
    with pytest.raises(ConfigFileError, match=r"rebalance\.restart_h"):
        load_router_config(path)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("[metrix]\nport = 0\n", 1, "metrix: unknown section (did you mean 'metrics'?)"),
        (
            "[mqtt]\nurl = 'mqtt://h:1'\n\n[[network.link]]\na = 'jjj'\n",
            4,
            "network.link: unknown key (did you mean 'links'?)",
        ),
        ("[metrics]\nprot = 9464\n", 2, "metrics.prot: unknown key (did you mean 'port'?)"),
        (
            "[nothing_like_it]\nx = 1\n",
            1,
            "nothing_like_it: unknown section; known sections: mqtt, grpc, store, sites",
        ),
    ],
)
def test_unknown_sections_and_keys_are_named_with_the_one_meant(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    """As in a site config: a misspelt section or key, at its line, with the nearest name."""
    path = tmp_path / "router.toml"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as info:
        load_router_config(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: {message}")
