"""The options that reach a secured router, and the client they make."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from netrouter.cli.connection import Connect, reaches_router, router_client
from netrouter.cli.embedded_broker import free_port
from tests.helpers.factories import run_cli_async

made: list[str] = []


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @reaches_router
    def ping(target: str = "127.0.0.1:1", *, connect: Connect) -> None:
        made.append(connect(target).target)

    return app


def test_a_command_gets_the_tls_and_token_options() -> None:
    """--tls, --tls-ca, --tls-cert, --tls-key and --token-file appear in its --help."""
    result = CliRunner().invoke(_app(), ["--help"])
    assert result.exit_code == 0
    for flag in ("--tls", "--tls-ca", "--tls-cert", "--tls-key", "--token-file"):
        assert flag in result.output
    assert "--connect" not in result.output


def test_connect_gives_a_client_for_the_target() -> None:
    """The command's connect(target) builds a client for that target."""
    made.clear()
    result = CliRunner().invoke(_app(), ["--target", "10.0.0.1:50051"])
    assert result.exit_code == 0, result.output
    assert made == ["10.0.0.1:50051"]


def test_a_certificate_without_tls_names_the_cli_flags(capsys: pytest.CaptureFixture[str]) -> None:
    """The client's own check refuses a certificate without TLS, calling the options by
    their flags, and the CLI exits 2."""
    with pytest.raises(typer.Exit) as exited:
        router_client("127.0.0.1:1", False, None, Path("c.pem"), Path("k.pem"), None)
    assert exited.value.exit_code == 2
    err = capsys.readouterr().err
    assert "--tls-cert/--tls-key" in err and "--tls or --tls-ca" in err


def test_an_unreadable_ca_names_its_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CA file that is not there exits 2 naming --tls-ca and the path."""
    missing = tmp_path / "ca.pem"
    with pytest.raises(typer.Exit) as exited:
        router_client("127.0.0.1:1", False, missing, None, None, None)
    assert exited.value.exit_code == 2
    assert f"--tls-ca: cannot read {missing}" in capsys.readouterr().err


def test_an_empty_token_file_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty --token-file exits 2 naming the flag and the path."""
    token = tmp_path / "token"
    token.write_text("\n", encoding="utf-8")
    with pytest.raises(typer.Exit) as exited:
        router_client("127.0.0.1:1", False, None, None, None, token)
    assert exited.value.exit_code == 2
    assert f"token file (--token-file): {token} is empty" in capsys.readouterr().err


def test_a_target_without_a_port_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """A target gRPC would dial at 443 exits 2 naming --target and the form it needs."""
    with pytest.raises(typer.Exit) as exited:
        router_client("127.0.0.1", False, None, None, None, None)
    assert exited.value.exit_code == 2
    err = capsys.readouterr().err
    assert "--target: '127.0.0.1' has no port" in err
    assert "HOST:PORT" in err


async def test_a_command_given_a_target_without_a_port_exits_2_at_once() -> None:
    """`sites -t 127.0.0.1` is refused before dialing (exit 2, naming --target) instead of
    trying 127.0.0.1:443 until the call gives up."""
    code, out, err = await run_cli_async("sites", "-t", "127.0.0.1")
    assert code == 2
    assert out == ""
    assert "--target: '127.0.0.1' has no port" in err


async def test_a_router_that_is_not_there_is_named() -> None:
    """With nothing listening, the error names the target and how to start a router."""
    dead = f"127.0.0.1:{free_port()}"
    code, _, err = await run_cli_async("sites", "--target", dead)
    assert code == 1
    assert f"cannot reach a router at {dead}" in err
    assert "netrouter serve" in err
