"""A background task that runs a step when woken, else every interval: what the failover
sweeper and the queue's starter share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class Periodic:
    """Runs ``step`` each time :meth:`wake` is called, else every ``interval_s``, until
    :meth:`stop`; ``step`` handles its own errors (one that escapes ends the task)."""

    def __init__(self, step: Callable[[], Awaitable[None]], interval_s: float, name: str) -> None:
        self._step, self._interval_s, self._name = step, interval_s, name
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Stop the task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Run the step now rather than at the next interval."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: a wake racing stop() must not swallow the cancel.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await self._wake.wait()
            self._wake.clear()
            await self._step()
