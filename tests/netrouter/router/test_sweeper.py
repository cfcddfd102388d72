"""The failover sweeper: a site's work moves as soon as it is known to be down."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from netrouter.contract.topics import AgentStatus
from netrouter.router.core import Router, RouterSettings
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from netrouter.router.sweeper import FailoverSweeper
from tests.helpers.factories import report_of, site_config, until, workload


async def test_a_last_will_wakes_the_sweeper_before_its_poll() -> None:
    """An offline status makes the sweeper fail over at once, not an hour-long poll later."""
    registry = SiteRegistry(hold_off_s=0.0)
    registry.apply_report(report_of(site_config("west", price=0.3, h100=8)))
    called = asyncio.Event()

    async def fail_over() -> int:
        called.set()
        return 1

    sweeper = FailoverSweeper(
        registry=registry,
        sites_with_work=lambda: {"west"},
        fail_over=fail_over,
        interval_s=3600.0,
    )
    registry.on_down = sweeper.site_going_down
    sweeper.start()
    try:
        registry.apply_status("west", AgentStatus("offline"))
        await asyncio.wait_for(called.wait(), timeout=10)
    finally:
        await sweeper.stop()


async def test_last_will_fails_over_as_its_grace_ends_not_a_poll_later(tmp_path: Path) -> None:
    """A last will with a grace moves the site's work when the grace ends, not at the next
    failover poll."""
    registry = SiteRegistry(hold_off_s=0.0)
    registry.apply_report(report_of(site_config("west", price=0.3, h100=32)))
    registry.apply_report(report_of(site_config("east", price=1.0, h100=32)))
    store = PlacementStore(tmp_path / "router.db")
    settings = RouterSettings(sweep_interval_s=60.0)
    async with Router(registry=registry, store=store, settings=settings) as router:
        placed = await router.place([workload("a")])
        assert placed.placements[0].site_id == "west"
        started = time.monotonic()
        registry.apply_status("west", AgentStatus("offline"), grace_s=0.3)
        await until(
            lambda: [p.site_id for p in router.active_placements()] == ["east"],
            "the work moved east",
            timeout=10,
        )
        assert 0.3 <= time.monotonic() - started < 5.0
    store.close()
