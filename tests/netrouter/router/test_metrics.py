"""The router's metrics: committed events and active work, solve times, and the live site
values read at each scrape."""

from __future__ import annotations

from netrouter.client.types import AcceleratorCapacity, PlacementEvent, SiteView
from netrouter.router.metrics import RouterMetrics
from tests.helpers.factories import flagged_site_view, placement, report_of, site_config


def _event(n: int, kind: str) -> PlacementEvent:
    return PlacementEvent(
        event_id=n, kind=kind, placement=placement(f"p{n}"), from_site_id="", at=0.0
    )


def test_committed_events_count_by_kind_and_set_the_active_gauge() -> None:
    metrics = RouterMetrics()
    metrics.committed([_event(1, "placed"), _event(2, "placed"), _event(3, "released")], 1)
    metrics.committed([_event(4, "moved"), _event(5, "queued")], 4, 1)
    value = metrics.registry.get_sample_value
    assert value("netrouter_queued_workloads") == 1.0
    assert value("netrouter_placement_events_total", {"kind": "queued"}) == 1.0
    assert value("netrouter_placement_events_total", {"kind": "placed"}) == 2.0
    assert value("netrouter_placement_events_total", {"kind": "released"}) == 1.0
    assert value("netrouter_placement_events_total", {"kind": "moved"}) == 1.0
    assert value("netrouter_active_placements") == 4.0
    metrics.solved("cp-sat", 0.003)
    metrics.solved("cp-sat", 2.0)
    assert value("netrouter_solve_seconds_count", {"method": "cp-sat"}) == 2.0
    assert value("netrouter_solve_seconds_sum", {"method": "cp-sat"}) == 2.003
    assert value("netrouter_solve_seconds_bucket", {"method": "cp-sat", "le": "0.005"}) == 1.0


def test_live_site_values_are_read_at_every_scrape() -> None:
    labels = report_of(site_config("west")).labels
    views: list[SiteView] = []
    rejected: dict[str, int] = {}

    def view(up: bool, free: int, agents: tuple[str, ...]) -> SiteView:
        h100 = AcceleratorCapacity(
            model="H100", total=64, healthy=64, in_use_by_others=0, placed=64 - free,
            free=free, power_w=700.0,
        )  # fmt: skip
        return SiteView(
            site_id="west", labels=labels, up=up, down_reason="", report_age_s=2.5, pue=1.1,
            price_now_yuan_per_kwh=0.3, carbon_kg_per_kwh=0.5, accelerators=(h100,),
            latencies=(), agents=agents,
        )  # fmt: skip

    metrics = RouterMetrics()
    metrics.watch_live(lambda: views, lambda: rejected)
    value = metrics.registry.get_sample_value
    assert value("netrouter_site_up", {"site": "west"}) is None
    views.append(view(True, 40, ("a",)))
    rejected["stale"] = 3
    assert value("netrouter_site_up", {"site": "west"}) == 1.0
    assert value("netrouter_site_report_age_seconds", {"site": "west"}) == 2.5
    assert value("netrouter_site_free_devices", {"site": "west", "model": "H100"}) == 40.0
    assert value("netrouter_site_agents", {"site": "west"}) == 1.0
    assert value("netrouter_reports_rejected_total", {"reason": "stale"}) == 3.0
    views[0] = view(False, 8, ("a", "b"))
    assert value("netrouter_site_up", {"site": "west"}) == 0.0
    assert value("netrouter_site_free_devices", {"site": "west", "model": "H100"}) == 8.0
    assert value("netrouter_site_agents", {"site": "west"}) == 2.0


def test_whole_nodes_and_work_flags_are_read_at_every_scrape() -> None:
    """A shaped site exports its whole free nodes; a site that sees placement ids exports
    how many of ours it does not show and how many ids it runs that we do not know."""
    view = flagged_site_view()
    metrics = RouterMetrics()
    metrics.watch_live(lambda: [view], dict)
    value = metrics.registry.get_sample_value
    assert value("netrouter_site_free_whole_nodes", {"site": "west", "model": "H100"}) == 2.0
    assert value("netrouter_site_placements_not_running", {"site": "west"}) == 2.0
    assert value("netrouter_site_unknown_running", {"site": "west"}) == 1.0
