"""A hub's PUE cap as a policy on each site's sustained PUE, with hysteresis.

A hub (长三角, 贵州, ...) caps the PUE of its data centers; each site's agent carries the cap
in its reports (``labels.pue_cap``, 0: none). The cap judges a site's sustained PUE
(:attr:`SiteReport.sustained_pue`: the mean over the agent's window, else the reading now),
not one reading, and with hysteresis, so a site near its cap does not flap in and out on a
hot afternoon: a site goes over when its sustained PUE rises above the cap, and is back
only once it is at most cap − ``hysteresis``.

A site over its hub's cap takes no new work, and a rebalance moves its running work off it;
failover never moves work off it for that. The solver applies the cap itself
(:meth:`solver.Problem.hub_pue_ok`): it gets each site's sustained PUE and, for a site over
its cap, the hysteresis as the margin it must come under by (:meth:`PueCapPolicy.margin`).

When the sites of one hub report different caps, the tighter applies to all of them, and
the router logs it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from netrouter.contract.limits import MAX_PUE_CAP_HYSTERESIS
from netrouter.contract.site_report import SiteReport
from solver.model import within_pue_cap

log = logging.getLogger(__name__)

DEFAULT_HYSTERESIS = 0.02
"""How far under its hub's cap a site over it must come back (``[sites] pue_cap_hysteresis``)."""


@dataclass(slots=True)
class _Seen:
    """What the policy last heard from one site."""

    hub: str
    cap: float
    sustained_pue: float
    over: bool = False


@dataclass(slots=True)
class PueCapPolicy:
    """Which sites are over their hub's PUE cap, from every accepted report.

    Call :meth:`observe` with each report the router accepts; ask :meth:`over` and
    :meth:`margin`. A site is judged when it reports, and again when its hub's cap changes.
    Two policies that heard the same are equal.
    """

    hysteresis: float = DEFAULT_HYSTERESIS
    _sites: dict[str, _Seen] = field(default_factory=dict)
    _members: dict[str, set[str]] = field(default_factory=dict)
    """Hub → its sites."""
    _caps: dict[str, float] = field(default_factory=dict)
    _disagreeing: set[str] = field(default_factory=set)
    """Hubs whose sites' differing caps were logged."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.hysteresis <= MAX_PUE_CAP_HYSTERESIS:  # NaN too
            raise ValueError(
                f"pue_cap_hysteresis must be in [0, {MAX_PUE_CAP_HYSTERESIS}], "
                f"got {self.hysteresis}"
            )

    def observe(self, report: SiteReport) -> None:
        """Take up a site's report: its hub, its hub's cap and its sustained PUE."""
        site_id, hub, cap = report.site_id, report.labels.hub, report.labels.pue_cap
        before = self._sites.get(site_id)
        seen = _Seen(
            hub=hub,
            cap=cap,
            sustained_pue=report.sustained_pue,
            over=before is not None and before.over,
        )
        self._sites[site_id] = seen
        if before is not None and (before.hub, before.cap) == (hub, cap):
            self._judge(site_id, seen)  # the common case: only its PUE may have changed
            return
        if before is not None:
            self._members[before.hub].discard(site_id)
            self._rejudge(before.hub)
        self._members.setdefault(hub, set()).add(site_id)
        self._rejudge(hub)

    def forget(self, site_id: str) -> None:
        """Drop a site (removed from the router): its cap no longer binds its hub."""
        seen = self._sites.pop(site_id, None)
        if seen is not None:
            self._members[seen.hub].discard(site_id)
            self._rejudge(seen.hub)

    def over(self, site_id: str) -> bool:
        """Whether the site is over its hub's cap now (False for a site never heard of)."""
        seen = self._sites.get(site_id)
        return seen is not None and seen.over

    def margin(self, site_id: str) -> float:
        """How far under its hub's cap the site must be to take work: the hysteresis while
        it is over its cap, else 0."""
        return self.hysteresis if self.over(site_id) else 0.0

    def caps(self) -> dict[str, float]:
        """Each hub's PUE cap (the tightest its sites report); hubs without one left out."""
        return dict(self._caps)

    def _rejudge(self, hub: str) -> None:
        """The hub's cap from its sites' reports, then each of its sites against it."""
        members = sorted(self._members.get(hub, ()))
        reported = sorted({self._sites[sid].cap for sid in members if self._sites[sid].cap > 0})
        if reported and hub:
            self._caps[hub] = reported[0]
        else:
            self._caps.pop(hub, None)
        if len(reported) > 1 and hub not in self._disagreeing:
            self._disagreeing.add(hub)
            log.warning(
                "the sites of hub %s report different PUE caps (%s): the tightest, %.2f, applies",
                hub,
                ", ".join(f"{sid} {self._sites[sid].cap:.2f}" for sid in members),
                reported[0],
            )
        elif len(reported) <= 1:
            self._disagreeing.discard(hub)
        for sid in members:
            self._judge(sid, self._sites[sid])

    def _judge(self, site_id: str, seen: _Seen) -> None:
        """Over or not, with hysteresis: over above the cap, back at cap − hysteresis."""
        cap = self._caps.get(seen.hub)
        was = seen.over
        if cap is None:
            seen.over = False
        elif was:
            seen.over = not within_pue_cap(seen.sustained_pue, cap, self.hysteresis)
        else:
            seen.over = not within_pue_cap(seen.sustained_pue, cap)
        if seen.over and not was:
            assert cap is not None
            log.warning(
                "site %s is over hub %s's PUE cap: sustained PUE %.3f > %.2f; "
                "no new work until it is back to %.2f",
                site_id,
                seen.hub,
                seen.sustained_pue,
                cap,
                cap - self.hysteresis,
            )
        elif was and not seen.over:
            log.info(
                "site %s takes work again: sustained PUE %.3f, hub %s's cap %s",
                site_id,
                seen.sustained_pue,
                seen.hub,
                "none" if cap is None else f"{cap:.2f}",
            )
