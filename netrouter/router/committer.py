"""The committer: every change to the placements, in order, made durable in groups.

A request becomes an operation on a queue; the committer takes every operation waiting (up
to a group size), decides each against the in-memory state (which the ones before it in the
group already changed), writes all their changes to the store in one transaction, and only
then answers them and tells the watchers. So no two calls can book the same devices, an
answer means the change is durable, and a burst of small calls costs one disk sync instead
of one each. If the write fails, the in-memory changes are undone and every call of the
group fails with UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from netrouter.client.errors import RouterError
from netrouter.client.types import PlacementEvent
from netrouter.router.active import ActivePlacements, Prior
from netrouter.router.events import EventHub
from netrouter.router.operations import Decision, Op
from netrouter.router.store import PlacementStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Queued:
    """An operation waiting for the committer, and the caller waiting for its answer."""

    op: Op
    future: asyncio.Future[Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Decided:
    """A decided operation of the group being committed, and how to take its changes back."""

    queued: _Queued
    decision: Decision[Any]
    undo: list[Prior]


class Committer:
    """Runs operations one at a time and commits them in groups (see the module docstring)."""

    def __init__(
        self,
        *,
        decide: Callable[[Op], Awaitable[Decision[Any]]],
        active: ActivePlacements,
        store: PlacementStore,
        hub: EventHub,
        clock: Callable[[], float],
        max_group: int,
        on_commit: Callable[[Sequence[PlacementEvent]], None] | None = None,
    ) -> None:
        self._decide = decide
        self._active = active
        self._store = store
        self._hub = hub
        self._clock = clock
        self._max_group = max_group
        self._on_commit = on_commit
        self._queue: asyncio.Queue[_Queued] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the committer task (once; submitting starts it too)."""
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="committer")

    async def stop(self) -> None:
        """Finish the queued operations, then stop."""
        if self._queue is not None and self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def submit(self, op: Op) -> Any:
        """Queue ``op``; its answer once its changes are durable (or its error)."""
        self.start()
        assert self._queue is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Queued(op=op, future=future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            group = [await queue.get()]
            while len(group) < self._max_group and not queue.empty():
                group.append(queue.get_nowait())
            try:
                await self._commit_group(group)
            except Exception as exc:  # a bug must not kill the committer
                log.exception("committer failed on a group of %d operations", len(group))
                for queued in group:
                    if not queued.future.done():
                        queued.future.set_exception(exc)
            finally:
                for _ in group:
                    queue.task_done()

    async def _commit_group(self, group: list[_Queued]) -> None:
        decided: list[_Decided] = []
        for queued in group:
            if queued.future.cancelled():
                continue  # the caller gave up before we started: do nothing for it
            try:
                decision = await self._decide(queued.op)
            except RouterError as exc:
                queued.future.set_exception(exc)
                continue
            undo = self._active.apply(decision.changes)
            decided.append(_Decided(queued=queued, decision=decision, undo=undo))
        changes = [c for d in decided for c in d.decision.changes]
        events: list[PlacementEvent] = []
        if changes:
            try:
                events = await asyncio.to_thread(self._store.commit, changes, self._clock())
            except Exception as exc:
                # Nothing is durable: take the group's changes back out of memory too.
                for d in reversed(decided):
                    self._active.undo(d.undo)
                if not isinstance(exc, RouterError):
                    raise  # a bug: each call of the group gets it (see _run)
                log.error("store write of %d changes failed: %s", len(changes), exc)
                for d in decided:
                    if not d.queued.future.done():
                        d.queued.future.set_exception(exc)
                return
            self._hub.publish(events)
            if self._on_commit is not None:
                self._on_commit(events)
        committed = {e.placement.placement_id: e.placement for e in events}
        for d in decided:
            if not d.queued.future.done():
                d.queued.future.set_result(d.decision.answer(committed))
