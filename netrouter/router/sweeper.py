"""The failover sweeper: moves the work off sites that went down, at once on a last will,
else when a poll finds a site whose reports stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable

from netrouter.client.errors import RouterError
from netrouter.router.background import Periodic
from netrouter.router.decisions import needs_failover
from netrouter.router.state import SiteRegistry

log = logging.getLogger(__name__)


class FailoverSweeper:
    """Calls ``fail_over`` whenever a site with work is down: woken by a last will (and
    again as its grace ends), else every ``interval_s``."""

    def __init__(
        self,
        *,
        registry: SiteRegistry,
        sites_with_work: Callable[[], set[str]],
        fail_over: Callable[[], Awaitable[int]],
        interval_s: float,
    ) -> None:
        self._registry = registry
        self._sites_with_work = sites_with_work
        self._fail_over = fail_over
        self._task = Periodic(self._sweep, interval_s, "failover-sweeper")

    def start(self) -> None:
        """Start sweeping (once)."""
        self._task.start()

    async def stop(self) -> None:
        """Stop sweeping."""
        await self._task.stop()

    def site_going_down(self, site_id: str) -> None:
        """A last will: sweep now, and again the moment its grace ends (not a poll later)."""
        self._task.wake()
        wait = self._registry.offline_in(site_id)
        if 0 < wait < math.inf:
            with contextlib.suppress(RuntimeError):  # no loop running: the poll will do
                # A hair after: the registry's clock is not the loop's.
                asyncio.get_running_loop().call_later(wait + 0.01, self._task.wake)

    async def _sweep(self) -> None:
        if not any(needs_failover(self._registry, s) for s in self._sites_with_work()):
            return
        try:
            await self._fail_over()
        except RouterError as exc:
            log.error("failover failed: %s; retrying", exc)
