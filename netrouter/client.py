"""The client library: every implemented RPC, returning domain objects (never protobuf).

    async with RouterClient("127.0.0.1:50051") as router:
        result = await router.place([Workload(...)])

:class:`SyncRouterClient` offers the same calls for code without an event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc

from netrouter import convert
from netrouter.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    RouterError,
    UnavailableError,
)
from netrouter.types import Placement, PlaceResult, SiteView, Workload
from netrouter.v1 import router_pb2 as pb
from netrouter.v1 import router_pb2_grpc as pb_grpc

T = TypeVar("T")

_ERROR_OF: dict[grpc.StatusCode, type[RouterError]] = {
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
}


class RpcError(RouterError):
    """An RPC failed with a status that has no more specific error; ``code`` tells which."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code


def _translate(exc: grpc.aio.AioRpcError) -> RouterError:
    code, details = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        field, _, message = details.partition(": ")
        return InvalidArgumentError(field, message)
    kind = _ERROR_OF.get(code)
    return kind(details) if kind else RpcError(code, details)


class RouterClient:
    """Async client of ``netrouter.v1.Router``; use as ``async with``."""

    def __init__(self, target: str, *, timeout_s: float = 30.0) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.RouterStub | None = None

    async def __aenter__(self) -> RouterClient:
        self._channel = grpc.aio.insecure_channel(self.target)
        self._stub = pb_grpc.RouterStub(self._channel)  # type: ignore[no-untyped-call]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel."""
        if self._channel is not None:
            await self._channel.close()
            self._channel = self._stub = None

    async def _call(self, method: str, request: Any) -> Any:
        if self._stub is None:
            raise RuntimeError("RouterClient is not open: use 'async with RouterClient(...)'")
        try:
            return await getattr(self._stub, method)(request, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc

    async def place(self, workloads: Sequence[Workload], *, dry_run: bool = False) -> PlaceResult:
        """Place a batch; with ``dry_run`` nothing is committed."""
        request = pb.PlaceRequest(
            workloads=[convert.workload_to_pb(w) for w in workloads], dry_run=dry_run
        )
        return convert.place_result_from_pb(await self._call("Place", request))

    async def release(self, placement_ids: Sequence[str]) -> list[Placement]:
        """Release placements by id (all or none)."""
        response = await self._call("Release", pb.ReleaseRequest(placement_ids=list(placement_ids)))
        return [convert.placement_from_pb(p) for p in response.released]

    async def get_placement(self, placement_id: str) -> Placement:
        """One placement by id."""
        request = pb.GetPlacementRequest(placement_id=placement_id)
        return convert.placement_from_pb(await self._call("GetPlacement", request))

    async def list_placements(
        self, *, site_id: str = "", state: str = "active", page_size: int = 500
    ) -> list[Placement]:
        """Every placement matching the filter, following pages."""
        found: list[Placement] = []
        token = ""
        while True:
            request = pb.ListPlacementsRequest(
                site_id=site_id, state=state, page_size=page_size, page_token=token
            )
            response = await self._call("ListPlacements", request)
            found.extend(convert.placement_from_pb(p) for p in response.placements)
            token = response.next_page_token
            if not token:
                return found

    async def list_sites(self) -> list[SiteView]:
        """The router's live view of every site."""
        response = await self._call("ListSites", pb.ListSitesRequest())
        return [convert.site_view_from_pb(s) for s in response.sites]


class SyncRouterClient:
    """Blocking twin of :class:`RouterClient` (runs its own event loop); use as ``with``."""

    def __init__(self, target: str, *, timeout_s: float = 30.0) -> None:
        self._client = RouterClient(target, timeout_s=timeout_s)
        self._runner: asyncio.Runner | None = None

    def __enter__(self) -> SyncRouterClient:
        self._runner = asyncio.Runner()
        self._runner.run(self._client.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            self._runner.run(self._client.close())
            self._runner.close()
            self._runner = None

    def _run(self, coro: Any) -> Any:
        if self._runner is None:
            raise RuntimeError("SyncRouterClient is not open: use 'with SyncRouterClient(...)'")
        return self._runner.run(coro)

    def place(self, workloads: Sequence[Workload], *, dry_run: bool = False) -> PlaceResult:
        """Place a batch; with ``dry_run`` nothing is committed."""
        result: PlaceResult = self._run(self._client.place(workloads, dry_run=dry_run))
        return result

    def release(self, placement_ids: Sequence[str]) -> list[Placement]:
        """Release placements by id (all or none)."""
        result: list[Placement] = self._run(self._client.release(placement_ids))
        return result

    def get_placement(self, placement_id: str) -> Placement:
        """One placement by id."""
        result: Placement = self._run(self._client.get_placement(placement_id))
        return result

    def list_placements(self, *, site_id: str = "", state: str = "active") -> list[Placement]:
        """Every placement matching the filter."""
        result: list[Placement] = self._run(
            self._client.list_placements(site_id=site_id, state=state)
        )
        return result

    def list_sites(self) -> list[SiteView]:
        """The router's live view of every site."""
        result: list[SiteView] = self._run(self._client.list_sites())
        return result
