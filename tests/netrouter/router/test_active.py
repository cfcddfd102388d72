"""The in-memory mirror of the active placements: changes applied in order, undone exactly."""

from __future__ import annotations

from dataclasses import replace

from netrouter.client.types import ACTIVE, MOVED, PLACED, RELEASED, Placement
from netrouter.router.active import ActivePlacements
from netrouter.router.store import Change
from tests.helpers.factories import workload


def _running(pid: str, site: str, devices: int = 8) -> Placement:
    return Placement(
        placement_id=pid,
        workload=workload(f"w-{pid}"),
        site_id=site,
        accelerator_model="H100",
        devices=devices,
        energy_kwh=1.0,
        energy_cost_yuan=0.5,
        cost_per_hour_yuan=0.5,
        carbon_kg=0.4,
        latency_ms=3.0,
        explanation="test",
        state=ACTIVE,
        created_at=0.0,
    )


def test_changes_move_devices_between_sites() -> None:
    """A placement, a move and a release leave the devices where the last change put them."""
    a, b = _running("a", "west"), _running("b", "west", devices=4)
    active = ActivePlacements([a])
    active.apply(
        [
            Change(kind=PLACED, placement=b),
            Change(kind=MOVED, placement=replace(b, site_id="east"), from_site_id="west"),
            Change(kind=RELEASED, placement=replace(a, state=RELEASED)),
        ]
    )
    assert active.held() == {("east", "H100"): 4}
    assert active.sites_with_work() == {"east"}
    assert active.placed("w-b") and not active.placed("w-a")
    assert len(active) == 1


def test_undo_restores_exactly_what_was_there() -> None:
    """Undoing applied changes brings back every placement as it was, and its devices."""
    a = _running("a", "west")
    active = ActivePlacements([a])
    undo = active.apply(
        [
            Change(kind=MOVED, placement=replace(a, site_id="east"), from_site_id="west"),
            Change(kind=PLACED, placement=_running("b", "east", devices=2)),
        ]
    )
    active.undo(undo)
    assert active.all() == [a]
    assert active.held() == {("west", "H100"): 8}
    assert not active.placed("w-b")
