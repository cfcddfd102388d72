"""Collectors that measure: PUE from the site's DCIM (file or HTTP) and TCP latency probes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import socket
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from netrouter.contract.limits import MAX_PUE
from site_agents.collectors import CollectorError, Latency, PueMean, PueReading
from site_agents.config import PueSection, SiteConfig, split_host_port
from site_agents.pue_mean import PueHistory

log = logging.getLogger(__name__)

FUTURE_ALLOWANCE_S = 60.0
"""A PUE reading may be stamped at most this far ahead of the agent's clock."""

MAX_DOCUMENT_BYTES = 1 << 20
"""A DCIM answer larger than this is refused (a PUE document is a few hundred bytes)."""


def json_path_get(document: Any, path: str) -> Any:
    """The value at ``path`` ("a.b.0.c": keys, and list indices as numbers) in ``document``."""
    value = document
    for part in path.split(".") if path else []:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif (
            isinstance(value, list)
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            raise ValueError(f"json_path {path!r}: nothing at {part!r}")
    return value


def parse_timestamp(value: Any) -> float:
    """Unix seconds from a number or an ISO 8601 string with a UTC offset."""
    if isinstance(value, bool):
        raise ValueError(f"timestamp {value!r} is not a time")
    if isinstance(value, int | float):
        try:
            stamp = float(value)
        except OverflowError as exc:
            raise ValueError("timestamp is too large") from exc
        if not math.isfinite(stamp):
            raise ValueError(f"timestamp {value!r} is not finite")
        return stamp
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"timestamp {value!r} is not ISO 8601") from exc
        if moment.tzinfo is None:
            raise ValueError(f"timestamp {value!r} has no UTC offset (e.g. +08:00)")
        return moment.timestamp()
    raise ValueError(f"timestamp {value!r} is not a number or a string")


class DcimPue:
    """PUE read from a JSON file or an HTTP endpoint, with a maximum age.

    A file is re-read at every report, an endpoint fetched every ``poll_s``. A reading
    older than ``max_age_s`` (or none at all) falls back to the configured value, or
    raises :class:`CollectorError` when there is none.

    The sustained PUE beside each reading is the DCIM's own mean (``mean_json_path``)
    while its document is fresh, else the time-weighted mean of the readings kept in a
    :class:`~site_agents.pue_mean.PueHistory` (about one per ``poll_s``).
    """

    def __init__(self, section: PueSection) -> None:
        if section.source == "fixed":
            raise ValueError("DcimPue reads a file or HTTP source, not a fixed value")
        self._section = section
        self._history = PueHistory(
            window_s=section.mean_window_s,
            hold_s=section.max_age_s,
            spacing_s=0.9 * section.poll_s,  # a DCIM's own stamps jitter around its period
            state_file=section.state_file or None,
        )
        self._last: tuple[float, float, float | None] | None = None
        self._fetched_at = -math.inf
        self._problem: str | None = None
        self._kind: str | None = None
        self._lock = threading.Lock()

    def reading(self, now: float) -> PueReading:
        s = self._section
        with self._lock:
            error: str | None = None
            # Due by the period, or at once if the clock stepped back.
            if s.source == "file" or not 0 <= now - self._fetched_at < s.poll_s:
                self._fetched_at = now
                try:
                    self._last = self._read(now)
                except Exception as exc:  # a DCIM's answer must never stop the agent
                    error = f"cannot read PUE from {self._where}: {exc or type(exc).__name__}"
                else:
                    self._history.add(self._last[0], self._last[1], now)
            if self._last is not None:
                value, stamp, dcim_mean = self._last
                age = max(0.0, now - stamp)
                if age <= s.max_age_s:
                    self._say(None, None)
                    return PueReading(
                        value=value, source=s.source, age_s=age, mean=self._mean(now, dcim_mean)
                    )
                old = f"the PUE from {self._where} is {age:.0f} s old (max_age_s {s.max_age_s:g})"
                problem = f"{error}; {old}" if error else old
                self._say("stale", problem)
            elif error is not None:
                problem = error
                self._say("unreadable", problem)
            else:
                problem = self._problem or f"no PUE read from {self._where} yet"
            mean = self._mean(now, None)  # a stale document's own mean is stale too
        if s.value is not None:
            return PueReading(value=s.value, source="config", age_s=0.0, mean=mean)
        raise CollectorError("pue", problem)

    def _mean(self, now: float, dcim_mean: float | None) -> PueMean:
        """The DCIM's mean over the window when it gives one, else the agent's own."""
        window = self._section.mean_window_s
        if dcim_mean is not None:
            return PueMean(value=dcim_mean, window_s=window, covered_s=window)
        return self._history.mean(now)

    @property
    def _where(self) -> str:
        return self._section.path if self._section.source == "file" else self._section.url

    def _say(self, kind: str | None, problem: str | None) -> None:
        """Log when the source goes bad (once per kind of problem) and when it recovers."""
        self._problem = problem
        if kind == self._kind:
            return
        self._kind = kind
        if problem is None:
            log.info("PUE from %s is fresh again", self._where)
        else:
            fallback = (
                f"; reporting the configured {self._section.value:g}"
                if self._section.value is not None
                else "; no report until it is"
            )
            log.warning("%s%s", problem, fallback)

    def _read(self, now: float) -> tuple[float, float, float | None]:
        """(value, time of the reading, the DCIM's mean or None) from the source."""
        s = self._section
        if s.source == "file":
            path = Path(s.path)
            with path.open("rb") as handle:
                raw = handle.read(MAX_DOCUMENT_BYTES + 1)
            stamp = path.stat().st_mtime
        else:
            request = urllib.request.Request(s.url, headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=s.timeout_s) as answer:
                raw = answer.read(MAX_DOCUMENT_BYTES + 1)
            stamp = now
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise ValueError(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
        document = json.loads(raw)
        value = _pue_at(document, s.json_path, "json_path")
        mean = _pue_at(document, s.mean_json_path, "mean_json_path") if s.mean_json_path else None
        if s.timestamp_path:
            stamp = parse_timestamp(json_path_get(document, s.timestamp_path))
        if stamp > now + FUTURE_ALLOWANCE_S:
            raise ValueError(
                f"the reading is stamped {stamp - now:.0f} s in the future "
                "(a clock is off, or the timestamp is in milliseconds)"
            )
        return value, stamp, mean


def _pue_at(document: Any, path: str, key: str) -> float:
    """The PUE at ``path`` in ``document``; ``key`` names the option in errors."""
    value = json_path_get(document, path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} {path!r} holds {value!r}, not a number")
    if not 1.0 <= value <= MAX_PUE:
        raise ValueError(f"PUE {value!r} at {key} {path!r} is outside [1, {MAX_PUE:g}]")
    return float(value)


class TcpLatencyProbe:
    """Round-trip times measured as TCP connect times to each region's probe endpoint.

    Every ``interval_s`` all regions are probed at once, ``samples`` connects each, and
    the median of the successful ones is reported as measured. A region whose connects all
    fail reports its configured value (not measured), or nothing. With ``background`` (the
    daemon) a round runs in a thread of its own and reports use the last finished round,
    so a slow or unreachable endpoint never delays a report; without it (``once``,
    ``check``) the round runs in the call.
    """

    def __init__(
        self,
        config: SiteConfig,
        *,
        background: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = config.latency_probe
        self._configured = dict(config.latency_ms)
        self._background = background
        self._clock = clock
        self._measured: dict[str, float | None] = {}
        self._probed_at = -math.inf
        self._failing: set[str] = set()
        self._lock = threading.Lock()
        self._round: threading.Thread | None = None

    def latencies(self) -> list[Latency]:
        with self._lock:
            elapsed = self._clock() - self._probed_at
            if self._probe.targets and not 0 <= elapsed < self._probe.interval_s:
                self._probed_at = self._clock()
                if not self._background:
                    self._measured = self.probe_all()
                elif self._round is None or not self._round.is_alive():
                    self._round = threading.Thread(
                        target=self._probe_in_background, name="latency-probe", daemon=True
                    )
                    self._round.start()
            measured = dict(self._measured)
        out: list[Latency] = []
        for region in sorted(set(self._configured) | set(self._probe.targets)):
            rtt = measured.get(region)
            if rtt is not None:
                out.append(Latency(region=region, rtt_ms=rtt, measured=True))
            elif region in self._configured:
                out.append(Latency(region=region, rtt_ms=self._configured[region], measured=False))
        return out

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background round in progress to finish."""
        if self._round is not None:
            self._round.join(timeout)

    def _probe_in_background(self) -> None:
        results = self.probe_all()
        with self._lock:
            self._measured = results

    def probe_all(self) -> dict[str, float | None]:
        """One probe round over every target, in parallel: region -> median ms or None."""
        targets = self._probe.targets
        if not targets:
            return {}
        with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
            futures = {r: pool.submit(self.probe, t) for r, t in targets.items()}
            results = {r: f.result() for r, f in futures.items()}
        for region, rtt in results.items():
            if rtt is None and region not in self._failing:
                self._failing.add(region)
                log.warning(
                    "latency probe to %s (%s) failed; reporting %s",
                    region,
                    targets[region],
                    "the configured value" if region in self._configured else "no latency",
                )
            elif rtt is not None and region in self._failing:
                self._failing.discard(region)
                log.info("latency probe to %s (%s) works again", region, targets[region])
        return results

    def probe(self, target: str) -> float | None:
        """Median TCP connect time to ``target`` in ms over ``samples`` tries; None if all
        fail (no error of a probe ever escapes)."""
        try:
            host, port = split_host_port(target)
            family, kind, proto, _, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )[0]
        except (OSError, UnicodeError, ValueError) as exc:
            log.debug("latency probe %s: cannot resolve: %s", target, exc)
            return None
        samples: list[float] = []
        for _ in range(self._probe.samples):
            try:
                with socket.socket(family, kind, proto) as sock:
                    sock.settimeout(self._probe.timeout_s)
                    start = time.perf_counter()
                    sock.connect(address)
                    samples.append((time.perf_counter() - start) * 1000.0)
            except OSError as exc:
                log.debug("latency probe %s: %s", target, exc)
        return statistics.median(samples) if samples else None
