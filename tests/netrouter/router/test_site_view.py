"""The sites as the router sees them: capacities net of our work, and the priced view of
the up sites, cached between reports that change only capacity."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from netrouter.client.errors import FailedPreconditionError
from netrouter.contract.topics import AgentStatus
from netrouter.planning.network import NetworkModel
from netrouter.router.core import Router
from netrouter.router.site_view import (
    VIEW_REFRESH_S,
    SitesViewCache,
    capacities,
    report_capacity,
)
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from tests.helpers.factories import report_of, site_config, workload


def test_capacity_is_net_of_our_placements_and_never_negative() -> None:
    """Free devices are the available ones less ours, and zero when we hold more."""
    report = report_of(site_config("west", price=0.3, h100=16))
    (h100,) = capacities(report, report_capacity(report, lambda key: [4, 2]))
    assert (h100.placed, h100.free) == (6, 10)
    (shrunk,) = capacities(report, report_capacity(report, lambda key: [40]))
    assert (shrunk.placed, shrunk.free) == (40, 0)


def test_no_site_up_is_a_failed_precondition() -> None:
    """With every known site down, the priced view refuses, naming how many are known."""
    registry = SiteRegistry(hold_off_s=0.0)
    registry.apply_report(report_of(site_config("west", price=0.3, h100=16)))
    registry.apply_status("west", AgentStatus("offline"))
    views = SitesViewCache(registry=registry, network=NetworkModel(), clock=time.time)
    with pytest.raises(FailedPreconditionError, match="of 1 known"):
        views.get()


def test_the_view_is_reused_within_a_refresh_and_rebuilt_after() -> None:
    """The same instant's view is the same object; one a refresh later is a new one."""
    registry = SiteRegistry(hold_off_s=0.0)
    registry.apply_report(report_of(site_config("west", price=0.3, h100=16)))
    views = SitesViewCache(registry=registry, network=NetworkModel(), clock=time.time)
    now = time.time()
    first = views.get(now)
    assert views.get(now) is first
    assert views.get(now + VIEW_REFRESH_S * 1.5) is not first


async def test_newer_report_counts_at_once_for_capacity_and_in_a_refresh_for_price(
    tmp_path: Path,
) -> None:
    """A newer report's capacity counts on the very next Place; its price within a refresh."""
    registry = SiteRegistry(hold_off_s=0.0)
    west = report_of(site_config("west", price=0.3, h100=16))
    registry.apply_report(west)
    registry.apply_report(report_of(site_config("east", price=1.0, h100=16)))
    store = PlacementStore(tmp_path / "router.db")
    # The router's clock, moved on by hand: a refresh passes without waiting for one.
    skew = [0.0]
    async with Router(
        registry=registry, store=store, clock=lambda: time.time() + skew[0]
    ) as router:
        first = await router.place([workload("a")])
        assert first.placements[0].site_id == "west"
        # Others take west's last 8 devices: the next Place, right away, must go east.
        h100 = west.accelerators[0]
        west = replace(
            west, sequence=west.sequence + 1, accelerators=(replace(h100, in_use_by_others=8),)
        )
        registry.apply_report(west)
        second = await router.place([workload("b")])
        assert second.placements[0].site_id == "east"
        await router.release([first.placements[0].placement_id, second.placements[0].placement_id])
        # West has room again but becomes the dearer site: once a refresh has passed, east wins.
        west = replace(
            west,
            sequence=west.sequence + 1,
            accelerators=(h100,),
            price_now_yuan_per_kwh=2.0,
            next_24h_yuan_per_kwh=(2.0,) * 24,
        )
        registry.apply_report(west)
        skew[0] += VIEW_REFRESH_S * 1.5
        third = await router.place([workload("c")])
        assert third.placements[0].site_id == "east"
    store.close()
