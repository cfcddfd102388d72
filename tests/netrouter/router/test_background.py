"""The background task both the failover sweeper and the queue's starter run on."""

from __future__ import annotations

import asyncio

from netrouter.router.background import Periodic
from tests.helpers.factories import until


async def test_a_step_runs_when_woken_and_every_interval() -> None:
    runs: list[float] = []

    async def step() -> None:
        runs.append(asyncio.get_running_loop().time())

    task = Periodic(step, interval_s=30.0, name="t")
    task.start()
    task.wake()
    await until(lambda: len(runs) == 1, "the woken step")
    await task.stop()
    quick = Periodic(step, interval_s=0.01, name="t")
    quick.start()
    await until(lambda: len(runs) >= 4, "steps at each interval")
    await quick.stop()


async def test_stop_wins_over_a_wake_at_the_same_moment() -> None:
    """A wake just before stop() must not swallow the cancel (asyncio.wait_for could)."""

    async def step() -> None:
        return None

    for _ in range(50):
        task = Periodic(step, interval_s=0.5, name="t")
        task.start()
        await asyncio.sleep(0)
        task.wake()
        stopping = asyncio.ensure_future(task.stop())
        done, _ = await asyncio.wait({stopping}, timeout=5.0)  # not cancelled if late
        assert done, "stop() did not end the task"
