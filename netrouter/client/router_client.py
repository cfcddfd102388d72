"""The client library: every RPC, returning domain objects (never protobuf).

    async with RouterClient("127.0.0.1:50051") as router:
        result = await router.place([Workload(...)])
        async for event in router.watch():
            ...

Calls have a deadline (``timeout_s``) and are retried on UNAVAILABLE (the router restarting,
its store briefly unwritable) with exponential backoff, up to ``retries`` times. A ``Place``
retried after a connection broke mid-call may answer ALREADY_EXISTS: the first attempt was
committed (look it up with :meth:`RouterClient.list_placements`). :meth:`RouterClient.watch`
resumes after disconnects from the last event it delivered, so a watcher sees every event
exactly once. :class:`SyncRouterClient` offers the same calls for code without an event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc

from netrouter.client import convert
from netrouter.client.errors import (
    InvalidArgumentError,
    RouterError,
    UnavailableError,
    error_for,
)
from netrouter.client.scenario import Scenario, scenario_text
from netrouter.client.types import (
    QUEUED,
    DrainResult,
    Placement,
    PlacementEvent,
    PlaceResult,
    RebalanceResult,
    SiteView,
    Snapshot,
    Workload,
    queue_order,
)
from netrouter.client.whatif_report import WHATIF_TIME_LIMIT_S, WhatIfReport
from netrouter.contract.backoff import Backoff
from netrouter.contract.rpc import WATCH_POSITION_KEY
from netrouter.v1 import router_pb2 as pb
from netrouter.v1 import router_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest message either way (a 10,000-workload batch with explanations fits)."""


def _translate(exc: grpc.aio.AioRpcError) -> RouterError:
    """The typed error for a failed call (see :func:`~netrouter.client.errors.error_for`)."""
    return error_for(exc.code(), exc.details() or "")


class RouterClient:
    """Async client of ``netrouter.v1.Router``; use as ``async with``.

    Security options (all keyword-only): ``tls=True`` dials TLS and checks the router's
    certificate against the system's CAs, or against ``ca_file`` (giving ``ca_file`` turns
    TLS on); ``cert_file``/``key_file`` present a client certificate to a router that
    requires one (mTLS); ``server_name`` checks the certificate for that name instead of the
    target's host. ``token`` is sent as ``authorization: Bearer TOKEN`` with every call,
    the watch stream included. The files are read here, so a bad path fails at once with a
    ``ValueError`` naming the option: as ``option_names`` calls it (e.g. a CLI's
    ``{"cert_file": "--tls-cert"}``), else by its keyword.

    ``target`` is ``HOST:PORT`` (``[::1]:50051`` for IPv6) or a gRPC target with a scheme
    (``dns:///HOST:PORT``, ``ipv4:``, ``ipv6:``, ``unix:PATH``). One without a port (gRPC
    would dial 443) or with a malformed one is refused here with
    :class:`~netrouter.client.errors.InvalidArgumentError` naming ``target`` (or what
    ``option_names`` calls it).
    """

    def __init__(
        self,
        target: str,
        *,
        timeout_s: float = 30.0,
        retries: int = 5,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        token: str | None = None,
        tls: bool | None = None,
        ca_file: str | Path | None = None,
        cert_file: str | Path | None = None,
        key_file: str | Path | None = None,
        server_name: str | None = None,
        option_names: Mapping[str, str] | None = None,
    ) -> None:
        names = OPTION_NAMES | dict(option_names or {})
        _check_target(target, names["target"])
        self.target = target
        self.timeout_s = timeout_s
        self.retries = retries
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.RouterStub | None = None
        self._credentials = _channel_credentials(
            tls=bool(ca_file) if tls is None else tls,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
            names=names,
        )
        self._server_name = server_name
        self._metadata: tuple[tuple[str, str], ...] | None = None
        if token is not None:
            token = token.strip()
            if not token or not token.isascii() or not token.isprintable() or " " in token:
                raise ValueError("token: must be non-empty printable ASCII without spaces")
            self._metadata = (("authorization", f"Bearer {token}"),)
            if self._credentials is None and not _is_loopback(target):
                log.warning("sending a bearer token to %s without TLS", target)

    async def __aenter__(self) -> RouterClient:
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if self._credentials is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=options)
        else:
            if self._server_name:
                options.append(("grpc.ssl_target_name_override", self._server_name))
            self._channel = grpc.aio.secure_channel(self.target, self._credentials, options=options)
        self._stub = pb_grpc.RouterStub(self._channel)  # type: ignore[no-untyped-call]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel."""
        if self._channel is not None:
            await self._channel.close()
            self._channel = self._stub = None

    def _method(self, name: str) -> Any:
        if self._stub is None:
            raise RuntimeError("RouterClient is not open: use 'async with RouterClient(...)'")
        return getattr(self._stub, name)

    async def _call(self, method: str, request: Any, timeout_s: float | None = None) -> Any:
        backoff = Backoff(*self._backoff)
        attempt = 0
        while True:
            try:
                return await self._method(method)(
                    request, timeout=timeout_s or self.timeout_s, metadata=self._metadata
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt >= self.retries:
                    raise self._unreachable(exc) or _translate(exc) from exc
                attempt += 1
                wait = backoff.next_wait()
                log.info("%s: %s; retry %d in %.2f s", method, exc.details(), attempt, wait)
                await asyncio.sleep(wait)

    def _unreachable(self, exc: grpc.aio.AioRpcError) -> UnavailableError | None:
        """The error for a call that never reached a router (nothing listening at the
        target, a name that does not resolve); ``None`` when the router itself answered."""
        if exc.code() != grpc.StatusCode.UNAVAILABLE or self._channel is None:
            return None
        if self._channel.get_state() == grpc.ChannelConnectivity.READY:
            return None  # connected: the router said UNAVAILABLE (e.g. its store)
        return UnavailableError(
            f"cannot reach a router at {self.target}: {exc.details()}. "
            "Is it running? 'netrouter serve' starts one."
        )

    # --- placing -----------------------------------------------------------------------

    async def place(
        self, workloads: Sequence[Workload], *, dry_run: bool = False, queue: bool = True
    ) -> PlaceResult:
        """Place a batch; with ``dry_run`` nothing is committed. Work that cannot start now
        waits in the router's queue (``PlaceResult.queued``, each saying why) and starts
        when capacity allows; with ``queue=False`` it is unplaced instead. Work no site
        could ever take is unplaced either way."""
        request = pb.PlaceRequest(
            workloads=[convert.workload_to_pb(w) for w in workloads], dry_run=dry_run, queue=queue
        )
        return convert.place_result_from_pb(await self._call("Place", request))

    async def release(self, placement_ids: Sequence[str]) -> list[Placement]:
        """Release placements, or cancel queued work, by id (all or none)."""
        response = await self._call("Release", pb.ReleaseRequest(placement_ids=list(placement_ids)))
        return [convert.placement_from_pb(p) for p in response.released]

    async def rebalance(
        self, *, commit: bool = False, max_moves: int = 0, min_saving_yuan: float | None = None
    ) -> RebalanceResult:
        """Re-optimise running work; a dry run unless ``commit``. A move must save more than
        it costs (transfer, migration, the restart of work since its last checkpoint) plus
        ``min_saving_yuan`` (``None``: the router's setting). Each move says why
        (``Move.reason``): what it saves, or its site's breach of its hub's PUE cap."""
        if not 0 <= max_moves < 2**32:
            raise InvalidArgumentError("max_moves", f"must be >= 0 (0: no cap), got {max_moves}")
        request = pb.RebalanceRequest(
            commit=commit, max_moves=max_moves, min_saving_yuan_per_move=min_saving_yuan
        )
        return convert.rebalance_from_pb(await self._call("Rebalance", request))

    async def what_if(
        self,
        scenarios: Sequence[Scenario | str],
        *,
        at: float | None = None,
        time_limit_s: float | None = None,
    ) -> WhatIfReport:
        """The live state and each scenario solved side by side; nothing is committed.

        A scenario is a :class:`~netrouter.client.scenario.Scenario` (its workload files are sent
        inline) or the text of a scenario file. ``at``: prices and remaining run times as of
        this unix time (default now); ``time_limit_s``: per solve (default 5 s).
        """
        texts = [s if isinstance(s, str) else scenario_text(s) for s in scenarios]
        request = pb.WhatIfRequest(scenarios=texts, at=at or 0.0, time_limit_s=time_limit_s or 0.0)
        # Every solve may take its whole limit: wait for all of them.
        per_solve = time_limit_s or WHATIF_TIME_LIMIT_S
        wait = max(self.timeout_s, self.timeout_s + 2.0 * per_solve * (len(texts) + 1))
        response = await self._call("WhatIf", request, timeout_s=wait)
        return WhatIfReport.model_validate_json(response.report_json)

    # --- reading -----------------------------------------------------------------------

    async def get_placement(self, placement_id: str) -> Placement:
        """One placement by id."""
        request = pb.GetPlacementRequest(placement_id=placement_id)
        return convert.placement_from_pb(await self._call("GetPlacement", request))

    async def list_placements(
        self,
        *,
        site_id: str = "",
        state: str = "active",
        labels: Mapping[str, str] | None = None,
        page_size: int = 500,
        limit: int | None = None,
    ) -> list[Placement]:
        """Every placement matching the filter (the first ``limit`` of them), following pages."""
        found: list[Placement] = []
        token = ""
        while True:
            request = pb.ListPlacementsRequest(
                site_id=site_id,
                state=state,
                page_size=page_size,
                page_token=token,
                labels=dict(labels or {}),
            )
            response = await self._call("ListPlacements", request)
            found.extend(convert.placement_from_pb(p) for p in response.placements)
            token = response.next_page_token
            if limit is not None and len(found) >= limit:
                return found[:limit]
            if not token:
                return found

    async def queued(self) -> list[Placement]:
        """The work waiting in the router's queue, in the order it starts (higher priority
        first, then the longest waiting), each saying why it waits."""
        return sorted(await self.list_placements(state=QUEUED), key=queue_order)

    async def list_sites(self) -> list[SiteView]:
        """The router's live view of every site."""
        response = await self._call("ListSites", pb.ListSitesRequest())
        return [convert.site_view_from_pb(s) for s in response.sites]

    async def remove_site(self, site_id: str) -> SiteView:
        """Forget a site that is gone (refused while it has active placements:
        ``FailedPreconditionError``); it returns when its agent reports again. Returns the
        site as it was."""
        response = await self._call("RemoveSite", pb.RemoveSiteRequest(site_id=site_id))
        return convert.site_view_from_pb(response.site)

    async def drain_site(
        self, site_id: str, *, move_running: bool = False, reason: str = ""
    ) -> DrainResult:
        """Take a site out of service: it takes no new work until undrained, across router
        restarts. With ``move_running`` its running work moves elsewhere now, in one batch
        (``DrainResult.moved``); what fits nowhere stays (``DrainResult.stayed``). An unknown
        site is ``NotFoundError`` naming the known ones."""
        request = pb.DrainSiteRequest(site_id=site_id, move_running=move_running, reason=reason)
        return convert.drain_from_pb(await self._call("DrainSite", request))

    async def undrain_site(self, site_id: str) -> SiteView:
        """Put a drained site back in service (``FailedPreconditionError`` if it is not
        drained); returns the site as it is now."""
        response = await self._call("UndrainSite", pb.UndrainSiteRequest(site_id=site_id))
        return convert.site_view_from_pb(response.site)

    async def snapshot(self) -> Snapshot:
        """The router's whole state, for offline what-ifs."""
        return convert.snapshot_from_pb(await self._call("Snapshot", pb.SnapshotRequest()))

    async def watch(
        self, *, after_event_id: int = 0, from_start: bool = False
    ) -> AsyncGenerator[PlacementEvent, None]:
        """Placement events as they happen (after ``after_event_id``; ``from_start``: all).

        Until the router has answered once, a router that cannot be reached is retried as a
        call is (``retries`` times), then :class:`UnavailableError` names the target. Once
        the stream is up it reconnects with backoff whenever it breaks (UNAVAILABLE, a
        router restart), for as long as it takes, logging each try, and resumes after the
        last event delivered, so none is missed or repeated. An ``after_event_id`` past the
        router's last event is :class:`~netrouter.client.errors.OutOfRangeError`.
        """
        request = pb.WatchPlacementsRequest(after_event_id=after_event_id, from_start=from_start)
        backoff = Backoff(*self._backoff)
        established = False
        attempt = 0
        while True:
            try:
                stream = self._method("WatchPlacements")(request, metadata=self._metadata)
                metadata = await stream.initial_metadata()
                # The server says where the stream starts ("from now" resolved to an event
                # id); every reconnection resumes after the last event seen from there. A
                # stream that never reached a router has no metadata.
                position = dict(metadata or ()).get(WATCH_POSITION_KEY)
                if position is not None:
                    established = True
                    request = pb.WatchPlacementsRequest(after_event_id=int(position))
                    request.from_start = int(position) == 0
                async for message in stream:
                    established = True
                    event = convert.event_from_pb(message)
                    request = pb.WatchPlacementsRequest(after_event_id=event.event_id)
                    backoff.reset()
                    attempt = 0
                    yield event
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise _translate(exc) from exc
                attempt += 1
                if not established and attempt > self.retries:
                    raise self._unreachable(exc) or _translate(exc) from exc
                wait = backoff.next_wait()
                if established:
                    log.warning(
                        "watch: %s; reconnecting to %s in %.2f s (try %d), resuming after event %d",
                        exc.details(),
                        self.target,
                        wait,
                        attempt,
                        request.after_event_id,
                    )
                else:
                    log.info("watch: %s; retry %d in %.2f s", exc.details(), attempt, wait)
                await asyncio.sleep(wait)


OPTION_NAMES = {
    "target": "target",
    "tls": "tls=True",
    "ca_file": "ca_file",
    "cert_file": "cert_file",
    "key_file": "key_file",
}
"""What :class:`RouterClient`'s errors call its target and TLS options, unless told
otherwise."""


PATH_SCHEMES = ("unix", "unix-abstract", "vsock")
"""gRPC target schemes whose address is no ``HOST:PORT`` (a socket path, a VM socket)."""


def _check_target(target: str, name: str) -> None:
    """Refuse a target that is no router's address; ``name`` is what errors call it.

    gRPC dials 443 when a ``HOST`` has no port, so ``127.0.0.1`` would wait on a port no
    router listens on: the port must be written out, as for ``netrouter serve --listen``.
    """

    def refused(why: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            name, f"{why}; a router's address is HOST:PORT, for example 127.0.0.1:50051"
        )

    if not target.strip():
        raise refused("empty")
    if any(c.isspace() for c in target):
        raise refused(f"{target!r} has a space in it")
    scheme, _, rest = target.partition(":")
    if scheme in PATH_SCHEMES:
        if not rest.strip("/"):
            raise refused(f"{target!r} names no socket")
        return
    if scheme == "dns":
        # dns:HOST:PORT, dns:///HOST:PORT or dns://RESOLVER/HOST:PORT
        addresses = [rest[2:].partition("/")[2] if rest.startswith("//") else rest]
    elif scheme in ("ipv4", "ipv6"):
        addresses = rest.split(",")
    else:
        addresses = [target]
    for address in addresses:
        host, colon, port = address.rpartition(":")
        if not colon or address.endswith("]"):
            raise refused(f"{target!r} has no port")
        if not port:
            raise refused(f"{target!r} has no port after ':'")
        if not host or "/" in host:
            raise refused(f"{target!r} has no host before ':{port}'")
        if ":" in host and not (host.startswith("[") and host.endswith("]")):
            raise refused(f"{target!r}: an IPv6 host goes in brackets, as in [::1]:50051")
        if not (port.isascii() and port.isdigit()) or not 0 < int(port) <= 65535:
            raise refused(f"{target!r}: the port must be a number in 1..65535, got {port!r}")


def _channel_credentials(
    *,
    tls: bool,
    ca_file: str | Path | None,
    cert_file: str | Path | None,
    key_file: str | Path | None,
    names: Mapping[str, str],
) -> grpc.ChannelCredentials | None:
    """TLS credentials from the options' files (``None`` for plaintext); errors call the
    options by ``names``."""
    cert, key = names["cert_file"], names["key_file"]
    if not tls:
        if cert_file or key_file:
            raise ValueError(
                f"{cert}/{key}: a client certificate needs TLS "
                f"({names['tls']} or {names['ca_file']})"
            )
        return None
    if bool(cert_file) != bool(key_file):
        raise ValueError(f"{cert} and {key} go together")
    return grpc.ssl_channel_credentials(
        root_certificates=_read_file(names["ca_file"], ca_file),
        private_key=_read_file(key, key_file),
        certificate_chain=_read_file(cert, cert_file),
    )


def _read_file(option: str, path: str | Path | None) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{option}: cannot read {path}: {exc.strerror}") from exc


def _is_loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0].strip("[]") if ":" in target else target
    return host in ("localhost", "::1") or host.startswith("127.")


class SyncRouterClient:
    """Blocking twin of :class:`RouterClient` (runs its own event loop); use as ``with``.

    Takes the same keyword options (``token``, ``tls``, ``ca_file``, ...)."""

    def __init__(self, target: str, **options: Any) -> None:
        self._client = RouterClient(target, **options)
        self._runner: asyncio.Runner | None = None

    def __enter__(self) -> SyncRouterClient:
        self._runner = asyncio.Runner()
        self._runner.run(self._client.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            self._runner.run(self._client.close())
            self._runner.close()
            self._runner = None

    def _run(self, call: Callable[[], Any]) -> Any:
        if self._runner is None:
            raise RuntimeError("SyncRouterClient is not open: use 'with SyncRouterClient(...)'")
        return self._runner.run(call())

    def place(
        self, workloads: Sequence[Workload], *, dry_run: bool = False, queue: bool = True
    ) -> PlaceResult:
        """Place a batch; with ``dry_run`` nothing is committed; see
        :meth:`RouterClient.place` for ``queue``."""
        result: PlaceResult = self._run(
            lambda: self._client.place(workloads, dry_run=dry_run, queue=queue)
        )
        return result

    def release(self, placement_ids: Sequence[str]) -> list[Placement]:
        """Release placements by id (all or none)."""
        result: list[Placement] = self._run(lambda: self._client.release(placement_ids))
        return result

    def rebalance(
        self, *, commit: bool = False, max_moves: int = 0, min_saving_yuan: float | None = None
    ) -> RebalanceResult:
        """Re-optimise running work; a dry run unless ``commit``. Each move says why
        (``Move.reason``): what it saves, or its site's breach of its hub's PUE cap."""
        result: RebalanceResult = self._run(
            lambda: self._client.rebalance(
                commit=commit, max_moves=max_moves, min_saving_yuan=min_saving_yuan
            )
        )
        return result

    def get_placement(self, placement_id: str) -> Placement:
        """One placement by id."""
        result: Placement = self._run(lambda: self._client.get_placement(placement_id))
        return result

    def queued(self) -> list[Placement]:
        """The work waiting in the router's queue, in the order it starts."""
        result: list[Placement] = self._run(self._client.queued)
        return result

    def list_placements(
        self,
        *,
        site_id: str = "",
        state: str = "active",
        labels: Mapping[str, str] | None = None,
    ) -> list[Placement]:
        """Every placement matching the filter."""
        result: list[Placement] = self._run(
            lambda: self._client.list_placements(site_id=site_id, state=state, labels=labels)
        )
        return result

    def list_sites(self) -> list[SiteView]:
        """The router's live view of every site."""
        result: list[SiteView] = self._run(self._client.list_sites)
        return result

    def snapshot(self) -> Snapshot:
        """The router's whole state, for offline what-ifs."""
        result: Snapshot = self._run(self._client.snapshot)
        return result

    def remove_site(self, site_id: str) -> SiteView:
        """See :meth:`RouterClient.remove_site`."""
        result: SiteView = self._run(lambda: self._client.remove_site(site_id))
        return result

    def drain_site(
        self, site_id: str, *, move_running: bool = False, reason: str = ""
    ) -> DrainResult:
        """See :meth:`RouterClient.drain_site`."""
        result: DrainResult = self._run(
            lambda: self._client.drain_site(site_id, move_running=move_running, reason=reason)
        )
        return result

    def undrain_site(self, site_id: str) -> SiteView:
        """See :meth:`RouterClient.undrain_site`."""
        result: SiteView = self._run(lambda: self._client.undrain_site(site_id))
        return result

    def what_if(
        self,
        scenarios: Sequence[Scenario | str],
        *,
        at: float | None = None,
        time_limit_s: float | None = None,
    ) -> WhatIfReport:
        """See :meth:`RouterClient.what_if`."""
        result: WhatIfReport = self._run(
            lambda: self._client.what_if(scenarios, at=at, time_limit_s=time_limit_s)
        )
        return result

    def watch(
        self, *, after_event_id: int = 0, from_start: bool = False
    ) -> Iterator[PlacementEvent]:
        """Placement events as they happen (blocks between events); see
        :meth:`RouterClient.watch`."""
        stream = self._client.watch(after_event_id=after_event_id, from_start=from_start)
        try:
            while True:
                try:
                    yield self._run(lambda: anext(stream))
                except StopAsyncIteration:
                    return
        finally:
            if self._runner is not None:
                self._runner.run(stream.aclose())
