"""The world a scenario changes: built from a snapshot, copied apart, and its hub caps."""

from __future__ import annotations

import pytest

from netrouter.client.types import MIN_REMAINING_H, Link, SiteView, Snapshot
from netrouter.client.world import World
from netrouter.contract.site_report import SiteReport
from tests.helpers.factories import placement, report_of, scenario_world, site_config


def _view(r: SiteReport, *, up: bool = True, over_pue_cap: bool = False) -> SiteView:
    return SiteView(
        site_id=r.site_id,
        labels=r.labels,
        up=up,
        down_reason="" if up else "stale",
        report_age_s=0.0,
        pue=r.pue,
        price_now_yuan_per_kwh=0.3,
        carbon_kg_per_kwh=0.5,
        accelerators=(),
        latencies=(),
        over_pue_cap=over_pue_cap,
    )


def test_a_snapshot_gives_up_sites_links_and_the_rest_of_running_work() -> None:
    west = report_of(site_config("west"))
    east = report_of(site_config("east", side="east"))
    half_done = placement("p1", "west", created_at=8_200.0)
    nearly_done = placement("p2", "east", created_at=0.0)
    link = Link(a="csj", b="gba", latency_ms=10.0)
    snap = Snapshot(
        taken_at=10_000.0,
        site_reports=(west, east),
        placements=(half_done, nearly_done),
        sites=(_view(west, over_pue_cap=True), _view(east, up=False)),
        links=(link,),
        last_event_id=7,
        pue_cap_hysteresis=0.02,
    )
    world = World.from_snapshot(snap)
    assert world.at == snap.taken_at
    assert world.up == {"west"}
    assert world.over_pue_cap == {"west"}
    assert world.pue_cap_hysteresis == 0.02
    assert world.links == [link]
    assert set(world.reports) == {"west", "east"}
    assert world.running == {"w-p1": "west", "w-p2": "east"}
    left = {w.id: w for w in world.workloads}
    assert left["w-p1"].duration_h == pytest.approx(0.5)
    assert left["w-p1"].current_site == "west"
    assert left["w-p2"].duration_h == pytest.approx(MIN_REMAINING_H)  # overdue: a minute
    later = World.from_snapshot(snap, at=8_200.0 + 900.0)
    assert {w.id: w.duration_h for w in later.workloads}["w-p1"] == pytest.approx(0.75)


def test_a_copy_changes_apart_from_the_original() -> None:
    world = scenario_world()
    copy = world.copy()
    copy.up.discard("east")
    copy.workloads.pop()
    copy.reports.pop("west")
    copy.hub_max_pue["ea"] = 1.2
    copy.running["x"] = "west"
    assert world.up == {"east", "west"}
    assert len(world.workloads) == 5
    assert set(world.reports) == {"east", "west"}
    assert world.hub_max_pue == {} and world.running == {}


def test_hub_caps_are_the_tightest_of_the_sites_and_the_scenario() -> None:
    world = scenario_world()
    assert world.pue_caps() == {"ea": 1.25, "we": 1.25}
    world.hub_max_pue = {"ea": 1.3, "we": 1.2, "xx": 1.4}
    assert world.pue_caps() == {"ea": 1.25, "we": 1.2, "xx": 1.4}
    tight = report_of(site_config("east", side="east", pue_cap=1.22))
    world.reports["east"] = tight
    assert world.pue_caps()["ea"] == 1.22
