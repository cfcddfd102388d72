"""The router's live view of the sites: latest reports, status, and up/down with hysteresis."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from netrouter.reports import ReportRejectedError
from netrouter.types import SiteReport
from netrouter.wire import STATUS_OFFLINE, STATUS_ONLINE

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SiteEntry:
    """What the router last heard from one site."""

    site_id: str
    report: SiteReport | None = None
    received_at: float = 0.0
    live: bool = False
    """Whether the report was heard as its agent published it (not a retained replay)."""
    status: str | None = None
    offline_from: float = 0.0
    """When an ``offline`` status takes effect (its grace for a sign of life ends)."""
    held_until: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Liveness:
    """Whether a site may receive work now, and if not, why."""

    up: bool
    reason: str
    age_s: float
    held_down_s: float = 0.0


class SiteRegistry:
    """Latest accepted report and status per site; decides up/down; holds the network graph.

    A site is up when its last status is not ``offline`` and its report is younger than
    its TTL (``ttl_intervals`` × the agent's reporting period, at least ``min_ttl_s``).
    A site that comes back after being down is held down for ``hold_off_s`` more, so a
    flapping site does not pull work back and forth.

    An ``offline`` heard with a grace (see :meth:`apply_status`) fails the site over only
    if no sign of life (``online``, a live report) comes within it, and :meth:`broker_lost`
    sets it aside: a broker that shuts down publishes every agent's will, then drops us.

    ``capacity_version`` grows with every accepted change that may change which sites are
    up or what devices they have (not with a report that repeats its site's inventory);
    ``on_down`` is called with a site id when its last will arrives (staleness is found by
    whoever polls :meth:`liveness`).
    """

    def __init__(
        self,
        *,
        ttl_intervals: float = 3.0,
        min_ttl_s: float = 5.0,
        max_clock_skew_s: float = 30.0,
        hold_off_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        on_down: Callable[[str], None] | None = None,
    ) -> None:
        self._ttl_intervals = ttl_intervals
        self._min_ttl_s = min_ttl_s
        self._max_skew_s = max_clock_skew_s
        self.hold_off_s = hold_off_s
        self._clock = clock
        self._sites: dict[str, SiteEntry] = {}
        self.capacity_version = 0
        self.on_down = on_down

    def apply_report(self, report: SiteReport, *, live: bool = True) -> None:
        """Accept a validated report unless it is older than what we hold.

        A ``live`` report (published while we are subscribed, not a retained replay) proves
        the agent is alive, so it clears an ``offline`` heard before it: a late last will of
        a previous connection must not keep a reporting site down. A retained replay of the
        very report we hold (we resubscribed) changes nothing and is no rejection.
        """
        now = self._clock()
        if report.timestamp > now + self._max_skew_s:
            raise ReportRejectedError(
                "future_timestamp",
                f"{report.site_id}: stamped {report.timestamp - now:.0f} s ahead of the router",
            )
        entry = self._sites.setdefault(report.site_id, SiteEntry(site_id=report.site_id))
        held = entry.report
        if held is not None:
            if not live and (report.boot_id, report.sequence) == (held.boot_id, held.sequence):
                return
            if report.boot_id == held.boot_id and report.sequence <= held.sequence:
                raise ReportRejectedError(
                    "stale_sequence",
                    f"{report.site_id}: sequence {report.sequence} <= held {held.sequence}",
                )
            if report.boot_id != held.boot_id and report.timestamp < held.timestamp:
                raise ReportRejectedError(
                    "stale_sequence", f"{report.site_id}: report of an older boot {report.boot_id}"
                )
        was_up = self._raw(entry, now).up
        entry.report = report
        entry.received_at = now
        entry.live = live
        same_capacity = was_up and held is not None and held.accelerators == report.accelerators
        if live and entry.status == STATUS_OFFLINE:
            log.info("site %s reports again after 'offline'", report.site_id)
            entry.status = STATUS_ONLINE
            same_capacity = False
        if not same_capacity:
            self.capacity_version += 1
        self._after_change(entry, was_up=was_up, was_known=held is not None, now=now)

    def _after_change(self, entry: SiteEntry, *, was_up: bool, was_known: bool, now: float) -> None:
        """Start the hold-off when a known site comes back from being down."""
        if was_up or not self._raw(entry, now).up:
            return
        if was_known and self.hold_off_s > 0:
            entry.held_until = now + self.hold_off_s
            log.info("site %s is back; held down for %.0f s", entry.site_id, self.hold_off_s)
        else:
            log.info("site %s is up", entry.site_id)

    def status(self, site_id: str) -> str | None:
        """The last ``online`` / ``offline`` heard from a site (None: none yet)."""
        entry = self._sites.get(site_id)
        return None if entry is None else entry.status

    def apply_status(self, site_id: str, text: str, *, grace_s: float = 0.0) -> None:
        """Record ``online`` / ``offline`` from the status topic (offline = the last will).

        An ``offline`` takes the site down ``grace_s`` after it was heard (``math.inf``: when
        its report goes stale), unless ``online`` or a live report comes first or
        :meth:`broker_lost` sets it aside. Meanwhile the site takes no new work and keeps
        what it runs (it is held down, as after an outage).
        """
        if text not in (STATUS_ONLINE, STATUS_OFFLINE):
            raise ReportRejectedError("bad_status", f"{site_id}: status {text[:32]!r}")
        entry = self._sites.setdefault(site_id, SiteEntry(site_id=site_id))
        now = self._clock()
        was_up = self._raw(entry, now).up
        if entry.status != text:
            log.info("site %s status %s", site_id, text)
            self.capacity_version += 1
            if text == STATUS_OFFLINE:
                entry.offline_from = now + grace_s
        entry.status = text
        self._after_change(entry, was_up=was_up, was_known=entry.report is not None, now=now)
        if text == STATUS_OFFLINE and self.on_down is not None:
            self.on_down(site_id)

    def broker_lost(self) -> None:
        """Our broker connection dropped: set aside every ``offline`` still in its grace.

        A broker shutting down publishes the will of every agent connected to it and then
        closes our connection too; those wills say nothing about the agents. A site whose
        agent did die meanwhile goes down by its report's TTL (or its retained will).
        """
        now = self._clock()
        pending = [
            e for e in self._sites.values() if e.status == STATUS_OFFLINE and e.offline_from > now
        ]
        for entry in pending:
            entry.status = STATUS_ONLINE
        if pending:
            self.capacity_version += 1
            log.info(
                "broker connection lost: set aside the last wills of %s heard just before",
                ", ".join(sorted(e.site_id for e in pending)),
            )

    def ttl_s(self, report: SiteReport) -> float:
        """How long a report of this site stays fresh."""
        return max(self._min_ttl_s, self._ttl_intervals * report.report_interval_s)

    def offline_in(self, site_id: str) -> float:
        """Seconds until the site's ``offline`` takes it down (0: it has, or there is none,
        ``math.inf``: only if its report goes stale)."""
        entry = self._sites.get(site_id)
        if entry is None or entry.status != STATUS_OFFLINE:
            return 0.0
        return max(0.0, entry.offline_from - self._clock())

    def liveness(self, site_id: str) -> Liveness:
        """Up or down, with the reason, judged now."""
        entry = self._sites.get(site_id)
        if entry is None:
            return Liveness(up=False, reason="no report yet", age_s=float("inf"))
        now = self._clock()
        raw = self._raw(entry, now)
        if raw.up and entry.status == STATUS_OFFLINE and entry.report is not None:
            # A will still in its grace: no new work, and no failover yet either.
            left = min(entry.offline_from - now, self.ttl_s(entry.report) - raw.age_s)
            return Liveness(
                up=False,
                reason=f"agent offline (last will); waiting {left:.0f} s for it to come back",
                age_s=raw.age_s,
                held_down_s=max(left, 1e-3),
            )
        if raw.up and entry.held_until > now:
            left = entry.held_until - now
            return Liveness(
                up=False,
                reason=f"held down after an outage ({left:.0f} s left)",
                age_s=raw.age_s,
                held_down_s=left,
            )
        return raw

    def _raw(self, entry: SiteEntry, now: float) -> Liveness:
        """Up or down from status and freshness alone (no hold-off)."""
        if entry.report is None:
            return Liveness(up=False, reason="no report yet", age_s=float("inf"))
        # Age from our receipt. A report heard live was just published, whatever the agent's
        # clock says; a retained one replayed to us may be a dead agent's, so its own stamp,
        # beyond the clock-skew allowance, may say it was already old when it arrived.
        fresh_at = entry.received_at
        if not entry.live:
            fresh_at = min(fresh_at, entry.report.timestamp + self._max_skew_s)
        age = max(0.0, now - fresh_at)
        if entry.status == STATUS_OFFLINE and now >= entry.offline_from:
            return Liveness(up=False, reason="agent offline (last will)", age_s=age)
        ttl = self.ttl_s(entry.report)
        if age > ttl:
            return Liveness(
                up=False, reason=f"report stale ({age:.0f} s > TTL {ttl:.0f} s)", age_s=age
            )
        return Liveness(up=True, reason="", age_s=age)

    def reports(self) -> list[SiteReport]:
        """The latest accepted report of every site, sorted by site id."""
        return [e.report for _, e in sorted(self._sites.items()) if e.report is not None]

    def up_reports(self) -> list[SiteReport]:
        """Reports of the sites that are up now."""
        return [r for r in self.reports() if self.liveness(r.site_id).up]

    def fresh_reports(self) -> list[SiteReport]:
        """Reports that are fresh and not withdrawn by a last will (held-down sites too)."""
        now = self._clock()
        return [
            e.report
            for _, e in sorted(self._sites.items())
            if e.report is not None and self._raw(e, now).up
        ]

    def report(self, site_id: str) -> SiteReport | None:
        """The latest accepted report of one site, if any."""
        entry = self._sites.get(site_id)
        return None if entry is None else entry.report
