"""The client library against real gRPC servers on port 0: typed errors, retries on
UNAVAILABLE, deadlines, tokens, and the blocking twin."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from netrouter.client import convert
from netrouter.client.errors import (
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RpcError,
    UnavailableError,
)
from netrouter.client.router_client import RouterClient, SyncRouterClient
from netrouter.client.types import PlacementEvent
from netrouter.contract.rpc import WATCH_POSITION_KEY
from netrouter.router.core import Router
from netrouter.router.service import start_server
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from netrouter.v1 import router_pb2 as pb
from netrouter.v1 import router_pb2_grpc as pb_grpc
from tests.helpers.factories import placement, report_of, site_config, workload


@dataclass
class _Scripted(pb_grpc.RouterServicer):
    """A Router service that fails ListSites with ``failures`` in turn, then answers empty;
    it records every call's metadata and can hold a call until ``release`` is set."""

    failures: list[grpc.StatusCode] = field(default_factory=list)
    watch_failure: grpc.StatusCode = grpc.StatusCode.PERMISSION_DENIED
    hold: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    metadata: list[dict[str, str]] = field(default_factory=list)

    async def ListSites(
        self, request: pb.ListSitesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSitesResponse:
        self.metadata.append({k: str(v) for k, v in context.invocation_metadata() or ()})
        if self.hold:
            await self.release.wait()
        if self.failures:
            await context.abort(self.failures.pop(0), "scripted failure")
        return pb.ListSitesResponse()

    async def WatchPlacements(
        self, request: pb.WatchPlacementsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.PlacementEvent]:
        await context.abort(self.watch_failure, "not for you")
        yield pb.PlacementEvent()  # unreachable: abort raises; makes this a stream


@dataclass
class _Server:
    servicer: _Scripted
    target: str


@pytest.fixture
async def scripted() -> AsyncIterator[_Server]:
    """A scripted Router service on a free port."""
    servicer = _Scripted()
    server = grpc.aio.server()
    pb_grpc.add_RouterServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield _Server(servicer, f"127.0.0.1:{port}")
    finally:
        servicer.release.set()
        await server.stop(None)


def _client(target: str, **options: Any) -> RouterClient:
    """A client that retries at once, so the retry tests stay short."""
    return RouterClient(target, backoff_initial_s=0.01, backoff_max_s=0.02, **options)


async def test_a_status_with_a_class_is_raised_as_that_class(scripted: _Server) -> None:
    """NOT_FOUND from the router is a ``NotFoundError`` carrying the router's details."""
    scripted.servicer.failures = [grpc.StatusCode.NOT_FOUND]
    async with _client(scripted.target) as client:
        with pytest.raises(NotFoundError, match="scripted failure"):
            await client.list_sites()
    assert len(scripted.servicer.metadata) == 1, "only UNAVAILABLE is retried"


async def test_a_status_without_a_class_is_an_rpc_error_naming_it(scripted: _Server) -> None:
    """DATA_LOSS has no class of its own: an ``RpcError`` says which status it was."""
    scripted.servicer.failures = [grpc.StatusCode.DATA_LOSS]
    async with _client(scripted.target) as client:
        with pytest.raises(RpcError) as info:
            await client.list_sites()
    assert info.value.code == grpc.StatusCode.DATA_LOSS
    assert str(info.value) == "DATA_LOSS: scripted failure"


async def test_unavailable_from_a_connected_router_is_retried_until_it_answers(
    scripted: _Server,
) -> None:
    """Two UNAVAILABLE answers, then success: the call succeeds on its third attempt."""
    scripted.servicer.failures = [grpc.StatusCode.UNAVAILABLE] * 2
    async with _client(scripted.target, retries=5) as client:
        assert await client.list_sites() == []
    assert len(scripted.servicer.metadata) == 3


async def test_unavailable_past_the_retries_is_the_routers_own_error(scripted: _Server) -> None:
    """With the retries spent, the router's UNAVAILABLE is raised with its own details,
    not as a router that cannot be reached."""
    scripted.servicer.failures = [grpc.StatusCode.UNAVAILABLE] * 3
    async with _client(scripted.target, retries=1) as client:
        with pytest.raises(UnavailableError) as info:
            await client.list_sites()
    assert str(info.value) == "scripted failure"
    assert len(scripted.servicer.metadata) == 2


async def test_a_call_past_its_deadline_is_deadline_exceeded(scripted: _Server) -> None:
    """A router that does not answer within ``timeout_s`` fails the call DEADLINE_EXCEEDED."""
    scripted.servicer.hold = True
    async with _client(scripted.target, timeout_s=0.2) as client:
        with pytest.raises(RpcError) as info:
            await client.list_sites()
    assert info.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_the_token_goes_with_every_call_as_a_bearer(scripted: _Server) -> None:
    """``token`` is sent as ``authorization: Bearer TOKEN`` metadata."""
    async with _client(scripted.target, token=" s3cret ") as client:
        await client.list_sites()
    assert scripted.servicer.metadata[0]["authorization"] == "Bearer s3cret"


def test_a_token_with_a_space_is_refused_before_dialing() -> None:
    """A token that cannot be a bearer token raises ``ValueError`` at construction."""
    with pytest.raises(ValueError, match="token: must be non-empty printable ASCII"):
        RouterClient("127.0.0.1:1", token="two words")


async def test_a_watch_refused_is_raised_as_its_typed_error(scripted: _Server) -> None:
    """A watch stream ended with PERMISSION_DENIED raises ``PermissionDeniedError``."""
    async with _client(scripted.target) as client:
        with pytest.raises(PermissionDeniedError, match="not for you"):
            async for _ in client.watch():
                pass


def _free_target() -> str:
    """``127.0.0.1:PORT`` with nothing listening there."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


async def test_a_watch_with_no_router_there_gives_up_as_a_call_does() -> None:
    """Nothing listening: the watch retries as often as a call would, then names the
    target, instead of retrying silently forever."""
    target = _free_target()
    async with _client(target, retries=2) as client:
        with pytest.raises(UnavailableError) as info:
            async with asyncio.timeout(20):
                async for _ in client.watch():
                    pass
    assert f"cannot reach a router at {target}" in str(info.value)
    assert "netrouter serve" in str(info.value)


@dataclass
class _Flaky(pb_grpc.RouterServicer):
    """A watch that delivers event 1, breaks, is refused UNAVAILABLE ``refusals`` times,
    then delivers event 2; it records each request's ``after_event_id``."""

    refusals: int
    asked: list[int] = field(default_factory=list)

    async def WatchPlacements(
        self, request: pb.WatchPlacementsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.PlacementEvent]:
        self.asked.append(request.after_event_id)
        calls = len(self.asked)
        if 1 < calls <= 1 + self.refusals:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        await context.send_initial_metadata(((WATCH_POSITION_KEY, str(request.after_event_id)),))
        event_id = 1 if calls == 1 else 2
        yield convert.event_to_pb(
            PlacementEvent(
                event_id=event_id,
                kind="placed",
                placement=placement(f"p{event_id}"),
                from_site_id="",
                at=1000.0,
            )
        )
        if calls == 1:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "stopping")
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "done")


async def test_an_established_watch_reconnects_past_the_retries() -> None:
    """Once the stream is up, breaks are retried for as long as they last (more than
    ``retries``), each resuming after the last event delivered."""
    servicer = _Flaky(refusals=4)
    server = grpc.aio.server()
    pb_grpc.add_RouterServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    seen: list[int] = []
    try:
        async with _client(f"127.0.0.1:{port}", retries=1) as client:
            with pytest.raises(PermissionDeniedError, match="done"):
                async with asyncio.timeout(20):
                    async for event in client.watch():
                        seen.append(event.event_id)
    finally:
        await server.stop(None)
    assert seen == [1, 2]
    assert servicer.asked == [0, 1, 1, 1, 1, 1]


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("127.0.0.1", "'127.0.0.1' has no port"),
        ("router.example", "'router.example' has no port"),
        ("127.0.0.1:", "'127.0.0.1:' has no port after ':'"),
        ("", "empty"),
        ("  ", "empty"),
        ("[::1]", "'[::1]' has no port"),
        ("::1", "an IPv6 host goes in brackets"),
        (":50051", "has no host before ':50051'"),
        ("127.0.0.1:http", "the port must be a number in 1..65535, got 'http'"),
        ("127.0.0.1:70000", "the port must be a number in 1..65535, got '70000'"),
        ("127.0.0.1:0", "got '0'"),
        ("127.0.0.1:50051/", "got '50051/'"),
        (" 127.0.0.1:50051", "has a space in it"),
        ("dns:///127.0.0.1", "'dns:///127.0.0.1' has no port"),
        ("dns:localhost", "'dns:localhost' has no port"),
        ("ipv4:127.0.0.1:1,127.0.0.2", "'ipv4:127.0.0.1:1,127.0.0.2' has no port"),
        ("unix:", "names no socket"),
    ],
)
def test_a_target_that_is_not_host_and_port_is_refused_before_dialing(
    target: str, why: str
) -> None:
    """gRPC would dial 443 for a host without a port: the client refuses such a target,
    and a malformed one, at construction, naming ``target`` and the form it needs."""
    with pytest.raises(InvalidArgumentError) as info:
        RouterClient(target)
    assert info.value.field == "target"
    assert why in info.value.message
    assert "HOST:PORT, for example 127.0.0.1:50051" in info.value.message
    with pytest.raises(InvalidArgumentError, match=r"^--target: "):
        RouterClient(target, option_names={"target": "--target"})


@pytest.mark.parametrize(
    "target",
    [
        "127.0.0.1:50051",
        "localhost:50051",
        "router.example:443",
        "[::1]:50051",
        "dns:///localhost:50051",
        "dns://8.8.8.8/router.example:50051",
        "dns:127.0.0.1:50051",
        "ipv4:127.0.0.1:50051,127.0.0.2:50051",
        "ipv6:[::1]:50051",
        "unix:/run/netrouter.sock",
        "unix:///run/netrouter.sock",
        "unix-abstract:netrouter",
    ],
)
def test_every_target_grpc_dials_with_a_port_is_taken(target: str) -> None:
    """HOST:PORT, bracketed IPv6 and gRPC's schemed targets are taken as given."""
    assert RouterClient(target).target == target


async def test_a_unix_socket_target_reaches_its_router(tmp_path: Path) -> None:
    """A ``unix:PATH`` target dials the router listening on that socket."""
    servicer = _Scripted()
    server = grpc.aio.server()
    pb_grpc.add_RouterServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"unix:{tmp_path / 'r.sock'}")
    await server.start()
    try:
        async with _client(f"unix:{tmp_path / 'r.sock'}") as client:
            assert await client.list_sites() == []
    finally:
        await server.stop(None)


def test_client_options_are_checked_before_dialing(tmp_path: Path) -> None:
    """A missing CA file or a certificate without TLS fails at once, naming the option."""
    with pytest.raises(ValueError, match="ca_file: cannot read"):
        RouterClient("127.0.0.1:1", ca_file=tmp_path / "missing.pem")
    with pytest.raises(ValueError, match="needs TLS"):
        RouterClient("127.0.0.1:1", cert_file="c.pem", key_file="k.pem")
    with pytest.raises(ValueError, match="cert_file and key_file go together"):
        RouterClient("127.0.0.1:1", tls=True, cert_file="c.pem")
    with pytest.raises(ValueError, match="token"):
        RouterClient("127.0.0.1:1", token="two words")


async def test_a_client_not_opened_says_how_to_open_it() -> None:
    """A call before ``async with`` raises ``RuntimeError`` naming the fix."""
    client = RouterClient("127.0.0.1:1")
    with pytest.raises(RuntimeError, match="async with RouterClient"):
        await client.list_sites()


async def test_a_router_that_is_not_there_is_named(tmp_path: Path) -> None:
    """Nothing listening: UnavailableError names the target and how to start a router."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        target = f"127.0.0.1:{probe.getsockname()[1]}"
    async with RouterClient(target, retries=0, timeout_s=5.0) as client:
        with pytest.raises(UnavailableError) as info:
            await client.list_sites()
    assert f"cannot reach a router at {target}" in str(info.value)
    assert "netrouter serve" in str(info.value)


def test_sync_client_works_without_an_event_loop(tmp_path: Path) -> None:
    """SyncRouterClient places, lists, gets by prefix, drains and undrains against a
    server in another thread's loop."""
    ready = threading.Event()
    state: dict[str, object] = {}

    async def serve() -> None:
        registry = SiteRegistry()
        registry.apply_report(report_of(site_config("solo", price=0.4)))
        store = PlacementStore(tmp_path / "s.db")
        server, port, _ = await start_server(Router(registry=registry, store=store), "127.0.0.1:0")
        stop = asyncio.Event()
        state.update(port=port, loop=asyncio.get_running_loop(), stop=stop)
        ready.set()
        await stop.wait()
        await server.stop(None)
        store.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert ready.wait(10)
    try:
        with SyncRouterClient(f"127.0.0.1:{state['port']}") as client:
            result = client.place([workload("s1", demands={"H100": 4})])
            assert [p.site_id for p in result.placements] == ["solo"]
            assert [s.site_id for s in client.list_sites()] == ["solo"]
            pid = result.placements[0].placement_id
            assert client.get_placement(pid[:6]).placement_id == pid
            drained = client.drain_site("solo", move_running=True, reason="maintenance")
            assert drained.site.drained and drained.moved == ()
            assert [u.workload_id for u in drained.stayed] == ["s1"]  # nowhere else to go
            assert [s.drained for s in client.list_sites()] == [True]
            assert not client.undrain_site("solo").drained
    finally:
        loop = state["loop"]
        loop.call_soon_threadsafe(state["stop"].set)  # type: ignore[attr-defined]
        thread.join(10)
