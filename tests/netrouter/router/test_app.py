"""The wiring of ``netrouter serve``: store, router, gRPC, metrics and MQTT ingest start
together from one settings object, and stop leaving the store free."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest

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
