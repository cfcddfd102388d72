"""Placement ids as operators type them: the whole id, or a unique prefix of it.

Tables show the first characters of an id; every call that takes a placement id accepts
any prefix that names one placement (as git and docker do). The router resolves it over
every placement it has stored, ended ones included, so a prefix that is unique among the
active placements but also starts a released one is ambiguous, not silently the active one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from netrouter.client.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from netrouter.client.types import ACTIVE, FAILED, Placement
from netrouter.router.active import ActivePlacements
from netrouter.router.store import PlacementStore

MIN_PREFIX = 4
"""The fewest characters of an id that may stand for it (a whole id may be shorter)."""
SHOWN_MATCHES = 5
"""How many matches an ambiguous prefix lists."""


def resolve(
    given: str, *, field: str, active: ActivePlacements, store: PlacementStore
) -> Placement:
    """The placement ``given`` names (its whole id, or a prefix of one id), in any state.

    Raises :class:`InvalidArgumentError` naming ``field`` (empty, too short, or a prefix of
    several ids, listing them) or :class:`NotFoundError`. Reads the store: call it off the
    event loop.
    """
    if not given:
        raise InvalidArgumentError(field, "must not be empty")
    running = active.get(given)
    if running is not None:
        return running
    found, count = store.with_prefix(given, SHOWN_MATCHES + 1)
    if found and found[0].placement_id == given:
        return found[0]  # a whole id (the least id with its own prefix comes first)
    if len(given) < MIN_PREFIX:
        raise InvalidArgumentError(
            field,
            f"{given!r} is too short: give a whole placement id or at least {MIN_PREFIX} "
            "of its first characters",
        )
    if not found:
        raise NotFoundError(f"placement {given!r} not found")
    if count > 1:
        shown = "; ".join(_described(p) for p in found[:SHOWN_MATCHES])
        more = f"; and {count - SHOWN_MATCHES} more" if count > SHOWN_MATCHES else ""
        raise InvalidArgumentError(
            field,
            f"{given!r} is ambiguous: it starts {count} placement ids ({shown}{more}); "
            "give more characters",
        )
    return found[0]


def _described(p: Placement) -> str:
    return f"{p.placement_id} {p.state}, workload {p.workload.id}"


def ended_error(p: Placement) -> FailedPreconditionError:
    """The refusal of a change to ``p``, which has ended: when, and why."""
    assert p.state != ACTIVE
    why = f" ({p.end_reason})" if p.end_reason and p.end_reason != p.state else ""
    ended = "failed" if p.state == FAILED else f"was {p.state}"
    return FailedPreconditionError(
        f"placement {p.placement_id!r} {ended} at {utc_time(p.updated_at)}{why}"
    )


def utc_time(at: float) -> str:
    """``at`` (unix seconds) as ``2026-12-07 21:30:00 UTC``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
