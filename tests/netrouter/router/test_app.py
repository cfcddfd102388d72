"""The wiring of ``netrouter serve``: store, router, gRPC, metrics and MQTT ingest start
together from one settings object, and stop leaving the store free."""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from netrouter.cli.embedded_broker import free_port
from netrouter.client.router_client import RouterClient
from netrouter.client.types import RELEASED
from netrouter.contract.broker import BrokerAddress
from netrouter.router.app import RouterApp, ServeSettings
from site_agents.publisher import SiteAgent
from tests.helpers.factories import site_config, until, workload

pytestmark = pytest.mark.mqtt


def _settings(broker: BrokerAddress, db: Path) -> ServeSettings:
    return ServeSettings(
        mqtt=broker,
        listen="127.0.0.1:0",
        db_path=db,
        metrics_port=0,
        shutdown_grace_s=1.0,
    )


async def test_a_router_app_hears_agents_serves_places_and_counts(
    broker: BrokerAddress, tmp_path: Path
) -> None:
    """An agent's report reaches the registry over MQTT, a client places over gRPC on the
    port picked, the metrics endpoint counts it, and a restart on the same store finds it."""
    db = tmp_path / "router.db"
    stop = asyncio.Event()
    async with RouterApp(_settings(broker, db)) as app:
        agent = asyncio.create_task(SiteAgent(site_config("west"), broker).run(stop))
        await until(lambda: len(app.registry.up_reports()) == 1, "the agent's report")
        assert app.port > 0 and app.metrics_port > 0
        async with RouterClient(app.target) as client:
            (placed,) = (await client.place([workload("w1")])).placements
        assert placed.site_id == "west"
        url = f"http://127.0.0.1:{app.metrics_port}/metrics"
        scrape = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
        assert b"netrouter_active_placements 1.0" in scrape
        stop.set()
        await agent
    async with RouterApp(_settings(broker, db)) as again, RouterClient(again.target) as client:
        (kept,) = await client.release([placed.placement_id[:8]])
    assert kept.placement_id == placed.placement_id and kept.state == RELEASED


async def test_stopping_ends_open_watches_at_once_and_they_resume_at_the_next_router(
    broker: BrokerAddress, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An open watch does not hold the shutdown for its grace (5 s): the router ends the
    stream (UNAVAILABLE) as it stops, and the client, retrying as long as it takes once
    its stream was up, resumes at the router started next on the same address and store,
    missing and repeating nothing."""
    address = f"127.0.0.1:{free_port()}"
    settings = replace(_settings(broker, tmp_path / "router.db"), listen=address)
    settings = replace(settings, shutdown_grace_s=5.0)
    stop = asyncio.Event()
    agent = asyncio.create_task(SiteAgent(site_config("west"), broker).run(stop))
    seen: list[int] = []
    caplog.set_level(logging.WARNING, logger="netrouter.client.router_client")
    async with RouterClient(address, retries=0, backoff_max_s=0.5) as client:

        async def follow() -> None:
            async for event in client.watch(from_start=True):
                seen.append(event.event_id)

        first = RouterApp(settings)
        await first.__aenter__()
        try:
            await until(lambda: len(first.registry.up_reports()) == 1, "the agent's report")
            watcher = asyncio.create_task(follow())
            await client.place([workload("w1")])
            await until(lambda: seen == [1], "the first event")
        finally:
            started = time.monotonic()
            await first.__aexit__(None, None, None)
            stopped_in = time.monotonic() - started
        assert stopped_in < 2.0, f"stopping took {stopped_in:.1f} s: it waited for the watch"
        async with RouterApp(settings) as second:
            await until(lambda: len(second.registry.up_reports()) == 1, "the agent again")
            await client.place([workload("w2")])
            await until(lambda: len(seen) == 2, "the event at the next router")
        assert seen == [1, 2]
        assert not watcher.done(), "the watch follows on, not ended by the restart"
        watcher.cancel()
    stop.set()
    await agent
    assert "the router is stopping" in caplog.text
