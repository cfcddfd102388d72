"""The router's live view of the sites: latest reports, their agents, and up/down.

A site is spoken for by agents, each known by the boot id it puts on its reports and
status messages. A restarted agent and a stray second one both show up as a new boot id,
so no rule here depends on which came first:

- A site is **up** while some agent has reported within the TTL and has not said
  ``offline`` since. The most recent report wins, whichever agent sent it.
- A site whose every recent agent said ``offline`` (its last will, a clean stop, or an
  operator's bare ``offline`` for all of them) takes no new work at once, and its work
  moves when the grace for a sign of life ends.
- A site that is merely **silent** (no agent has reported within the TTL) takes no new
  work at once, but its work moves only after ``stale_grace_s``: an agent or a network
  path that is cut off is no proof the site's jobs stopped.
- Time the router itself is cut off from the broker never counts against a TTL, and on
  reconnection every site gets a fresh TTL window.
- Two agents whose reports interleave are flagged as duplicates (``agents`` lists both).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from netrouter.contract.site_report import ReportRejectedError, SiteReport
from netrouter.contract.topics import STATUS_OFFLINE, AgentStatus
from netrouter.router.pue_policy import DEFAULT_HYSTERESIS, PueCapPolicy

log = logging.getLogger(__name__)

STALE_GRACE_S = 300.0
"""How long a silent site's work stays put before it moves (Kubernetes waits 300 s before
evicting the pods of an unreachable node)."""
MAX_AGENTS = 16
"""Agents remembered per site (a restart adds one; the longest-silent go first)."""


@dataclass(slots=True)
class Agent:
    """One agent (boot id) of a site, as the router last heard it."""

    boot_id: str
    first_at: float
    """Router time of its first sign of life."""
    last_at: float
    """Router time of its last sign of life (a report, or ``online`` heard live)."""
    stamp: float = 0.0
    """The agent's own timestamp on its last report."""
    live: bool = True
    """Whether its last sign of life was heard as published (not a retained replay)."""
    sequence: int = -1
    """The sequence number of its last accepted report (-1: none)."""
    offline_from: float | None = None
    """When its ``offline`` takes effect (None: it has not said ``offline``; ``inf``: a
    retained one, of unknown age, taking effect only when the agent goes silent)."""

    def fresh_at(self, max_skew_s: float) -> float:
        """Router time its last sign of life counts from.

        A sign heard live was just sent, whatever the agent's clock says; a retained one
        replayed to us may be a dead agent's, so its own stamp, beyond the clock-skew
        allowance, may say it was already old when it arrived."""
        if self.live or self.stamp <= 0:
            return self.last_at
        return min(self.last_at, self.stamp + max_skew_s)


@dataclass(frozen=True, slots=True)
class Drain:
    """An operator's drain of a site: no new work there until undrained."""

    at: float
    reason: str = ""


@dataclass(slots=True)
class SiteEntry:
    """What the router last heard from one site."""

    site_id: str
    report: SiteReport | None = None
    agents: dict[str, Agent] = field(default_factory=dict)
    held_until: float = 0.0
    duplicates: frozenset[str] = frozenset()
    """The boot ids last logged as reporting at once (logged once per set)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Liveness:
    """Whether a site may receive work now, and if not, why.

    ``held_down_s`` > 0: the site takes no new work, but its work stays where it is for
    that long (a last will's grace, a silent site's grace, a hold-off after an outage).
    """

    up: bool
    reason: str
    age_s: float
    held_down_s: float = 0.0


class SiteRegistry:
    """Latest accepted report, agents and status per site; decides up/down.

    The TTL of a site's reports is ``ttl_intervals`` × the agent's reporting period, at
    least ``min_ttl_s``. A site that comes back after being down is held down for
    ``hold_off_s`` more, so a flapping site does not pull work back and forth.

    ``capacity_version`` grows with every accepted change that may change which sites are
    up or what devices they have (not with a report that repeats its site's inventory);
    ``on_down`` is called with a site id when an ``offline`` arrives (staleness is found by
    whoever polls :meth:`liveness`).
    """

    def __init__(
        self,
        *,
        ttl_intervals: float = 3.0,
        min_ttl_s: float = 5.0,
        max_clock_skew_s: float = 30.0,
        hold_off_s: float = 30.0,
        stale_grace_s: float = STALE_GRACE_S,
        clock: Callable[[], float] = time.time,
        on_down: Callable[[str], None] | None = None,
        pue_cap_hysteresis: float = DEFAULT_HYSTERESIS,
    ) -> None:
        self._ttl_intervals = ttl_intervals
        self._min_ttl_s = min_ttl_s
        self._max_skew_s = max_clock_skew_s
        self.hold_off_s = hold_off_s
        self.stale_grace_s = stale_grace_s
        self._clock = clock
        self._sites: dict[str, SiteEntry] = {}
        self._removed: dict[str, float] = {}
        """Removed site → the timestamp of its last report: only a newer report brings it
        back (a retained replay of the old one does not); see :meth:`mark_removed`."""
        self._cut_off_at: float | None = None
        """When our broker connection dropped (None: connected, or never connected)."""
        self._drains: dict[str, Drain] = {}
        """Drained site → when and why (kept whether or not the site has reported)."""
        self.capacity_version = 0
        self.on_down = on_down
        self.pue_policy = PueCapPolicy(pue_cap_hysteresis)

    # --- the broker connection -------------------------------------------------------

    def broker_lost(self) -> None:
        """Our broker connection dropped: stop the TTL clocks, and set aside every
        ``offline`` still in its grace.

        What we do not hear while cut off says nothing about the sites. A broker shutting
        down publishes the will of every agent connected to it and then closes our
        connection too; those wills say nothing about the agents either.
        """
        now = self._clock()
        if self._cut_off_at is None:
            self._cut_off_at = now
        pending = [
            (entry, agent)
            for entry in self._sites.values()
            for agent in entry.agents.values()
            if agent.offline_from is not None and now < agent.offline_from < math.inf
        ]
        for _, agent in pending:
            agent.offline_from = None
        if pending:
            self.capacity_version += 1
            log.info(
                "broker connection lost: set aside the last wills of %s heard just before",
                ", ".join(sorted({e.site_id for e, _ in pending})),
            )

    def broker_connected(self) -> None:
        """We (re)subscribed: every agent fresh when we were cut off gets a fresh TTL window
        from now; the others' silence resumes where it was (the outage does not count)."""
        if self._cut_off_at is None:
            return
        now = self._clock()
        cut_off_at, self._cut_off_at = self._cut_off_at, None
        log.info("broker connection back after %.1f s: TTLs restart", now - cut_off_at)
        for entry in self._sites.values():
            if entry.report is None:
                continue
            ttl = self.ttl_s(entry.report)
            for agent in entry.agents.values():
                if agent.sequence < 0:
                    continue  # an offline heard for an agent that never reported
                if cut_off_at - agent.fresh_at(self._max_skew_s) <= ttl:
                    agent.last_at, agent.live = now, True
                else:
                    agent.last_at += now - cut_off_at
        self.capacity_version += 1

    # --- messages ------------------------------------------------------------------------

    def apply_report(self, report: SiteReport, *, live: bool = True) -> None:
        """Accept a validated report unless it is older than what we hold.

        Each agent's sequence numbers must grow; across agents the most recent report wins.
        A report that loses to a newer one of another agent is rejected, but, heard live,
        it still shows its agent is alive (a duplicate agent). A ``live`` report clears an
        ``offline`` its agent sent before. A retained replay of the very report we hold
        (we resubscribed) changes nothing and is no rejection; nor is a replay of a removed
        site's last report.
        """
        now = self._clock()
        if report.timestamp > now + self._max_skew_s:
            raise ReportRejectedError(
                "future_timestamp",
                f"{report.site_id}: stamped {report.timestamp - now:.0f} s ahead of the router",
            )
        removed_at = self._removed.get(report.site_id)
        if removed_at is not None:
            if report.timestamp <= removed_at:
                return
            del self._removed[report.site_id]
            log.info("removed site %s reports again", report.site_id)
        entry = self._sites.setdefault(report.site_id, SiteEntry(site_id=report.site_id))
        held = entry.report
        agent = entry.agents.get(report.boot_id)
        replayed = held is not None and (report.boot_id, report.sequence) == (
            held.boot_id,
            held.sequence,
        )
        if replayed and not live:
            return
        if agent is not None and report.sequence <= agent.sequence:
            raise ReportRejectedError(
                "stale_sequence",
                f"{report.site_id}: sequence {report.sequence} <= held {agent.sequence}",
            )
        before = self._state(entry, now)
        was_up = _serving(before)
        if (
            held is not None
            and report.boot_id != held.boot_id
            and report.timestamp < held.timestamp
        ):
            if live:
                self._seen(entry, report, now, live=True)
                self._after_change(entry, was_up=was_up, was_known=True, now=now)
            raise ReportRejectedError(
                "stale_sequence",
                f"{report.site_id}: report of agent {report.boot_id} older than the held one",
            )
        was_offline = agent is not None and agent.offline_from is not None
        self._seen(entry, report, now, live=live)
        entry.report = report
        self.pue_policy.observe(report)
        same_capacity = before.up and held is not None and held.accelerators == report.accelerators
        if live and was_offline:
            log.info(
                "site %s: agent %s reports again after 'offline'", report.site_id, report.boot_id
            )
            same_capacity = False
        if not same_capacity:
            self.capacity_version += 1
        self._after_change(entry, was_up=was_up, was_known=held is not None, now=now)

    def _seen(self, entry: SiteEntry, report: SiteReport, now: float, *, live: bool) -> None:
        """Record a report as its agent's sign of life (a live one clears its offline)."""
        agent = entry.agents.get(report.boot_id)
        if agent is None:
            agent = self._add_agent(entry, Agent(boot_id=report.boot_id, first_at=now, last_at=now))
        agent.last_at = now
        agent.stamp = report.timestamp
        agent.live = live
        agent.sequence = max(agent.sequence, report.sequence)
        if live:
            agent.offline_from = None
        self._forget_superseded(entry, now)
        self._check_duplicates(entry, now)

    @staticmethod
    def _add_agent(entry: SiteEntry, agent: Agent) -> Agent:
        """Add an agent, dropping the longest-silent ones beyond :data:`MAX_AGENTS`."""
        while len(entry.agents) >= MAX_AGENTS:
            oldest = min(entry.agents.values(), key=lambda a: a.last_at)
            del entry.agents[oldest.boot_id]
        entry.agents[agent.boot_id] = agent
        return agent

    def apply_status(
        self,
        site_id: str,
        status: AgentStatus,
        *,
        live: bool = True,
        grace_s: float = 0.0,
        replay: bool = False,
    ) -> None:
        """Record ``online`` / ``offline`` from the status topic (``offline``: the last will,
        a clean stop, or, without a boot id, an operator speaking for every agent).

        An ``offline`` takes its agent's word away ``grace_s`` after it was heard
        (``math.inf``: when the agent goes silent), unless a sign of life comes first or
        :meth:`broker_lost` sets it aside. The site takes no new work once every agent
        heard within the TTL has said ``offline``. An ``online`` heard ``live`` (as sent,
        not a retained replay) is a sign of life of its agent. With ``replay`` (a retained
        status replayed on reconnection) an ``offline`` for an agent we hold as speaking is
        set aside: a broker that shut down stored the wills it published then.
        """
        if site_id in self._removed:
            return
        entry = self._sites.get(site_id)
        if entry is None:
            if status.state != STATUS_OFFLINE:
                return  # nothing to say about a site we know nothing of
            entry = self._sites[site_id] = SiteEntry(site_id=site_id)
        now = self._clock()
        was_up = _serving(self._state(entry, now))
        if status.state == STATUS_OFFLINE:
            if status.boot_id and status.boot_id not in entry.agents:
                # An agent not heard from yet (its retained report may come next): keep its
                # word, but it counts for nothing until it reports.
                self._add_agent(
                    entry, Agent(boot_id=status.boot_id, first_at=now, last_at=-math.inf)
                )
            targets = (
                [entry.agents[status.boot_id]] if status.boot_id else list(entry.agents.values())
            )
            if replay and any(a.offline_from is None and a.sequence >= 0 for a in targets):
                log.info("site %s: retained 'offline' on reconnection set aside", site_id)
                return
            changed = False
            for agent in targets:
                if agent.offline_from is None:
                    agent.offline_from = now + grace_s
                    changed = True
            if changed:
                log.info(
                    "site %s: 'offline' from %s",
                    site_id,
                    f"agent {status.boot_id}" if status.boot_id else "every agent",
                )
                self.capacity_version += 1
        else:
            if not status.boot_id and live:
                # An operator's bare 'online' takes back a bare 'offline': every agent that
                # reported speaks again (no sign of life: their reports' TTLs still run).
                cleared = [
                    a
                    for a in entry.agents.values()
                    if a.offline_from is not None and a.sequence >= 0
                ]
                for a in cleared:
                    a.offline_from = None
                if cleared:
                    self.capacity_version += 1
                    log.info("site %s: 'online' for every agent", site_id)
            speaker = entry.agents.get(status.boot_id) if status.boot_id else None
            if speaker is not None and speaker.sequence >= 0 and live:  # heard as sent: alive
                if speaker.offline_from is not None:
                    self.capacity_version += 1
                    log.info("site %s: agent %s online again", site_id, status.boot_id)
                speaker.offline_from = None
                speaker.last_at = max(speaker.last_at, now)
                speaker.live = True
        self._after_change(entry, was_up=was_up, was_known=entry.report is not None, now=now)
        if status.state == STATUS_OFFLINE and self.on_down is not None:
            self.on_down(site_id)

    def remove(self, site_id: str) -> SiteReport | None:
        """Forget a site until it reports again; return its last report (None: unknown)."""
        entry = self._sites.pop(site_id, None)
        if entry is None:
            return None
        stamp = entry.report.timestamp if entry.report is not None else self._clock()
        self._removed[site_id] = stamp
        self.pue_policy.forget(site_id)
        self.capacity_version += 1
        log.info("site %s removed; it returns when it reports again", site_id)
        return entry.report

    def mark_removed(self, sites: Iterable[tuple[str, float]]) -> None:
        """Sites removed before (from the store): each returns only with a newer report."""
        for site_id, stamp in sites:
            if site_id not in self._sites:
                self._removed[site_id] = max(stamp, self._removed.get(site_id, stamp))

    def drain(self, site_id: str, at: float, reason: str = "") -> Drain:
        """Mark a site drained (it takes no new work; a drained one keeps its first drain);
        return its drain."""
        drain = self._drains.get(site_id)
        if drain is None:
            drain = self._drains[site_id] = Drain(at=at, reason=reason)
            self.capacity_version += 1
            log.info("site %s drained%s", site_id, f": {reason}" if reason else "")
        return drain

    def undrain(self, site_id: str) -> bool:
        """Put a drained site back in service; False if it was not drained."""
        if self._drains.pop(site_id, None) is None:
            return False
        self.capacity_version += 1
        log.info("site %s undrained", site_id)
        return True

    def drain_of(self, site_id: str) -> Drain | None:
        """The site's drain (None: not drained)."""
        return self._drains.get(site_id)

    def drained(self) -> frozenset[str]:
        """The drained sites."""
        return frozenset(self._drains)

    def removed_stamp(self, site_id: str) -> float | None:
        """The last report timestamp of a removed site (None: not removed)."""
        return self._removed.get(site_id)

    # --- judging -------------------------------------------------------------------------

    def ttl_s(self, report: SiteReport) -> float:
        """How long a report of this site stays fresh."""
        return max(self._min_ttl_s, self._ttl_intervals * report.report_interval_s)

    def _ttl_clock(self, now: float) -> float:
        """``now`` for TTLs: time stands still while we are cut off from the broker."""
        return now if self._cut_off_at is None else min(now, self._cut_off_at)

    def _ages(self, entry: SiteEntry, now: float) -> dict[str, float]:
        """Seconds since each agent's last sign of life, on the TTL clock."""
        clock = self._ttl_clock(now)
        return {
            a.boot_id: max(0.0, clock - a.fresh_at(self._max_skew_s)) for a in entry.agents.values()
        }

    def _fresh(self, entry: SiteEntry, now: float) -> list[Agent]:
        """The agents heard within the TTL."""
        if entry.report is None:
            return []
        ttl = self.ttl_s(entry.report)
        ages = self._ages(entry, now)
        return [a for a in entry.agents.values() if ages[a.boot_id] <= ttl]

    def agents(self, site_id: str) -> list[str]:
        """The boot ids speaking for a site now: heard within the TTL, not ``offline``, and
        not superseded by a later agent. Two or more: a duplicate agent."""
        entry = self._sites.get(site_id)
        if entry is None:
            return []
        return sorted(a.boot_id for a in self._speaking(entry, self._clock()))

    def _speaking(self, entry: SiteEntry, now: float) -> list[Agent]:
        speaking = [
            a for a in self._fresh(entry, now) if a.offline_from is None or a.offline_from > now
        ]
        # An agent whose last word came before another's first was replaced (a restart).
        newest_first = max((a.first_at for a in speaking), default=0.0)
        return [a for a in speaking if a.last_at >= newest_first or a.first_at == newest_first]

    def _check_duplicates(self, entry: SiteEntry, now: float) -> None:
        if len(entry.agents) < 2:  # the usual case, on every report: nothing to compare
            entry.duplicates = frozenset()
            return
        both = frozenset(a.boot_id for a in self._speaking(entry, now))
        if len(both) > 1 and not both <= entry.duplicates:
            log.warning(
                "site %s: %d agents report at once (boot ids %s); the most recent report "
                "wins: stop the stray one",
                entry.site_id,
                len(both),
                ", ".join(sorted(both)),
            )
        entry.duplicates = both if len(both) > 1 else frozenset()

    def _forget_superseded(self, entry: SiteEntry, now: float) -> None:
        """Drop agents unheard for longer than the stale grace and their TTL (bounded
        memory across many restarts), keeping the site's newest one."""
        if entry.report is None or len(entry.agents) < 2:
            return
        keep_s = self.ttl_s(entry.report) + self.stale_grace_s
        newest = max(entry.agents.values(), key=lambda a: a.last_at)
        for boot_id in [
            b for b, a in entry.agents.items() if a is not newest and now - a.last_at > keep_s
        ]:
            del entry.agents[boot_id]

    def _state(self, entry: SiteEntry, now: float) -> Liveness:
        """Up or down from the agents alone (no hold-off)."""
        if entry.report is None:
            return Liveness(up=False, reason="no report yet", age_s=math.inf)
        ttl = self.ttl_s(entry.report)
        ages = self._ages(entry, now)
        age = min(ages.values(), default=math.inf)
        fresh = [a for a in entry.agents.values() if ages[a.boot_id] <= ttl]
        if any(a.offline_from is None for a in fresh):
            return Liveness(up=True, reason="", age_s=age)
        if fresh:  # every agent heard within the TTL said offline
            waits = [a.offline_from - now for a in fresh if a.offline_from is not None]
            if all(w <= 0 for w in waits):
                return Liveness(up=False, reason="agent offline (last will)", age_s=age)
            left = min(max(w, 0.0) for w in waits if w > 0)
            left = min(left, ttl - age) if math.isinf(left) else left
            return Liveness(
                up=False,
                reason=f"agent offline (last will); waiting {left:.0f} s for it to come back",
                age_s=age,
                held_down_s=max(left, 1e-3),
            )
        stale = f"report stale ({age:.0f} s > TTL {ttl:.0f} s)"
        offline = [a.offline_from for a in entry.agents.values()]
        if offline and all(t is not None for t in offline):
            # Silent after saying offline: its last word stands, no grace for silence.
            said = all(t is not None and t <= now for t in offline)
            reason = "agent offline (last will)" if said else f"{stale} after 'offline'"
            return Liveness(up=False, reason=reason, age_s=age)
        silent_s = age - ttl
        if silent_s < self.stale_grace_s:
            left = self.stale_grace_s - silent_s
            return Liveness(
                up=False,
                reason=f"{stale}; its work moves in {left:.0f} s unless it reports",
                age_s=age,
                held_down_s=max(left, 1e-3),
            )
        return Liveness(up=False, reason=stale, age_s=age)

    def _after_change(self, entry: SiteEntry, *, was_up: bool, was_known: bool, now: float) -> None:
        """Start the hold-off when a known site comes back from being down (not from a
        grace, which moved none of its work)."""
        if was_up or not self._state(entry, now).up:
            return
        if was_known and self.hold_off_s > 0:
            entry.held_until = now + self.hold_off_s
            log.info("site %s is back; held down for %.0f s", entry.site_id, self.hold_off_s)
        else:
            log.info("site %s is up", entry.site_id)

    def over_pue_cap(self, site_id: str) -> bool:
        """Whether the site is over its hub's PUE cap (:mod:`netrouter.router.pue_policy`)."""
        return self.pue_policy.over(site_id)

    def offline_in(self, site_id: str) -> float:
        """Seconds until the site's ``offline`` takes it down (0: it has, or there is none,
        ``math.inf``: only when its agent goes silent)."""
        entry = self._sites.get(site_id)
        if entry is None:
            return 0.0
        now = self._clock()
        waits = [
            a.offline_from - now for a in self._fresh(entry, now) if a.offline_from is not None
        ]
        return max(0.0, min(waits)) if waits else 0.0

    def liveness(self, site_id: str) -> Liveness:
        """Up or down, with the reason, judged now."""
        entry = self._sites.get(site_id)
        if entry is None:
            return Liveness(up=False, reason="no report yet", age_s=math.inf)
        now = self._clock()
        state = self._state(entry, now)
        if state.up and entry.held_until > now:
            left = entry.held_until - now
            return Liveness(
                up=False,
                reason=f"held down after an outage ({left:.0f} s left)",
                age_s=state.age_s,
                held_down_s=left,
            )
        return state

    def reports(self) -> list[SiteReport]:
        """The latest accepted report of every site, sorted by site id."""
        return [e.report for _, e in sorted(self._sites.items()) if e.report is not None]

    def up_reports(self) -> list[SiteReport]:
        """Reports of the sites that are up now."""
        return [r for r in self.reports() if self.liveness(r.site_id).up]

    def fresh_reports(self) -> list[SiteReport]:
        """Reports of the sites some agent speaks for now (held-down sites too)."""
        now = self._clock()
        return [
            e.report
            for _, e in sorted(self._sites.items())
            if e.report is not None and self._state(e, now).up
        ]

    def report(self, site_id: str) -> SiteReport | None:
        """The latest accepted report of one site, if any."""
        entry = self._sites.get(site_id)
        return None if entry is None else entry.report


def _serving(state: Liveness) -> bool:
    """Up, or within a grace that keeps its work in place (not down for good)."""
    return state.up or state.held_down_s > 0
