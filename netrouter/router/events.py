"""Fan-out of committed placement events to live watchers.

Each watcher has a bounded queue. A watcher too slow to keep up is marked ``overflowed``
instead of slowing the committer down; it then re-reads what it missed from the store (see
:meth:`netrouter.router.core.Router.watch`), so no event is ever lost to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from netrouter.client.types import PlacementEvent


class Subscription:
    """One watcher's queue of live events (``None`` marks the end)."""

    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[PlacementEvent | None] = asyncio.Queue(size)
        self.overflowed = False

    async def get(self) -> PlacementEvent | None:
        """The next live event, or ``None`` when the hub closed."""
        return await self._queue.get()

    def offer(self, event: PlacementEvent | None) -> None:
        if event is None:
            # The end wins over catching up: the watcher resumes elsewhere anyway.
            self._drain()
            self.overflowed = False
            self._queue.put_nowait(None)
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    def recover(self) -> None:
        """Drop what is queued and clear the overflow (the caller re-reads the store)."""
        self._drain()
        self.overflowed = False

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()


class EventHub:
    """Publishes committed events, in commit order, to every subscription."""

    def __init__(self, queue_size: int = 10_000) -> None:
        self._size = queue_size
        self._subscriptions: set[Subscription] = set()
        self.last_event_id = 0
        self.closed = False

    def subscribe(self) -> Subscription:
        """A new watcher's queue; once the hub is closed it holds only the end."""
        sub = Subscription(self._size)
        self._subscriptions.add(sub)
        if self.closed:
            sub.offer(None)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    @property
    def watchers(self) -> int:
        return len(self._subscriptions)

    def publish(self, events: Sequence[PlacementEvent]) -> None:
        for event in events:
            self.last_event_id = max(self.last_event_id, event.event_id)
            for sub in self._subscriptions:
                sub.offer(event)

    def close(self) -> None:
        """End every watch, and each one subscribed later (the router is stopping)."""
        self.closed = True
        for sub in self._subscriptions:
            sub.offer(None)
