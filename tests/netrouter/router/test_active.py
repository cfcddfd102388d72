"""The in-memory mirror of the active placements: changes applied in order, undone exactly."""

from __future__ import annotations

from dataclasses import replace

from netrouter.client.types import MOVED, PLACED, RELEASED
from netrouter.router.active import ActivePlacements
from netrouter.router.store import Change
from tests.helpers.factories import placement


def test_changes_move_devices_between_sites() -> None:
    """A placement, a move and a release leave the devices where the last change put them."""
    a, b = placement("a", "west"), placement("b", "west", devices=4)
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
    a = placement("a", "west")
    active = ActivePlacements([a])
    undo = active.apply(
        [
            Change(kind=MOVED, placement=replace(a, site_id="east"), from_site_id="west"),
            Change(kind=PLACED, placement=placement("b", "east", devices=2)),
        ]
    )
    active.undo(undo)
    assert active.all() == [a]
    assert active.held() == {("west", "H100"): 8}
    assert not active.placed("w-b")
