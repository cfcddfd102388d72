"""The CLI commands' shared fixture: a real router fed by two real agents over MQTT."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from netrouter.cli.embedded_broker import EmbeddedBroker
from netrouter.router.app import RouterApp, ServeSettings
from site_agents.publisher import SiteAgent
from tests.helpers.factories import site_config, until


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[str]:
    """A router with two agents (one west and cheap, one east and near) on an embedded broker."""
    async with EmbeddedBroker() as broker:
        settings = ServeSettings(
            mqtt=broker.address,
            listen="127.0.0.1:0",
            db_path=tmp_path / "r.db",
            shutdown_grace_s=1.0,
        )
        async with RouterApp(settings) as app:
            stop = asyncio.Event()
            regions = {"jjj": 5.0, "csj": 5.0, "gba": 5.0, "cy": 5.0}
            configs = [
                site_config("west", price=0.3, h100=64, a100=64, latency=regions),
                site_config(
                    "east",
                    side="east",
                    price=0.9,
                    h100=64,
                    a100=64,
                    pue=1.2,
                    latency=dict.fromkeys(regions, 2.0) | {"jjj": 25.0},
                ),
            ]
            tasks = [asyncio.create_task(SiteAgent(c, broker.address).run(stop)) for c in configs]
            await until(lambda: len(app.registry.up_reports()) >= 2, "both agents' reports")
            yield app.target
            stop.set()
            await asyncio.gather(*tasks)
