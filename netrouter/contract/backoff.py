"""Exponential reconnect delays with jitter, for the MQTT and gRPC clients alike."""

from __future__ import annotations

import random


class Backoff:
    """Exponential reconnect delays with jitter (each wait is 0.5–1.5× the current delay,
    at most ``max_s``)."""

    def __init__(self, initial_s: float = 0.2, max_s: float = 10.0) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self._delay = initial_s

    def reset(self) -> None:
        """Start again from the initial delay (after a successful connection)."""
        self._delay = self._initial_s

    def next_wait(self) -> float:
        """The next wait in seconds, never above the maximum; the delay behind it doubles
        up to the maximum."""
        wait = min(self._max_s, self._delay * (0.5 + random.random()))
        self._delay = min(self._delay * 2, self._max_s)
        return wait
