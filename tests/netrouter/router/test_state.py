"""The site registry's judgement: agents by boot id, a silent site's grace, the router's own
broker outage, duplicate agents and removed sites (a clock injected, no sleeps)."""

from __future__ import annotations

from netrouter.contract.site_report import SiteReport, decode_report
from netrouter.contract.topics import STATUS_OFFLINE, STATUS_ONLINE, AgentStatus
from netrouter.router.state import SiteRegistry
from site_agents.report import ReportBuilder
from tests.helpers.factories import site_config

TTL = 5.0
"""The registry's TTL here: 3 × a 1 s period, at least ``min_ttl_s`` = 5 s."""


class Agent:
    """An agent of site ``alpha`` as the registry hears it: numbered reports, one boot id."""

    def __init__(self, registry: SiteRegistry, clock: list[float]) -> None:
        self.registry, self.clock = registry, clock
        self.builder = ReportBuilder(site_config("alpha", interval_s=1.0), clock=lambda: clock[0])
        self.boot_id = self.builder.boot_id

    def report(self, *, live: bool = True) -> SiteReport:
        report = decode_report("alpha", self.builder.build().SerializeToString())
        self.registry.apply_report(report, live=live)
        return report

    def status(self, state: str, *, grace_s: float = 0.0) -> None:
        self.registry.apply_status("alpha", AgentStatus(state, self.boot_id), grace_s=grace_s)


def _report_in_turn(*senders: Agent, every_s: float) -> None:
    """Each of ``senders`` reports, in order, ``every_s`` after the one before."""
    for i, sender in enumerate(senders):
        if i:
            sender.clock[0] += every_s
        sender.report()


def _registry(clock: list[float], **options: float) -> SiteRegistry:
    return SiteRegistry(min_ttl_s=TTL, hold_off_s=30.0, clock=lambda: clock[0], **options)


def test_a_silent_site_takes_no_work_at_once_but_keeps_its_work_for_the_stale_grace() -> None:
    """Past its TTL a silent site is not up, yet held (no failover) until the grace ends."""
    clock = [1000.0]
    registry = _registry(clock, stale_grace_s=60.0)
    Agent(registry, clock).report()
    clock[0] += TTL + 1
    silent = registry.liveness("alpha")
    assert not silent.up and "stale" in silent.reason and silent.held_down_s > 0
    assert "moves in 59 s" in silent.reason
    clock[0] += 59.5
    gone = registry.liveness("alpha")
    assert not gone.up and gone.held_down_s == 0 and gone.reason.startswith("report stale")


def test_a_silent_site_that_reports_within_its_grace_is_up_without_a_hold_off() -> None:
    """Work never moved, so a site back from a silence inside the grace is up at once."""
    clock = [1000.0]
    registry = _registry(clock, stale_grace_s=60.0)
    agent = Agent(registry, clock)
    agent.report()
    clock[0] += TTL + 10
    agent.report()
    assert registry.liveness("alpha").up


def test_the_routers_own_broker_outage_never_counts_against_a_ttl() -> None:
    """Cut off from the broker, no site goes stale; on reconnection each gets a fresh TTL
    window, so an agent that reconnects a little after the router is never stale."""
    clock = [1000.0]
    registry = _registry(clock, stale_grace_s=0.0)
    agent = Agent(registry, clock)
    agent.report()
    clock[0] += 2.0
    registry.broker_lost()
    clock[0] += 40 * TTL
    assert registry.liveness("alpha").up
    registry.broker_connected()
    clock[0] += TTL - 0.5  # the agent has not reconnected yet
    assert registry.liveness("alpha").up
    clock[0] += 1.0
    assert not registry.liveness("alpha").up, "its fresh window is over: stale as usual"


def test_a_site_stale_before_the_outage_stays_stale_and_its_grace_skips_the_outage() -> None:
    """The outage neither revives a site silent before it nor runs its grace down."""
    clock = [1000.0]
    registry = _registry(clock, stale_grace_s=30.0)
    Agent(registry, clock).report()
    clock[0] += TTL + 10  # silent 10 s past its TTL: 20 s of grace left
    registry.broker_lost()
    clock[0] += 100.0
    registry.broker_connected()
    silent = registry.liveness("alpha")
    assert not silent.up and 19 < silent.held_down_s <= 20


def test_a_stray_agents_offline_does_not_take_the_site_down() -> None:
    """Two agents report; the stray one stops with 'offline': the other still speaks."""
    clock = [1000.0]
    registry = _registry(clock)
    real, stray = Agent(registry, clock), Agent(registry, clock)
    _report_in_turn(real, stray, real, every_s=0.5)
    assert registry.agents("alpha") == sorted([real.boot_id, stray.boot_id])
    assert registry.liveness("alpha").up
    stray.status(STATUS_OFFLINE)
    clock[0] += 1.0
    assert registry.liveness("alpha").up
    assert registry.agents("alpha") == [real.boot_id]


def test_the_site_goes_down_when_every_recent_agent_said_offline_whoever_came_first() -> None:
    """A restarted agent and a stray are the same to the rule: down only once each agent
    heard within the TTL has said 'offline' (in either order)."""
    for first_to_leave in (0, 1):
        clock = [1000.0]
        registry = _registry(clock)
        agents = [Agent(registry, clock), Agent(registry, clock)]
        for a in agents:
            a.report()
            clock[0] += 0.1
        agents[first_to_leave].status(STATUS_OFFLINE)
        assert registry.liveness("alpha").up
        agents[1 - first_to_leave].status(STATUS_OFFLINE)
        down = registry.liveness("alpha")
        assert not down.up and down.reason == "agent offline (last will)"


def test_a_restarted_agent_is_not_a_duplicate() -> None:
    """The old boot's reports all came before the new boot's first: one agent, not two."""
    clock = [1000.0]
    registry = _registry(clock)
    old, new = Agent(registry, clock), Agent(registry, clock)
    _report_in_turn(old, new, new, every_s=1.0)
    assert registry.agents("alpha") == [new.boot_id]
    assert registry.liveness("alpha").up


def test_with_two_agents_the_most_recent_report_wins_and_the_site_does_not_flap() -> None:
    """Interleaved reports of two agents: each newer one is the site's, and the site stays
    up throughout; an older one of the other agent is refused but shows it alive."""
    clock = [1000.0]
    registry = _registry(clock)
    a, b = Agent(registry, clock), Agent(registry, clock)
    for step in range(6):
        clock[0] += 0.3
        sender = (a, b)[step % 2]
        held = sender.report()
        assert registry.report("alpha") == held
        assert registry.liveness("alpha").up
    assert len(registry.agents("alpha")) == 2


def test_an_offline_heard_before_its_agents_retained_report_still_counts() -> None:
    """On start-up the retained will may come before the retained report: the site is held
    (no work) and, when that agent's report goes stale, down at once without a grace."""
    clock = [1000.0]
    registry = _registry(clock, stale_grace_s=300.0)
    agent = Agent(registry, clock)
    registry.apply_status("alpha", AgentStatus(STATUS_OFFLINE, agent.boot_id), grace_s=1e9)
    agent.report(live=False)
    held = registry.liveness("alpha")
    assert not held.up and held.held_down_s > 0
    clock[0] += TTL + 1
    down = registry.liveness("alpha")
    assert not down.up and down.held_down_s == 0


def test_an_operators_bare_offline_speaks_for_every_agent_and_online_takes_it_back() -> None:
    """A bare 'offline' marks every agent; a bare 'online' within its grace clears it."""
    clock = [1000.0]
    registry = _registry(clock)
    Agent(registry, clock).report()
    Agent(registry, clock).report()
    registry.apply_status("alpha", AgentStatus(STATUS_OFFLINE), grace_s=10.0)
    held = registry.liveness("alpha")
    assert not held.up and held.held_down_s > 0
    registry.apply_status("alpha", AgentStatus(STATUS_ONLINE))
    assert registry.liveness("alpha").up


def test_a_removed_site_returns_only_with_a_newer_report() -> None:
    """After removal a replay of the last report (or its status) changes nothing; a report
    stamped later brings the site back."""
    clock = [1000.0]
    registry = _registry(clock)
    agent = Agent(registry, clock)
    last = agent.report()
    assert registry.remove("alpha") == last
    registry.apply_report(last, live=False)
    agent.status(STATUS_OFFLINE)
    assert registry.reports() == [] and registry.removed_stamp("alpha") == last.timestamp
    clock[0] += 1.0
    agent.report()
    assert registry.liveness("alpha").up and registry.removed_stamp("alpha") is None


def test_removed_sites_from_the_store_stay_removed() -> None:
    """Removals read back at start-up hold against the broker's retained report."""
    clock = [1000.0]
    first = _registry(clock)
    last = Agent(first, clock).report()
    restarted = _registry(clock)
    restarted.mark_removed([("alpha", last.timestamp)])
    restarted.apply_report(last, live=False)
    assert restarted.reports() == []


def test_agents_are_bounded_per_site() -> None:
    """A thousand restarts leave a bounded number of remembered agents."""
    clock = [1000.0]
    registry = _registry(clock)
    for _ in range(1000):
        clock[0] += 0.01
        Agent(registry, clock).report()
    assert registry.liveness("alpha").up
    assert len(registry._sites["alpha"].agents) <= 16
