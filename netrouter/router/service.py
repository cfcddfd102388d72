"""The gRPC face of the router: thin servicers (log, convert, delegate, convert).

Errors become statuses here, each the ``code`` its class carries
(:func:`~netrouter.client.errors.status_of`).
"""

from __future__ import annotations

import errno
import functools
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from netrouter.client import convert
from netrouter.client.errors import ListenError, RouterError, status_of
from netrouter.contract.rpc import WATCH_POSITION_KEY
from netrouter.router.core import Router
from netrouter.v1 import router_pb2 as pb
from netrouter.v1 import router_pb2_grpc as pb_grpc
from solver import SolverError

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Router"].full_name
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest response (a whole-state Snapshot of a big deployment)."""
MAX_RECEIVE_BYTES = 16 * 1024 * 1024
"""Largest request by default (``[grpc] max_receive_mib``): a 10,000-workload Place batch
with two alternatives each is about 0.65 MiB."""

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]


async def _abort(
    context: grpc.aio.ServicerContext, method: str, exc: RouterError | SolverError
) -> None:
    """End the call with the status of ``exc``; raises, as ``context.abort`` does.

    A solver error is translated here: the router checks what it hands the solver, so one
    that gets this far is a bug, answered INTERNAL without the solver's own types.
    """
    if isinstance(exc, RouterError):
        code, details = status_of(exc), str(exc)
        log.info("%s -> %s: %s", method, code.name, exc)
    else:
        code, details = grpc.StatusCode.INTERNAL, f"the solver refused the problem: {exc}"
        log.error("%s -> %s: %s", method, code.name, exc, exc_info=exc)
    await context.abort(code, details)


def mapped_errors(handler: Handler[Req, Resp]) -> Handler[Req, Resp]:
    """Turn :class:`RouterError` into its status with the error's message (solver errors:
    INTERNAL)."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await handler(self, request, context)
        except (RouterError, SolverError) as exc:
            await _abort(context, handler.__name__, exc)
            raise  # unreachable: abort raises

    return wrapper


class RouterServicer(pb_grpc.RouterServicer):
    """Implements ``netrouter.v1.Router`` over a :class:`Router`."""

    def __init__(self, router: Router) -> None:
        self._router = router

    @mapped_errors
    async def Place(
        self, request: pb.PlaceRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlaceResponse:
        workloads = convert.place_request_from_pb(
            request, max_batch=self._router.settings.max_batch
        )
        queue = request.queue if request.HasField("queue") else True
        result = await self._router.place(workloads, dry_run=request.dry_run, queue=queue)
        return convert.place_result_to_pb(result)

    @mapped_errors
    async def Release(
        self, request: pb.ReleaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseResponse:
        released = await self._router.release(list(request.placement_ids))
        return pb.ReleaseResponse(released=[convert.placement_to_pb(p) for p in released])

    @mapped_errors
    async def GetPlacement(
        self, request: pb.GetPlacementRequest, context: grpc.aio.ServicerContext
    ) -> pb.Placement:
        return convert.placement_to_pb(await self._router.get_placement(request.placement_id))

    @mapped_errors
    async def ListPlacements(
        self, request: pb.ListPlacementsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPlacementsResponse:
        page, token = await self._router.list_placements(
            site_id=request.site_id,
            state=request.state,
            page_size=request.page_size,
            page_token=request.page_token,
            labels=dict(request.labels),
        )
        return pb.ListPlacementsResponse(
            placements=[convert.placement_to_pb(p) for p in page], next_page_token=token
        )

    @mapped_errors
    async def ListSites(
        self, request: pb.ListSitesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSitesResponse:
        views = await self._router.list_sites()
        return pb.ListSitesResponse(sites=[convert.site_view_to_pb(v) for v in views])

    async def WatchPlacements(
        self, request: pb.WatchPlacementsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.PlacementEvent]:
        try:
            start = await self._router.watch_position(
                after_event_id=request.after_event_id, from_start=request.from_start
            )
            # The client learns where it starts, so it can resume from there after a break.
            await context.send_initial_metadata(((WATCH_POSITION_KEY, str(start)),))
            async for event in self._router.watch(start):
                yield convert.event_to_pb(event)
        except (RouterError, SolverError) as exc:
            await _abort(context, "WatchPlacements", exc)

    @mapped_errors
    async def Rebalance(
        self, request: pb.RebalanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RebalanceResponse:
        result = await self._router.rebalance(
            commit=request.commit,
            max_moves=request.max_moves,
            min_saving_yuan=(
                request.min_saving_yuan_per_move
                if request.HasField("min_saving_yuan_per_move")
                else None
            ),
        )
        return convert.rebalance_to_pb(result)

    @mapped_errors
    async def RemoveSite(
        self, request: pb.RemoveSiteRequest, context: grpc.aio.ServicerContext
    ) -> pb.RemoveSiteResponse:
        view = await self._router.remove_site(request.site_id)
        return pb.RemoveSiteResponse(site=convert.site_view_to_pb(view))

    @mapped_errors
    async def DrainSite(
        self, request: pb.DrainSiteRequest, context: grpc.aio.ServicerContext
    ) -> pb.DrainSiteResponse:
        result = await self._router.drain_site(
            request.site_id, move=request.move_running, reason=request.reason
        )
        return convert.drain_to_pb(result)

    @mapped_errors
    async def UndrainSite(
        self, request: pb.UndrainSiteRequest, context: grpc.aio.ServicerContext
    ) -> pb.UndrainSiteResponse:
        view = await self._router.undrain_site(request.site_id)
        return pb.UndrainSiteResponse(site=convert.site_view_to_pb(view))

    @mapped_errors
    async def Snapshot(
        self, request: pb.SnapshotRequest, context: grpc.aio.ServicerContext
    ) -> pb.StateSnapshot:
        return convert.snapshot_to_pb(await self._router.snapshot())

    @mapped_errors
    async def WhatIf(
        self, request: pb.WhatIfRequest, context: grpc.aio.ServicerContext
    ) -> pb.WhatIfResponse:
        args = convert.whatif_from_pb(request)
        config = None
        if args.time_limit_s is not None:
            config = replace(self._router.settings.whatif_solver, time_limit_s=args.time_limit_s)
        report = await self._router.what_if(args.scenarios, at=args.at, config=config)
        return pb.WhatIfResponse(report_json=report.model_dump_json())


def listen_port(address: str) -> int:
    """The port of a ``HOST:PORT`` listen address (0: any free port); ``ValueError`` if it
    has none.

    gRPC itself would listen on 443 for ``127.0.0.1:`` or ``127.0.0.1``, so the port must be
    written out. ``HOST`` may be empty (every interface); an IPv6 host goes in brackets.
    """
    host, colon, port = address.rpartition(":")
    if not colon or address.endswith("]"):
        raise ValueError(f"{address!r} is not HOST:PORT (for example 127.0.0.1:50051)")
    if not port:
        raise ValueError(f"{address!r} has no port after ':' (HOST:PORT; 0 for any free port)")
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise ValueError(f"{address!r}: an IPv6 host goes in brackets, as in [::1]:50051")
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError(f"{address!r}: the port must be a number in 0..65535, got {port!r}")
    return int(port)


def _bind_error(address: str, port: int) -> OSError | None:
    """Why ``address`` cannot be bound as gRPC binds it (``SO_REUSEADDR``, no
    ``SO_REUSEPORT``), ``EADDRINUSE`` first; ``None`` if every bind works.

    gRPC's own failure to bind says only that it failed (and logs to stderr); this says why.
    """
    host = address.rpartition(":")[0].strip("[]") or None
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return exc
    errors: list[OSError] = []
    for family, kind, proto, _, sockaddr in found:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                errors.append(exc)
    errors.sort(key=lambda exc: exc.errno != errno.EADDRINUSE)
    return errors[0] if errors else None


async def start_server(
    router: Router,
    listen: str,
    *,
    credentials: grpc.ServerCredentials | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    max_receive_bytes: int = MAX_RECEIVE_BYTES,
) -> tuple[grpc.aio.Server, int, HealthServicer]:
    """Start a gRPC server with the Router, health and reflection services; return its port.

    With ``credentials`` it serves TLS only (see :mod:`netrouter.router.auth`); ``interceptors``
    run before every call (token checks). A request larger than ``max_receive_bytes`` is
    refused with RESOURCE_EXHAUSTED before it is decoded. The port is this server's alone:
    if another process listens there (gRPC would otherwise share it, ``SO_REUSEPORT``, and
    the two would split the calls) it raises :class:`~netrouter.client.errors.ListenError`.
    """
    try:
        wanted = listen_port(listen)
    except ValueError as exc:
        raise ListenError(listen, str(exc)) from exc
    # Another listener on the port is the usual failure: name it before gRPC tries.
    taken = _bind_error(listen, wanted) if wanted else None
    if taken is not None and taken.errno == errno.EADDRINUSE:
        raise ListenError(listen, _reason(taken))
    server = grpc.aio.server(
        interceptors=list(interceptors),
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", max_receive_bytes),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    pb_grpc.add_RouterServicer_to_server(RouterServicer(router), server)  # type: ignore[no-untyped-call]
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    try:
        if credentials is None:
            port = server.add_insecure_port(listen)
        else:
            port = server.add_secure_port(listen, credentials)
    except RuntimeError:  # grpcio raises where older versions returned 0
        port = 0
    if port == 0:
        # Taken since the check above, or not an address of this host.
        why = _bind_error(listen, wanted) if wanted else None
        raise ListenError(listen, _reason(why) if why else "gRPC could not bind it")
    await server.start()
    serving = health_pb2.HealthCheckResponse.SERVING
    await health.set("", serving)
    await health.set(SERVICE_NAME, serving)
    log.info(
        "gRPC listening on %s (port %d, %s)", listen, port, "TLS" if credentials else "plaintext"
    )
    return server, port, health


def _reason(exc: OSError) -> str:
    """``Address already in use`` as ``address already in use; one router per port``."""
    reason = exc.strerror or str(exc)
    reason = reason[:1].lower() + reason[1:]
    return f"{reason}; one router per port" if exc.errno == errno.EADDRINUSE else reason
