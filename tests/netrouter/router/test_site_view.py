"""The sites as the router sees them: capacities net of our work, and the priced view of
the up sites, cached between reports that change only capacity."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from netrouter.client.errors import FailedPreconditionError
from netrouter.contract.site_report import RunningPlacement, SiteReport, validate_report
from netrouter.contract.topics import AgentStatus
from netrouter.planning.network import NetworkModel
from netrouter.router.core import Router
from netrouter.router.site_view import (
    RUNNING_GRACE_S,
    VIEW_REFRESH_S,
    SitesViewCache,
    capacities,
    report_capacity,
    site_view,
)
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from tests.helpers.factories import placement, report_of, site_config, workload


def test_capacity_is_net_of_our_placements_and_never_negative() -> None:
    """Free devices are the available ones less ours, and zero when we hold more."""
    report = report_of(site_config("west", price=0.3, h100=16))
    ours = [placement("a", devices=4), placement("b", devices=2)]
    (h100,) = capacities(report, report_capacity(report, ours))
    assert (h100.placed, h100.free) == (6, 10)
    (shrunk,) = capacities(report, report_capacity(report, [placement("c", devices=40)]))
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


def _seeing(nodes: list[int], running: dict[str, int]) -> SiteReport:
    """West as an agent that sees placement ids reports it: 8-GPU nodes with these free
    devices, and work labelled with these ids (id → devices) running on them."""
    report = report_of(site_config("west", price=0.3, h100=16))
    (a,) = report.accelerators
    used = sum(running.values())
    shaped = replace(
        a,
        total=8 * len(nodes),
        healthy=8 * len(nodes),
        in_use_by_others=8 * len(nodes) - sum(nodes) - used,
        node_size=8,
        nodes_by_free=tuple(nodes.count(k) for k in range(9)),
    )
    report = replace(
        report,
        accelerators=(shaped,),
        sees_placements=True,
        running=tuple(
            RunningPlacement(placement_id=pid, model="H100", devices=d)
            for pid, d in running.items()
        ),
    )
    validate_report(report)
    return report


def test_our_work_the_site_shows_running_is_counted_once() -> None:
    """A placement the site shows running is in the site's own shape and counts once; one
    not shown yet is laid on the shape best fit."""
    # Two nodes: one with 8 free, one with 2 free after our running 'r' (6 devices).
    report = _seeing([8, 2], {"r": 6})
    ours = [placement("r", devices=6), placement("p", devices=2)]
    capacity = report_capacity(report, ours)
    key = ("west", "H100")
    assert capacity.free(key) == 8  # 16 available to us - 6 running - 2 pending
    shape = capacity.shape(key)
    assert shape is not None and shape.nodes_by_free == (1, 0, 0, 0, 0, 0, 0, 0, 1)


def test_work_the_router_does_not_know_is_used_and_flagged() -> None:
    """Running work labelled with an id the router does not know takes its devices and is
    listed in the site's view."""
    report = _seeing([8, 2], {"stray": 6})
    registry = SiteRegistry(hold_off_s=0.0)
    registry.apply_report(report)
    view = site_view(registry, report, report.timestamp, [])
    (h100,) = view.accelerators
    assert (h100.free, view.unknown_running, view.not_running) == (10, ("stray",), ())
    assert view.sees_placements


def test_a_placement_the_site_never_shows_is_flagged_after_the_grace() -> None:
    """Placed but not running: flagged once older than the grace, only where the site's
    agent sees placement ids."""
    now = time.time()
    report = replace(_seeing([8, 8], {}), timestamp=now)
    registry = SiteRegistry(hold_off_s=0.0)
    registry.apply_report(report)
    old = placement("old", created_at=now - RUNNING_GRACE_S - 1)
    new = placement("new", created_at=now - 1)
    view = site_view(registry, report, now, [old, new])
    assert view.not_running == ("old",)
    blind = replace(report, sees_placements=False)
    assert site_view(registry, blind, now, [old, new]).not_running == ()


def test_work_the_site_shows_running_can_stay_when_it_is_re_placed() -> None:
    """Re-placing our running 8-GPU job (rebalance, a dry run): its devices come back as
    a node of their own, so it fits where it runs although the site's shape shows no free
    node; work merely pending comes off the shape it was laid on."""
    report = _seeing([0, 3], {"r": 8})
    ours = [placement("r", devices=8), placement("p", devices=2)]
    key = ("west", "H100")
    capacity = report_capacity(report, ours)
    assert not capacity.fits(key, 8)
    again = capacity.copy().without([ours[0]])
    assert again.fits(key, 8)
    shape = again.shape(key)
    assert shape is not None and (shape.whole, shape.largest) == (1, 8)
    pending_gone = capacity.copy().without([ours[1]])
    shape = pending_gone.shape(key)
    assert shape is not None and shape.nodes_by_free == (1, 0, 0, 1, 0, 0, 0, 0, 0)
