"""The committer: operations decided in order, written in groups, undone when a write fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from netrouter.client.errors import NotFoundError, UnavailableError
from netrouter.client.types import PLACED, Placement, PlacementEvent
from netrouter.router.active import ActivePlacements
from netrouter.router.committer import Committer
from netrouter.router.events import EventHub
from netrouter.router.operations import Decision, Op, PlaceOp
from netrouter.router.store import Change, PlacementStore
from tests.helpers.factories import placement, workload

COMMIT_AT = 1_000.0


def _placement(pid: str) -> Placement:
    """An active placement ``p-W`` of the workload ``W`` at west."""
    return placement(pid, "west", workload_id=pid.removeprefix("p-"))


def _place(workload_id: str) -> PlaceOp:
    return PlaceOp(workloads=(workload(workload_id),))


def _stamp(placed: list[Placement], committed: Mapping[str, Placement]) -> list[Placement]:
    return [committed.get(p.placement_id, p) for p in placed]


async def _place_each(op: Op) -> Decision[Any]:
    """A stand-in decision: each workload placed as ``p-<its id>``; workload ``missing``
    is refused."""
    assert isinstance(op, PlaceOp)
    if any(w.id == "missing" for w in op.workloads):
        raise NotFoundError("missing")
    placed = [_placement(f"p-{w.id}") for w in op.workloads]
    changes = tuple(Change(kind=PLACED, placement=p) for p in placed)
    return Decision(result=placed, changes=changes, stamp=_stamp)


class _CountingStore(PlacementStore):
    """A store that counts its transactions and can be made to fail them."""

    commits = 0
    failing = False

    def commit(self, changes: Sequence[Change], at: float | None = None) -> list[PlacementEvent]:
        self.commits += 1
        if self.failing:
            raise UnavailableError("the disk is gone")
        return super().commit(changes, at)


@asynccontextmanager
async def _committer(store: PlacementStore, active: ActivePlacements) -> AsyncIterator[Committer]:
    committer = Committer(
        decide=_place_each,
        active=active,
        store=store,
        hub=EventHub(),
        clock=lambda: COMMIT_AT,
        max_group=512,
    )
    try:
        yield committer
    finally:
        await committer.stop()


async def test_operations_queued_together_are_one_store_write(tmp_path: Path) -> None:
    """Operations waiting at once are written in one transaction, each answered as stored."""
    store = _CountingStore(tmp_path / "router.db")
    async with _committer(store, ActivePlacements()) as committer:
        answers = await asyncio.gather(*(committer.submit(_place(f"w{i}")) for i in range(5)))
    assert store.commits == 1
    assert [p.placement_id for (p,) in answers] == [f"p-w{i}" for i in range(5)]
    assert {p.updated_at for (p,) in answers} == {COMMIT_AT}
    store.close()


async def test_a_refused_operation_leaves_the_rest_of_its_group(tmp_path: Path) -> None:
    """An operation refused by its decision fails alone; the others are committed."""
    store = PlacementStore(tmp_path / "router.db")
    active = ActivePlacements()
    async with _committer(store, active) as committer:
        good: list[Placement] | BaseException
        bad: list[Placement] | BaseException
        good, bad = await asyncio.gather(
            committer.submit(_place("w1")),
            committer.submit(_place("missing")),
            return_exceptions=True,
        )
    assert isinstance(bad, NotFoundError)
    assert isinstance(good, list)
    assert [p.placement_id for p in good] == ["p-w1"]
    assert [p.placement_id for p in store.active()] == ["p-w1"]
    store.close()


async def test_a_failed_write_undoes_the_group_and_fails_each_call(tmp_path: Path) -> None:
    """When the store write fails, memory is as before the group and every call fails."""
    store = _CountingStore(tmp_path / "router.db")
    store.failing = True
    before = _placement("p-before")
    active = ActivePlacements([before])
    async with _committer(store, active) as committer:
        results = await asyncio.gather(
            committer.submit(_place("w1")),
            committer.submit(_place("w2")),
            return_exceptions=True,
        )
    assert all(isinstance(r, UnavailableError) for r in results)
    assert active.all() == [before]
    assert active.held() == {("west", "H100"): 8}
    store.close()
