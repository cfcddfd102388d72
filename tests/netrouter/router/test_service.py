"""The gRPC service on a real server (port 0) over a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from netrouter.client.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    ListenError,
    NotFoundError,
    RpcError,
)
from netrouter.client.router_client import RouterClient
from netrouter.contract.topics import AgentStatus
from netrouter.router.service import SERVICE_NAME, listen_port, start_server
from netrouter.router.state import SiteRegistry
from netrouter.v1 import router_pb2 as pb
from netrouter.v1 import router_pb2_grpc as pb_grpc
from solver import InvalidProblemError
from tests.helpers.factories import (
    Served,
    placement,
    report_of,
    serve_router,
    site_config,
    workload,
)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """A router with two sites fed directly (no MQTT), served on a free port."""
    registry = SiteRegistry()
    registry.apply_report(
        report_of(site_config("cheap", price=0.3, h100=16, latency={"csj": 20.0}))
    )
    registry.apply_report(report_of(site_config("near", price=1.0, h100=16, latency={"csj": 3.0})))
    async with serve_router(registry, tmp_path / "router.db") as served:
        yield served


async def test_place_prefers_cheaper_site_and_respects_slo(served: Served) -> None:
    """Training goes to the cheap far site; a 10 ms SLO workload to the near one."""
    async with RouterClient(served.target) as client:
        result = await client.place(
            [workload("train", duration_h=4.0), workload("chat", latency_slo_ms=10.0)]
        )
    where = {p.workload_id: p.site_id for p in result.placements}
    assert where == {"train": "cheap", "chat": "near"}
    assert result.solve.bound <= result.solve.objective
    assert "SLO" in next(p for p in result.placements if p.workload_id == "chat").explanation


async def test_capacity_is_never_double_booked(served: Served) -> None:
    """Concurrent Place calls never put more devices on a site than it has."""
    async with RouterClient(served.target) as client:
        results = await asyncio.gather(
            *(client.place([workload(f"w{i}", demands={"H100": 8})]) for i in range(6))
        )
        placed = [p for r in results for p in r.placements]
        sites = {s.site_id: s for s in await client.list_sites()}
    assert len(placed) == 4  # 2 sites × 16 H100 / 8
    for view in sites.values():
        (h100,) = view.accelerators
        assert h100.placed == 16 and h100.free == 0


async def test_release_frees_capacity_and_get_reflects_state(served: Served) -> None:
    """A released placement's devices can be placed again; GetPlacement says released."""
    async with RouterClient(served.target) as client:
        first = await client.place(
            [workload("a", demands={"H100": 16}), workload("b", demands={"H100": 16})]
        )
        assert len(first.placements) == 2
        full = await client.place([workload("c", demands={"H100": 16})], queue=False)
        assert not full.placements and full.unplaced[0].workload_id == "c"
        released = await client.release([first.placements[0].placement_id])
        assert released[0].state == "released"
        again = await client.place([workload("c", demands={"H100": 16})])
        assert len(again.placements) == 1
        got = await client.get_placement(first.placements[0].placement_id)
        assert got.state == "released"
        active = await client.list_placements()
        assert sorted(p.workload_id for p in active) == ["b", "c"]


async def test_dry_run_commits_nothing(served: Served) -> None:
    """A dry run returns placements but leaves capacity and the store untouched."""
    async with RouterClient(served.target) as client:
        result = await client.place([workload("x")], dry_run=True)
        assert result.dry_run and len(result.placements) == 1
        assert await client.list_placements() == []


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.PlaceRequest(), "workloads"),
        (
            pb.PlaceRequest(
                workloads=[
                    pb.Workload(
                        id="",
                        origin_region="csj",
                        duration_h=1,
                        demands=[pb.AcceleratorDemand(model="H100", count=1)],
                    )
                ]
            ),
            "workloads[0].id",
        ),
        (
            pb.PlaceRequest(workloads=[pb.Workload(id="a", origin_region="csj", duration_h=1)]),
            "workloads[0].demands",
        ),
        (
            pb.PlaceRequest(
                workloads=[
                    pb.Workload(
                        id="a",
                        origin_region="csj",
                        duration_h=-1,
                        demands=[pb.AcceleratorDemand(model="H100", count=1)],
                    )
                ]
            ),
            "workloads[0].duration_h",
        ),
        (
            pb.PlaceRequest(
                workloads=[
                    pb.Workload(
                        id="a",
                        origin_region="csj",
                        duration_h=1,
                        max_pue=0.5,
                        demands=[pb.AcceleratorDemand(model="H100", count=1)],
                    )
                ]
            ),
            "workloads[0].max_pue",
        ),
    ],
)
async def test_bad_place_request_is_invalid_argument_naming_field(
    served: Served, request_: pb.PlaceRequest, field: str
) -> None:
    """A malformed request gets INVALID_ARGUMENT whose message starts with the field."""
    async with grpc.aio.insecure_channel(served.target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await pb_grpc.RouterStub(channel).Place(request_)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(field + ":")


@pytest.mark.parametrize("region", ["bj", "mars", "JJ"])
async def test_an_unknown_origin_region_is_refused_listing_the_known_ones(
    served: Served, region: str
) -> None:
    """A region outside the configured set is INVALID_ARGUMENT naming the field, not a
    workload placed with no RTT (or, with an SLO, refused for "latency at N site(s)")."""
    async with RouterClient(served.target) as client:
        with pytest.raises(InvalidArgumentError) as info:
            await client.place(
                [workload("ok"), workload("far", origin_region=region, latency_slo_ms=10.0)]
            )
    assert info.value.field == "workloads[1].origin_region"
    assert f"unknown region {region!r}" in info.value.message
    for known in ("jjj", "csj", "gba", "cy"):
        assert known in info.value.message


async def test_a_region_in_other_case_is_that_region(served: Served) -> None:
    """CSJ is csj: placed within its SLO, and kept as csj."""
    async with RouterClient(served.target) as client:
        result = await client.place([workload("chat", origin_region="CSJ", latency_slo_ms=10.0)])
    (placed,) = result.placements
    assert placed.workload.origin_region == "csj"
    assert (placed.site_id, placed.latency_ms) == ("near", 3.0)


def _place_model(model: str) -> pb.PlaceRequest:
    demand = pb.AcceleratorDemand(model=model, count=8)
    return pb.PlaceRequest(
        workloads=[pb.Workload(id="w", origin_region="csj", duration_h=1, demands=[demand])]
    )


async def test_a_model_in_other_spelling_is_that_model(served: Served) -> None:
    """h100 from any client is H100, so it lands on the sites that report H100."""
    async with grpc.aio.insecure_channel(served.target) as channel:
        response = await pb_grpc.RouterStub(channel).Place(_place_model("h100"))
    (placed,) = response.placements
    assert placed.accelerator_model == "H100"
    assert [d.model for d in placed.workload.demands] == ["H100"]


async def test_a_near_miss_model_is_refused_with_did_you_mean(served: Served) -> None:
    """H10 would match no site: INVALID_ARGUMENT naming the demand, suggesting H100."""
    async with grpc.aio.insecure_channel(served.target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await pb_grpc.RouterStub(channel).Place(_place_model("H10"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("workloads[0].demands.H10: ")
    assert "did you mean H100?" in info.value.details()


async def test_a_model_no_site_offers_is_unplaced_saying_so(served: Served) -> None:
    """H800 (known, but at no site) is left out with what the sites do offer."""
    async with RouterClient(served.target) as client:
        result = await client.place([workload("w", demands={"H800": 8})])
    (unplaced,) = result.unplaced
    assert unplaced.reason == "no site offers H800 (the sites offer H100); not queued"


async def test_error_statuses_reach_the_client_as_errors(served: Served) -> None:
    """NOT_FOUND, ALREADY_EXISTS and INVALID_ARGUMENT become the library's typed errors."""
    async with RouterClient(served.target) as client:
        with pytest.raises(NotFoundError):
            await client.get_placement("missing")
        await client.place([workload("dup")])
        with pytest.raises(AlreadyExistsError):
            await client.place([workload("dup")])
        with pytest.raises(InvalidArgumentError) as info:
            await client.place([workload("same"), workload("same")])
        assert info.value.field == "workloads[1].id"
        placed = await client.list_placements()
        with pytest.raises(InvalidArgumentError) as info:
            await client.release([placed[0].placement_id, placed[0].placement_id])
        assert info.value.field == "placement_ids[1]"


async def test_ids_by_prefix_over_grpc(served: Served) -> None:
    """Release and GetPlacement take a unique prefix of any stored placement, past the
    first page; an ambiguous one is INVALID_ARGUMENT listing the matches, an unknown one
    NOT_FOUND, an ended one FAILED_PRECONDITION saying when."""
    ended = [
        placement(pid, site="cheap", devices=1, created_at=1.0) for pid in ("dead01", "dead02")
    ]
    served.router.store.add(ended)
    served.router.store.release(["dead01", "dead02"], reason="released")
    async with RouterClient(served.target) as client:
        result = await client.place([workload(f"p{i}", demands={"H100": 1}) for i in range(12)])
        ids = sorted(p.placement_id for p in result.placements)
        first_page = await client.list_placements(page_size=5, limit=5)
        last = next(i for i in reversed(ids) if i not in {p.placement_id for p in first_page})
        assert (await client.get_placement(last[:6])).placement_id == last
        (released,) = await client.release([last[:6]])
        assert released.placement_id == last and released.state == "released"
        got = await client.get_placement(last[:8])
        assert got.state == "released"
        with pytest.raises(FailedPreconditionError, match=f"'{last}' was released at 20"):
            await client.release([ids[0][:12], last[:6]])
        assert (await client.get_placement(ids[0])).state == "active"  # all or none
        with pytest.raises(InvalidArgumentError) as info:
            await client.release([ids[0], "dead"])
        assert info.value.field == "placement_ids[1]"
        assert "dead01 released" in info.value.message and "dead02" in info.value.message
        with pytest.raises(NotFoundError, match="placement 'beef00' not found"):
            await client.get_placement("beef00")
        with pytest.raises(InvalidArgumentError, match="at least 4"):
            await client.get_placement("de")


async def test_drain_and_undrain_over_grpc(served: Served) -> None:
    """DrainSite keeps new work off a site and shows it drained; with move_running its work
    moves; UndrainSite puts it back; unknown and not-drained sites are typed errors."""
    async with RouterClient(served.target) as client:
        (p,) = (await client.place([workload("train")])).placements
        assert p.site_id == "cheap"
        result = await client.drain_site("cheap", move_running=True, reason="maintenance")
        assert result.site.drained and result.site.drain_reason == "maintenance"
        assert [(m.placement_id, m.to_site_id) for m in result.moved] == [(p.placement_id, "near")]
        assert result.moved[0].placement.site_id == "near" and result.stayed == ()
        sites = {s.site_id: s for s in await client.list_sites()}
        assert sites["cheap"].drained and sites["cheap"].drained_at > 0
        assert not sites["near"].drained
        (q,) = (await client.place([workload("next")])).placements
        assert q.site_id == "near"
        snapshot = await client.snapshot()
        assert [v.site_id for v in snapshot.sites if v.drained] == ["cheap"]
        with pytest.raises(NotFoundError, match="known sites: cheap, near"):
            await client.drain_site("mars")
        assert not (await client.undrain_site("cheap")).drained
        with pytest.raises(FailedPreconditionError, match="not drained"):
            await client.undrain_site("cheap")
        with pytest.raises(InvalidArgumentError) as info:
            await client.drain_site("")
        assert info.value.field == "site_id"


async def test_a_solver_error_reaches_the_client_as_internal_not_as_its_type(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A solver refusal that gets past the router's checks is INTERNAL, naming no solver type."""

    async def refuse() -> None:
        raise InvalidProblemError("hourly_price", "needs 24 values", owner="site 'cheap'")

    monkeypatch.setattr(served.router, "list_sites", refuse)
    async with RouterClient(served.target) as client:
        with pytest.raises(RpcError) as info:
            await client.list_sites()
    assert info.value.code == grpc.StatusCode.INTERNAL
    assert "site 'cheap': hourly_price: needs 24 values" in str(info.value)
    assert "InvalidProblemError" not in str(info.value)


async def test_no_site_up_is_failed_precondition(served: Served) -> None:
    """With every site offline, Place fails with FAILED_PRECONDITION."""
    served.registry.apply_status("cheap", AgentStatus("offline"))
    served.registry.apply_status("near", AgentStatus("offline"))
    async with RouterClient(served.target) as client:
        with pytest.raises(FailedPreconditionError):
            await client.place([workload("x")])


async def test_health_and_reflection_are_served(served: Served) -> None:
    """The standard health service says SERVING and reflection lists the Router service."""
    async with grpc.aio.insecure_channel(served.target) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME)
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        names: list[str] = []
        async for reply in stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        ):
            names += [s.name for s in reply.list_services_response.service]
    assert SERVICE_NAME in names


def test_listen_address_must_carry_its_port() -> None:
    """HOST:PORT with the port written out (0: any free one); whatever gRPC would read as
    port 443 is refused."""
    good = ("127.0.0.1:50051", "[::1]:0", ":7000", "0.0.0.0:65535")
    assert [listen_port(address) for address in good] == [50051, 0, 7000, 65535]
    for bad in ("127.0.0.1:", "127.0.0.1", "", "[::1]", "[::1]:", "::1", "h:x", "h:65536"):
        with pytest.raises(ValueError, match=r"HOST:PORT|port|brackets"):
            listen_port(bad)


async def test_listen_address_without_a_port_is_refused(served: Served) -> None:
    """start_server refuses ``127.0.0.1:`` rather than listen on 443."""
    with pytest.raises(ListenError, match="no port after ':'") as info:
        await start_server(served.router, "127.0.0.1:")
    assert info.value.address == "127.0.0.1:"


async def test_a_port_in_use_is_refused_not_shared(served: Served) -> None:
    """A second server on a port in use raises ListenError naming the address: gRPC would
    otherwise share the port (SO_REUSEPORT) and the two servers would split the calls."""
    with pytest.raises(ListenError, match="address already in use") as info:
        await start_server(served.router, served.target)
    assert info.value.address == served.target
    assert str(info.value).startswith(f"cannot listen on {served.target}: ")


async def test_a_port_taken_after_the_check_is_still_refused(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the check before the bind blind, gRPC's own bind refuses the port in use."""
    monkeypatch.setattr("netrouter.router.service._bind_error", lambda address, port: None)
    with pytest.raises(ListenError, match="could not bind"):
        await start_server(served.router, served.target)
