"""The SQLite placement store: atomic, durable, no double activation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from netrouter.client.errors import AlreadyExistsError, NotFoundError
from netrouter.client.types import ACTIVE, RELEASED, Placement
from netrouter.router.store import PlacementStore
from tests.helpers.factories import placement


def _placement(pid: str, wid: str, site: str = "alpha", devices: int = 8) -> Placement:
    """An active placement of the workload ``wid``, created now."""
    return placement(pid, site, workload_id=wid, devices=devices, created_at=time.time())


def test_placements_survive_reopen(tmp_path: Path) -> None:
    """What was added is there, equal, after closing and reopening the file."""
    path = tmp_path / "p.db"
    store = PlacementStore(path)
    placed = [_placement("p1", "w1"), _placement("p2", "w2", site="beta", devices=4)]
    events = store.add(placed)
    store.close()
    again = PlacementStore(path)
    assert again.get("p1") == events[0].placement
    assert again.get("p1").workload == placed[0].workload
    assert [e.kind for e in again.events_after(0)] == ["placed", "placed"]
    assert again.usage() == {("alpha", "H100"): 8, ("beta", "H100"): 4}


def test_release_frees_usage_and_is_all_or_nothing(tmp_path: Path) -> None:
    """Releasing a known and an unknown id fails whole; releasing known ids frees them."""
    store = PlacementStore(tmp_path / "p.db")
    store.add([_placement("p1", "w1"), _placement("p2", "w2")])
    with pytest.raises(NotFoundError):
        store.release(["p1", "nope"])
    assert store.get("p1").state == ACTIVE
    released = store.release(["p1"])
    assert [p.state for p in released] == [RELEASED]
    assert store.usage() == {("alpha", "H100"): 8}
    with pytest.raises(NotFoundError):
        store.release(["p1"])


def test_batch_with_duplicate_active_workload_commits_nothing(tmp_path: Path) -> None:
    """A second active placement of the same workload is refused and the batch rolls back."""
    store = PlacementStore(tmp_path / "p.db")
    store.add([_placement("p1", "w1")])
    with pytest.raises(AlreadyExistsError):
        store.add([_placement("p2", "w2"), _placement("p3", "w1")])
    assert store.usage() == {("alpha", "H100"): 8}
    with pytest.raises(NotFoundError):
        store.get("p2")


def test_pages_cover_every_placement_once(tmp_path: Path) -> None:
    """Following next-page cursors lists each placement exactly once, in commit order."""
    store = PlacementStore(tmp_path / "p.db")
    store.add([_placement(f"p{i:02d}", f"w{i}") for i in range(7)])
    seen: list[str] = []
    cursor = 0
    while True:
        page, nxt = store.page(limit=3, after_seq=cursor)
        seen += [p.placement_id for p in page]
        if nxt is None:
            break
        cursor = nxt
    assert seen == [f"p{i:02d}" for i in range(7)]
