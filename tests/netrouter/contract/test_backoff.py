"""Reconnect delays: exponential, jittered, capped, and reset after a success."""

from __future__ import annotations

from netrouter.contract.backoff import Backoff


def test_backoff_never_waits_longer_than_its_maximum() -> None:
    """With jitter, no wait exceeds the cap, so a reconnection is tried at least that often."""
    backoff = Backoff(0.2, 5.0)
    waits = [backoff.next_wait() for _ in range(200)]
    assert max(waits) <= 5.0 and min(waits) >= 0.1


def test_backoff_grows_then_starts_again_after_a_reset() -> None:
    """Delays double up to the cap; reset() brings the next wait back near the initial one."""
    backoff = Backoff(1.0, 64.0)
    waits = [backoff.next_wait() for _ in range(8)]
    assert waits[0] <= 1.5 and waits[-1] >= 32.0  # jitter is 0.5-1.5x the delay
    backoff.reset()
    assert backoff.next_wait() <= 1.5
