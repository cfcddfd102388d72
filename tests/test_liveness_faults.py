"""Nothing moved by a blip, against real processes: a broker outage, a stray second agent,
the demo run against a deployment's broker, and an operator removing a site that is gone."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from netrouter.client.errors import FailedPreconditionError
from netrouter.client.router_client import RouterClient
from netrouter.client.types import SiteView
from netrouter.contract.broker import mqtt_client
from netrouter.contract.topics import DEFAULT_TOPICS, STATUS_ONLINE, AgentStatus
from tests.helpers.factories import run_cli, site_dict, workload, write_site_toml
from tests.helpers.processes import Mosquitto, RouterProcess, StartAgent, StartRouter

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]  # each runs real processes for 10-25 s

REPORT_PERIOD_S = 0.5
"""The agents' reporting period (``site_dict``'s default ``interval_s``)."""

STRAY_RUN_S = 5.0
"""How long the stray second agent runs: part of the scenario (several report periods of
two agents side by side, as an operator's mistake would last), not a wait for an event."""

RETAINED_WINDOW_S = 1.0
"""How long a fresh subscriber listens for retained messages: a broker sends them at once
on subscribing, so none within this window means none is retained."""


async def _views(target: str) -> dict[str, SiteView]:
    async with RouterClient(target, timeout_s=5) as client:
        return {v.site_id: v for v in await client.list_sites()}


async def _wait_views(
    target: str, check: Callable[[dict[str, SiteView]], bool], what: str, timeout: float = 30.0
) -> dict[str, SiteView]:
    """Poll the router's site view until ``check`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        views = await _views(target)
        if check(views):
            return views
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {views}"
        await asyncio.sleep(0.1)


def _event_kinds(router: RouterProcess) -> list[str]:
    """The kind of every event the router stored, in order, read by SQLite."""
    with sqlite3.connect(router.db) as conn:
        return [row[0] for row in conn.execute("SELECT kind FROM events ORDER BY event_id")]


def _sites(tmp_path: Path, names: list[str]) -> dict[str, Path]:
    return {sid: write_site_toml(tmp_path / f"{sid}.toml", site_dict(sid, h100=8)) for sid in names}


async def test_broker_outage_of_four_ttls_moves_nothing_and_holds_no_site_down(
    mosquitto: Mosquitto,
    router_process: StartRouter,
    agent_process: StartAgent,
    tmp_path: Path,
) -> None:
    """Mosquitto down for 4 × the TTL and restarted without persistence (every retained
    report and status gone), with work on three sites: the router's own time cut off never
    counts against a TTL, the agents notice and come back within seconds, nothing is moved
    or evicted, and no site is held down afterwards."""
    ttl = 4.0
    # A silent site's work would move 2 s after its TTL: the outage (16 s) is far longer.
    router = router_process(
        mosquitto.address,
        f"[sites]\nmin_ttl_s = {ttl}\nttl_intervals = 1.0\nstale_grace_s = 2.0\nhold_off_s = 60.0\n",
    )
    names = ["west", "north", "south"]
    for path in _sites(tmp_path, names).values():
        agent_process(path, mosquitto.address)
    await _wait_views(router.target, lambda v: sum(s.up for s in v.values()) == 3, "3 sites up")
    async with RouterClient(router.target) as client:
        placed = await client.place([workload(f"job-{i}", demands={"H100": 8}) for i in range(3)])
    where = {p.placement_id: p.site_id for p in placed.placements}
    assert sorted(where.values()) == sorted(names)

    mosquitto.stop()
    # The outage lasts 4 TTLs by design (the scenario, not a wait for an event); it is
    # observed throughout: every site still takes work, as nothing says otherwise.
    outage_until = time.monotonic() + 4 * ttl
    while time.monotonic() < outage_until:
        views = await _views(router.target)
        assert all(v.up for v in views.values()), views
        await asyncio.sleep(0.5)  # paces the checks
    mosquitto.start()
    restarted = time.time()

    def reported_again(views: dict[str, SiteView]) -> bool:
        return all(v.up and v.report_age_s < time.time() - restarted for v in views.values())

    views = await _wait_views(router.target, reported_again, "every agent reporting again", 15)
    assert time.time() - restarted < 12, "agents and router reconnect within seconds"
    assert all(v.held_down_s == 0 for v in views.values()), views
    async with RouterClient(router.target) as client:
        active = {p.placement_id: p.site_id for p in await client.list_placements()}
    assert active == where
    kinds = _event_kinds(router)
    assert kinds.count("moved") == kinds.count("evicted") == 0, kinds


async def test_a_stray_second_agent_is_flagged_and_its_goodbye_takes_nothing_down(
    mosquitto: Mosquitto,
    router_process: StartRouter,
    agent_process: StartAgent,
    tmp_path: Path,
) -> None:
    """A second `netrouter-agent run` for a live site, stopped after 5 s, publishes its own
    'offline': the site stays up, its work stays put, the two agents were flagged while both
    ran, and the real agent answers the stray 'offline' so the retained status is its own."""
    router = router_process(mosquitto.address, "[sites]\nhold_off_s = 60.0\n")
    config = _sites(tmp_path, ["alpha"])["alpha"]
    agent_process(config, mosquitto.address)
    views = await _wait_views(router.target, lambda v: "alpha" in v and v["alpha"].up, "alpha up")
    (real_boot,) = views["alpha"].agents
    async with RouterClient(router.target) as client:
        placed = await client.place([workload("job", demands={"H100": 8})])
    assert [p.site_id for p in placed.placements] == ["alpha"]

    stray = agent_process(config, mosquitto.address)
    views = await _wait_views(
        router.target, lambda v: len(v["alpha"].agents) == 2, "both agents flagged"
    )
    assert views["alpha"].up
    shown = run_cli("netrouter", "sites", "--target", router.target)
    assert "duplicate agent (2)" in shown.stdout, shown.stdout
    # Not a wait for an event: the stray's run is part of the scenario (see STRAY_RUN_S).
    await asyncio.sleep(STRAY_RUN_S)
    stray.send_signal(signal.SIGTERM)
    assert stray.wait(10) == 0

    await _wait_views(
        router.target, lambda v: v["alpha"].agents == (real_boot,), "the stray forgotten"
    )
    # ... and it stays so, up, observed throughout two report periods.
    observe_until = time.monotonic() + 2 * REPORT_PERIOD_S
    while time.monotonic() < observe_until:
        views = await _views(router.target)
        assert views["alpha"].up and views["alpha"].held_down_s == 0, views["alpha"]
        await asyncio.sleep(0.05)
    async with mqtt_client(mosquitto.address) as reader:
        await reader.subscribe(DEFAULT_TOPICS.status("alpha"), qos=1)
        async with asyncio.timeout(5):
            message = await anext(aiter(reader.messages))
    assert isinstance(message.payload, bytes)
    assert AgentStatus.parse(message.payload) == AgentStatus(STATUS_ONLINE, real_boot)
    assert _event_kinds(router) == ["placed"]


async def test_demo_on_a_deployments_broker_touches_none_of_its_sites(
    mosquitto: Mosquitto,
    router_process: StartRouter,
    agent_process: StartAgent,
    tmp_path: Path,
) -> None:
    """`netrouter demo --mqtt` on a live deployment's broker keeps to topics of its own:
    the deployment's router sees no new site, fails nothing over, holds nothing down, and
    the demo leaves no retained message behind."""
    router = router_process(mosquitto.address)
    for path in _sites(tmp_path, ["alpha", "beta"]).values():
        agent_process(path, mosquitto.address)
    await _wait_views(router.target, lambda v: sum(s.up for s in v.values()) == 2, "2 sites up")
    async with RouterClient(router.target) as client:
        await client.place([workload("job", demands={"H100": 8})])

    demo = run_cli("netrouter", "demo", "--json", "--mqtt", mosquitto.address.url, timeout=180)
    assert demo.returncode == 0, demo.stderr

    views = await _views(router.target)
    assert sorted(views) == ["alpha", "beta"]
    assert all(v.up and v.held_down_s == 0 for v in views.values()), views
    assert _event_kinds(router) == ["placed"]
    retained: list[str] = []
    async with mqtt_client(mosquitto.address) as reader:
        await reader.subscribe("netrouter-demo/#", qos=1)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(RETAINED_WINDOW_S):
                async for message in reader.messages:
                    retained.append(str(message.topic))
    assert retained == []


async def test_an_operator_removes_a_site_that_is_gone_until_it_reports_again(
    mosquitto: Mosquitto,
    router_process: StartRouter,
    agent_process: StartAgent,
    tmp_path: Path,
) -> None:
    """`netrouter sites remove` is refused while the site has work, then forgets it for
    good: a router restarted on the broker's retained report does not bring it back; a new
    report from its agent does."""
    router = router_process(mosquitto.address, "[sites]\nhold_off_s = 0.0\n")
    configs = _sites(tmp_path, ["alpha", "gone"])
    agent_process(configs["alpha"], mosquitto.address)
    agent = agent_process(configs["gone"], mosquitto.address)
    await _wait_views(router.target, lambda v: sum(s.up for s in v.values()) == 2, "2 sites up")
    async with RouterClient(router.target) as client:
        placed = await client.place(
            [workload("job", demands={"H100": 8}, allowed_sites=frozenset({"gone"}))]
        )
        (p,) = placed.placements
        refused = run_cli("netrouter", "sites", "remove", "gone", "--target", router.target)
        assert refused.returncode == 1
        assert "1 active placement" in refused.stderr and p.placement_id in refused.stderr
        with pytest.raises(FailedPreconditionError):
            await client.remove_site("gone")
        await client.release([p.placement_id])
    agent.send_signal(signal.SIGTERM)
    agent.wait(10)
    await _wait_views(router.target, lambda v: not v["gone"].up, "gone down")

    unknown = run_cli("netrouter", "sites", "remove", "nowhere", "--target", router.target)
    assert unknown.returncode == 1 and "known sites: alpha, gone" in unknown.stderr
    removed = run_cli("netrouter", "sites", "remove", "gone", "--target", router.target)
    assert removed.returncode == 0, removed.stderr
    assert "removed site gone" in removed.stdout
    assert sorted(await _views(router.target)) == ["alpha"]

    router.stop()
    router.start()
    router.wait_serving()
    await _wait_views(router.target, lambda v: "alpha" in v and v["alpha"].up, "alpha back")
    assert sorted(await _views(router.target)) == ["alpha"], "the retained report is old news"

    agent_process(configs["gone"], mosquitto.address)
    await _wait_views(router.target, lambda v: "gone" in v and v["gone"].up, "gone reports again")
