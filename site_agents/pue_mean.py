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

from netrouter.limits import MAX_PUE
from site_agents.collectors import PueMean

log = logging.getLogger(__name__)

MAX_PUE_SAMPLES = 20_160
"""The most readings kept for one window (two weeks at one a minute; 30 s apart over the
default 7 days)."""

STATE_VERSION = 1


class PueHistory:
    """The PUE readings kept over one window, and their time-weighted mean."""

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
        # Never fewer readings than the window needs at MAX_PUE_SAMPLES, nor gaps in cover.
        self.spacing_s = max(spacing_s, window_s / MAX_PUE_SAMPLES)
        self.hold_s = max(hold_s, self.spacing_s)
        self._samples: deque[tuple[float, float]] = deque(maxlen=MAX_PUE_SAMPLES + 1)
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
        self._samples.append((stamp, value))
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
        weighted = covered = 0.0
        for i, (stamp, value) in enumerate(self._samples):
            end = stamp + self.hold_s
            if i + 1 < len(self._samples):
                end = min(end, self._samples[i + 1][0])
            span = min(end, now) - max(stamp, start)
            if span > 0:
                weighted += value * span
                covered += span
        if covered > 0:
            return PueMean(value=weighted / covered, window_s=self.window_s, covered_s=covered)
        recent = [value for stamp, value in self._samples if start <= stamp <= now]
        if recent:
            return PueMean(value=sum(recent) / len(recent), window_s=self.window_s, covered_s=0.0)
        return PueMean(value=0.0, window_s=self.window_s, covered_s=0.0)

    def _drop_before(self, start: float) -> None:
        """Forget readings whose span ends before ``start``."""
        samples = self._samples
        while samples:
            end = samples[0][0] + self.hold_s
            if len(samples) > 1:
                end = min(end, samples[1][0])
            if end > start:
                return
            samples.popleft()

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
            stamp, value = float(row[0]), float(row[1])
            self._samples.append((stamp, value))
            last = stamp
        log.info("PUE state file %s: %d readings kept from before", path, len(self._samples))

    def _save(self) -> None:
        if self._state_file is None:
            return
        path = self._state_file
        document = {
            "version": STATE_VERSION,
            "window_s": self.window_s,
            "samples": [[stamp, value] for stamp, value in self._samples],
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
