"""The sustained PUE: a time-weighted mean of the agent's own PUE readings over a window.

Each kept reading stands from its time until the next kept reading, but for at most
``hold_s`` (a reading is good for ``max_age_s``; after that the DCIM was silent and that
time is not covered). The mean weighs each reading by how long it stood inside the window
``[now - window_s, now]``; ``covered_s`` is the sum of those spans. Memory is bounded: a
reading is kept only ``spacing_s`` after the last kept one, and readings that no longer
reach into the window are dropped.

With a ``state_file`` the kept readings survive a restart: they are written (whole, to a
temporary file renamed over the old one) each time one is kept, and read back at start.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import deque
from pathlib import Path

from netrouter.contract.limits import MAX_PUE
from site_agents.collectors import PueMean

log = logging.getLogger(__name__)

MAX_PUE_SAMPLES = 20_160
"""The most readings kept for one window (two weeks at one a minute; 30 s apart over the
default 7 days)."""

MIN_COVER_S = 1e-6
"""Cover below this is rounding in the running totals: no span yet."""

STATE_VERSION = 1


class PueHistory:
    """The PUE readings kept over one window, and their time-weighted mean.

    The spans of all readings but the last are fixed once the next one arrives; their
    weighted sum and total are kept as running totals, so a mean costs O(1) however many
    readings the window holds (reports read it every second).
    """

    def __init__(
        self,
        *,
        window_s: float,
        hold_s: float,
        spacing_s: float = 0.0,
        state_file: str | Path | None = None,
    ) -> None:
        if not (window_s > 0 and hold_s > 0 and spacing_s >= 0):
            raise ValueError("need window_s > 0, hold_s > 0, spacing_s >= 0")
        self.window_s = window_s
        # Never more readings than MAX_PUE_SAMPLES over the window, nor gaps in the cover.
        self.spacing_s = max(spacing_s, window_s / MAX_PUE_SAMPLES)
        self.hold_s = max(hold_s, self.spacing_s)
        # (time, PUE, span): the span is fixed when the next reading arrives (0 until then).
        self._samples: deque[tuple[float, float, float]] = deque()
        self._weighted = 0.0  # sum of PUE × span over the fixed spans
        self._spanned = 0.0  # sum of the fixed spans
        self._state_file = Path(state_file) if state_file else None
        self._save_failed = False
        if self._state_file is not None:
            self._load(self._state_file)

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, value: float, stamp: float, now: float) -> bool:
        """Keep the reading ``value`` taken at ``stamp`` (clamped to ``now``) if it is at
        least ``spacing_s`` newer than the last kept one; return whether it was kept."""
        stamp = min(stamp, now)
        if self._samples:
            last = self._samples[-1][0]
            if stamp <= last or stamp < last + self.spacing_s:
                return False  # the same reading again, one too soon, or an older one
        self._append(stamp, value)
        self._drop_before(now - self.window_s)
        self._save()
        return True

    def mean(self, now: float) -> PueMean:
        """The time-weighted mean over ``[now - window_s, now]``.

        When the readings in the window span no time yet (one reading, just taken), their
        plain mean, covering 0 s; with no reading in the window, value 0.
        """
        start = now - self.window_s
        self._drop_before(start)
        if not self._samples:
            return PueMean(value=0.0, window_s=self.window_s, covered_s=0.0)
        if now < self._samples[-1][0]:
            weighted, covered = self._clipped(start, now)  # the clock stepped back
        else:
            weighted, covered = self._weighted, self._spanned
            first, first_value, first_span = self._samples[0]
            if first < start:  # only the part of the first span inside the window counts
                cut = min(start - first, first_span)
                weighted -= first_value * cut
                covered -= cut
            last, last_value, _ = self._samples[-1]
            open_span = min(now, last + self.hold_s) - max(last, start)
            if open_span > 0:
                weighted += last_value * open_span
                covered += open_span
        if covered > MIN_COVER_S:
            return PueMean(
                value=weighted / covered,
                window_s=self.window_s,
                covered_s=min(covered, self.window_s),
            )
        recent = [value for stamp, value, _ in self._samples if start <= stamp <= now]
        if recent:
            return PueMean(value=sum(recent) / len(recent), window_s=self.window_s, covered_s=0.0)
        return PueMean(value=0.0, window_s=self.window_s, covered_s=0.0)

    def _append(self, stamp: float, value: float) -> None:
        """Add a reading newer than the last, fixing the last one's span."""
        if self._samples:
            last, last_value, _ = self._samples.pop()
            span = min(stamp - last, self.hold_s)
            self._samples.append((last, last_value, span))
            self._weighted += last_value * span
            self._spanned += span
        self._samples.append((stamp, value, 0.0))
        while len(self._samples) > MAX_PUE_SAMPLES + 1:
            self._pop_first()

    def _pop_first(self) -> None:
        _, value, span = self._samples.popleft()
        self._weighted -= value * span
        self._spanned -= span
        if not self._samples:  # start the running totals clean
            self._weighted = self._spanned = 0.0

    def _drop_before(self, start: float) -> None:
        """Forget readings whose span ends before ``start``."""
        while self._samples:
            stamp, _, span = self._samples[0]
            end = stamp + (self.hold_s if len(self._samples) == 1 else span)
            if end > start:
                return
            self._pop_first()

    def _clipped(self, start: float, now: float) -> tuple[float, float]:
        """(weighted sum, cover) of every span clipped to ``[start, now]``, one by one."""
        weighted = covered = 0.0
        count = len(self._samples)
        for i, (stamp, value, span) in enumerate(self._samples):
            end = stamp + (self.hold_s if i == count - 1 else span)
            part = min(end, now) - max(stamp, start)
            if part > 0:
                weighted += value * part
                covered += part
        return weighted, covered

    # --- the state file -----------------------------------------------------------------

    def _load(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("PUE state file %s unreadable (%s): starting the mean afresh", path, exc)
            return
        rows = document.get("samples") if isinstance(document, dict) else None
        if not isinstance(rows, list):
            log.warning("PUE state file %s has no samples list: starting the mean afresh", path)
            return
        last = -math.inf
        for row in rows:
            if not _is_sample(row) or row[0] <= last:
                continue  # written by hand, or by something else: skip what cannot be right
            self._append(float(row[0]), float(row[1]))
            last = row[0]
        log.info("PUE state file %s: %d readings kept from before", path, len(self._samples))

    def _save(self) -> None:
        if self._state_file is None:
            return
        path = self._state_file
        document = {
            "version": STATE_VERSION,
            "window_s": self.window_s,
            "samples": [[stamp, value] for stamp, value, _ in self._samples],
        }
        temporary = path.with_name(path.name + ".tmp")
        try:
            temporary.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
            os.replace(temporary, path)
        except OSError as exc:
            if not self._save_failed:  # say it once; the mean in memory goes on
                log.warning("cannot write the PUE state file %s: %s", path, exc)
            self._save_failed = True
            return
        if self._save_failed:
            log.info("PUE state file %s written again", path)
        self._save_failed = False


def _is_sample(row: object) -> bool:
    """``[unix seconds, PUE]`` with a finite time and a PUE the router would take."""
    if not isinstance(row, list) or len(row) != 2:
        return False
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in row):
        return False
    stamp, value = row
    return math.isfinite(stamp) and 1.0 <= value <= MAX_PUE
