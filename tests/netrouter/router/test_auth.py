"""gRPC security on a real server (port 0): TLS, mTLS, bearer tokens with roles, size limit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from netrouter.client.errors import (
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)
from netrouter.client.router_client import RouterClient
from netrouter.router.auth import TokenAuthInterceptor, TokenTable, load_server_tls
from netrouter.router.state import SiteRegistry
from netrouter.v1 import router_pb2 as pb
from netrouter.v1 import router_pb2_grpc as pb_grpc
from tests.helpers.factories import Served, report_of, run_cli, serve_router, site_config, workload
from tests.helpers.security import READER, WRITER

TOKENS = TokenTable.of({READER: ("dashboard", "read-only"), WRITER: ("planner", "read-write")})


def _registry() -> SiteRegistry:
    registry = SiteRegistry()
    registry.apply_report(report_of(site_config("solo", price=0.4)))
    return registry


@contextlib.asynccontextmanager
async def _served(tmp_path: Path, **options: Any) -> AsyncIterator[Served]:
    async with serve_router(_registry(), tmp_path / "router.db", **options) as served:
        yield served


def _tls(pki: dict[str, str], *, client_ca: bool = False) -> grpc.ServerCredentials:
    names = {"cert": "tls_cert", "key": "tls_key", "client_ca": "client_ca"}
    return load_server_tls(
        cert_file=pki["server_cert"],
        key_file=pki["server_key"],
        client_ca_file=pki["ca"] if client_ca else None,
        names=names,
    ).credentials()


def _client(target: str, **options: Any) -> RouterClient:
    """A client that gives up at once (no retries), so refusals show quickly."""
    return RouterClient(target, retries=0, timeout_s=5.0, **options)


async def test_tls_works_with_the_ca_and_fails_without_it(
    tmp_path: Path, pki: dict[str, str]
) -> None:
    """A client that trusts the private CA is served; one that checks the system CAs, and a
    plaintext one, are not."""
    async with _served(tmp_path, credentials=_tls(pki)) as served:
        async with _client(served.target, ca_file=pki["ca"]) as client:
            assert [s.site_id for s in await client.list_sites()] == ["solo"]
        async with _client(served.target, tls=True) as client:
            with pytest.raises(UnavailableError):
                await client.list_sites()
        async with _client(served.target) as client:
            with pytest.raises(UnavailableError):
                await client.list_sites()


async def test_mtls_refuses_a_client_without_a_certificate(
    tmp_path: Path, pki: dict[str, str]
) -> None:
    """With a client CA configured, the handshake needs a certificate that CA signed."""
    async with _served(tmp_path, credentials=_tls(pki, client_ca=True)) as served:
        async with _client(served.target, ca_file=pki["ca"]) as client:
            with pytest.raises(UnavailableError):
                await client.list_sites()
        mine = {"cert_file": pki["client_cert"], "key_file": pki["client_key"]}
        async with _client(served.target, ca_file=pki["ca"], **mine) as client:
            assert [s.site_id for s in await client.list_sites()] == ["solo"]


async def test_missing_wrong_or_malformed_token_is_unauthenticated(tmp_path: Path) -> None:
    """No token, an unknown one or a non-Bearer header: UNAUTHENTICATED saying what is
    missing, and nothing is placed."""
    async with _served(tmp_path, interceptors=[TokenAuthInterceptor(TOKENS)]) as served:
        async with _client(served.target) as client:
            with pytest.raises(UnauthenticatedError, match="Bearer TOKEN"):
                await client.place([workload("w1")])
            with pytest.raises(UnauthenticatedError, match="bearer token"):
                await anext(client.watch())
        async with _client(served.target, token="x" * 32) as client:
            with pytest.raises(UnauthenticatedError, match="unknown bearer token"):
                await client.list_sites()
        async with grpc.aio.insecure_channel(served.target) as channel:
            stub = pb_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.ListSites(
                    pb.ListSitesRequest(), metadata=(("authorization", f"Basic {WRITER}"),)
                )
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "Bearer TOKEN" in (info.value.details() or "")
        assert served.router.active_count == 0


async def test_read_only_token_reads_but_may_not_change_anything(tmp_path: Path) -> None:
    """A read-only token lists and watches; Place, Release and Rebalance answer
    PERMISSION_DENIED naming the role needed."""
    async with _served(tmp_path, interceptors=[TokenAuthInterceptor(TOKENS)]) as served:
        async with _client(served.target, token=WRITER) as writer:
            placed = (await writer.place([workload("w1", demands={"H100": 4})])).placements
        async with _client(served.target, token=READER) as reader:
            assert [s.site_id for s in await reader.list_sites()] == ["solo"]
            assert [p.workload_id for p in await reader.list_placements()] == ["w1"]
            event = await asyncio.wait_for(anext(reader.watch(from_start=True)), 10)
            assert (event.kind, event.placement.workload_id) == ("placed", "w1")
            with pytest.raises(PermissionDeniedError, match="Place needs a read-write token"):
                await reader.place([workload("w2")])
            with pytest.raises(PermissionDeniedError, match="'dashboard' is read-only"):
                await reader.release([placed[0].placement_id])
            with pytest.raises(PermissionDeniedError, match="Rebalance"):
                await reader.rebalance()
            with pytest.raises(PermissionDeniedError, match="DrainSite needs a read-write"):
                await reader.drain_site("solo")
            with pytest.raises(PermissionDeniedError, match="UndrainSite needs a read-write"):
                await reader.undrain_site("solo")
            assert not (await reader.list_sites())[0].drained
        assert served.router.active_count == 1


async def test_read_write_token_places_releases_and_rebalances(tmp_path: Path) -> None:
    """A read-write token may call every RPC."""
    async with _served(tmp_path, interceptors=[TokenAuthInterceptor(TOKENS)]) as served:
        async with _client(served.target, token=WRITER) as writer:
            placed = (await writer.place([workload("w1", demands={"H100": 4})])).placements
            assert list((await writer.rebalance()).moves) == []
            released = await writer.release([placed[0].placement_id])
            assert [p.workload_id for p in released] == ["w1"]
            assert (await writer.drain_site("solo")).site.drained
            assert not (await writer.undrain_site("solo")).drained
        assert served.router.active_count == 0


async def test_health_and_reflection_need_no_token(tmp_path: Path) -> None:
    """Balancers and grpcurl reach health and reflection without credentials."""
    async with (
        _served(tmp_path, interceptors=[TokenAuthInterceptor(TOKENS)]) as served,
        grpc.aio.insecure_channel(served.target) as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        async for response in reflection.ServerReflectionInfo(iter([request])):
            names = {s.name for s in response.list_services_response.service}
            assert "netrouter.v1.Router" in names


async def test_request_above_the_size_limit_is_resource_exhausted(tmp_path: Path) -> None:
    """A batch larger than the server's receive limit is refused before it is decoded."""
    async with (
        _served(tmp_path, max_receive_bytes=4096) as served,
        _client(served.target) as client,
    ):
        with pytest.raises(ResourceExhaustedError):
            await client.place([workload(f"w{i}") for i in range(200)], dry_run=True)
        result = await client.place([workload("small", demands={"H100": 1})], dry_run=True)
        assert len(result.placements) == 1


async def test_cli_commands_dial_tls_with_a_client_certificate_and_token(
    tmp_path: Path, pki: dict[str, str]
) -> None:
    """`netrouter sites` with --tls-ca/--tls-cert/--tls-key/--token-file reaches a router that
    requires all of them."""
    token_file = tmp_path / "token"
    token_file.write_text(READER + "\n")
    options = {
        "--tls-ca": pki["ca"],
        "--tls-cert": pki["client_cert"],
        "--tls-key": pki["client_key"],
        "--token-file": str(token_file),
    }
    args = [arg for pair in options.items() for arg in pair]
    async with _served(
        tmp_path,
        credentials=_tls(pki, client_ca=True),
        interceptors=[TokenAuthInterceptor(TOKENS)],
    ) as served:
        result = await asyncio.to_thread(
            run_cli, "netrouter", "sites", "-t", served.target, *args, "--json"
        )
    assert result.returncode == 0, result.stderr
    assert '"site_id": "solo"' in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-ca", "missing.pem"], "--tls-ca: cannot read missing.pem"),
        (["--tls-cert", "c.pem", "--tls-key", "k.pem"], "needs TLS (--tls or --tls-ca)"),
        (["--tls", "--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
    ],
)
def test_cli_client_options_name_the_flags(args: list[str], message: str) -> None:
    """The client commands check their TLS files before dialing, with the CLI's flag names
    in the error (exit code 2)."""
    result = run_cli("netrouter", "sites", "-t", "127.0.0.1:1", *args)
    assert result.returncode == 2
    assert message in result.stderr
