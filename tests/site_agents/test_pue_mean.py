"""The sustained PUE: the time-weighted mean over a window, its cover, its bounded memory and
its state file; the DCIM's own mean; and the three fields on every report. Clocks are
injected; the files are real."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from site_agents.collectors import CollectorError
from site_agents.config import PueSection, SiteConfig
from site_agents.probes import DcimPue
from site_agents.pue_mean import MAX_PUE_SAMPLES, PueHistory
from site_agents.report import ReportBuilder, Sources
from tests.helpers.factories import site_dict

T0 = 1_800_000_000.0
HOUR = 3600.0


def test_mean_weighs_each_reading_by_how_long_it_stood() -> None:
    """1.2 for one hour, then 1.4 for three: 1.35 over the four hours covered."""
    history = PueHistory(window_s=24 * HOUR, hold_s=HOUR, spacing_s=60)
    for minute in range(0, 240, 5):
        history.add(1.2 if minute < 60 else 1.4, T0 + minute * 60, T0 + minute * 60)
    mean = history.mean(T0 + 4 * HOUR)
    assert mean.value == pytest.approx(1.35)
    assert mean.covered_s == pytest.approx(4 * HOUR) and mean.window_s == 24 * HOUR


def test_readings_older_than_the_window_leave_the_mean() -> None:
    """Over a 2 h window, a bad first hour is forgotten two hours after it ended."""
    history = PueHistory(window_s=2 * HOUR, hold_s=HOUR, spacing_s=60)
    for minute in range(0, 120, 10):
        history.add(1.5 if minute < 60 else 1.2, T0 + minute * 60, T0 + minute * 60)
    assert history.mean(T0 + 2 * HOUR).value == pytest.approx(1.35)
    for minute in range(120, 180, 10):
        history.add(1.2, T0 + minute * 60, T0 + minute * 60)
    settled = history.mean(T0 + 3 * HOUR)
    assert settled.value == pytest.approx(1.2)
    assert settled.covered_s == pytest.approx(2 * HOUR)


def test_a_silent_dcim_covers_only_what_its_last_reading_is_good_for() -> None:
    """A reading stands for at most hold_s: a DCIM silent for a day leaves the day uncovered."""
    history = PueHistory(window_s=7 * 24 * HOUR, hold_s=900, spacing_s=60)
    history.add(1.3, T0, T0)
    mean = history.mean(T0 + 24 * HOUR)
    assert (mean.value, mean.covered_s) == (1.3, 900)
    history.add(1.1, T0 + 24 * HOUR, T0 + 24 * HOUR)
    later = history.mean(T0 + 24 * HOUR + 900)
    assert later.value == pytest.approx(1.2) and later.covered_s == pytest.approx(1800)


def _reference_mean(
    readings: list[tuple[float, float]], window_s: float, hold_s: float, now: float
) -> tuple[float, float]:
    """(mean, cover) straight from the definition: each reading stands until the next but
    for at most hold_s, clipped to the window."""
    weighted = covered = 0.0
    for i, (stamp, value) in enumerate(readings):
        end = stamp + hold_s
        if i + 1 < len(readings):
            end = min(end, readings[i + 1][0])
        span = min(end, now) - max(stamp, now - window_s)
        if span > 0:
            weighted += value * span
            covered += span
    return (weighted / covered if covered else 0.0), covered


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.floats(1, 5000), st.floats(1.0, 3.0), st.floats(0, 3000)),
        min_size=1,
        max_size=60,
    )
)
def test_the_running_mean_is_the_mean_by_definition(
    steps: list[tuple[float, float, float]],
) -> None:
    """After any run of readings and pauses, the O(1) mean equals the one summed afresh."""
    window_s, hold_s = 20_000.0, 900.0
    history = PueHistory(window_s=window_s, hold_s=hold_s, spacing_s=1)
    kept: list[tuple[float, float]] = []
    now = T0
    for gap, value, pause in steps:
        now += gap
        if history.add(value, now, now):
            kept.append((now, value))
        now += pause
        mean = history.mean(now)
        want, covered = _reference_mean(kept, window_s, hold_s, now)
        assert mean.covered_s == pytest.approx(covered, abs=1e-6)
        if covered > 1e-6:
            assert mean.value == pytest.approx(want, rel=1e-9)


def test_one_reading_just_taken_is_the_mean_and_covers_nothing_yet() -> None:
    history = PueHistory(window_s=HOUR, hold_s=900)
    assert history.mean(T0).value == 0.0  # nothing read: no mean
    history.add(1.25, T0 + 30, T0)  # stamped ahead of our clock: taken as now
    mean = history.mean(T0)
    assert (mean.value, mean.covered_s, mean.window_s) == (1.25, 0.0, HOUR)


def test_memory_is_bounded_by_the_spacing_and_the_window() -> None:
    """A reading a second for two weeks keeps at most one per spacing over one week."""
    history = PueHistory(window_s=7 * 24 * HOUR, hold_s=900, spacing_s=1)
    assert history.spacing_s == pytest.approx(7 * 24 * HOUR / MAX_PUE_SAMPLES)
    kept = sum(history.add(1.2, T0 + s, T0 + s) for s in range(0, 14 * 24 * 3600, 7))
    assert kept > MAX_PUE_SAMPLES  # the second week's readings were kept...
    assert len(history) <= MAX_PUE_SAMPLES + 1  # ...and the first week's dropped
    assert history.mean(T0 + 14 * 24 * HOUR).covered_s == pytest.approx(7 * 24 * HOUR, rel=1e-3)


def test_repeated_and_older_readings_are_not_kept_twice() -> None:
    history = PueHistory(window_s=HOUR, hold_s=900, spacing_s=60)
    assert history.add(1.2, T0, T0)
    assert not history.add(1.2, T0, T0 + 1)  # the same file, read again
    assert not history.add(1.3, T0 + 30, T0 + 30)  # within the spacing
    assert not history.add(1.3, T0 - 100, T0 + 60)  # older than the last kept
    assert history.add(1.3, T0 + 60, T0 + 60)
    assert len(history) == 2


def test_a_clock_stepped_back_counts_only_what_came_before_it() -> None:
    history = PueHistory(window_s=HOUR, hold_s=900, spacing_s=60)
    history.add(1.2, T0, T0)
    history.add(1.6, T0 + 600, T0 + 600)
    mean = history.mean(T0 + 300)  # the clock is back 5 minutes before the second reading
    assert (mean.value, mean.covered_s) == (1.2, 300)


def test_the_state_file_carries_the_readings_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "pue-state.json"
    first = PueHistory(window_s=24 * HOUR, hold_s=HOUR, spacing_s=60, state_file=state)
    for minute in range(0, 120, 10):
        first.add(1.3, T0 + minute * 60, T0 + minute * 60)
    restarted = PueHistory(window_s=24 * HOUR, hold_s=HOUR, spacing_s=60, state_file=state)
    assert len(restarted) == len(first)
    assert restarted.mean(T0 + 2 * HOUR) == first.mean(T0 + 2 * HOUR)
    assert not (tmp_path / "pue-state.json.tmp").exists()


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"samples": 3}',
        '{"samples": [[1, 1.2], ["x", 1.3], [5, 9.0], [3, 1.2], [true, 1.2], [7]]}',
    ],
)
def test_a_bad_state_file_never_stops_the_agent(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt state file starts the mean afresh (saying so); bad rows are skipped."""
    state = tmp_path / "pue-state.json"
    state.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.INFO):
        history = PueHistory(window_s=HOUR, hold_s=900, state_file=state)
    assert len(history) <= 2  # only [1, 1.2] and [3, 1.2] are readings
    assert "PUE state file" in caplog.text
    assert history.add(1.2, T0, T0)  # and it records (and writes) on
    assert json.loads(state.read_text(encoding="utf-8"))["samples"][-1] == [T0, 1.2]


def test_an_unwritable_state_file_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "missing-dir" / "pue-state.json"
    history = PueHistory(window_s=HOUR, hold_s=900, spacing_s=60, state_file=state)
    with caplog.at_level(logging.WARNING):
        for step in range(3):
            history.add(1.2, T0 + 60 * step, T0 + 60 * step)
    assert len(history) == 3
    assert caplog.text.count("cannot write the PUE state file") == 1


# --- the DCIM source -------------------------------------------------------------------


def _dcim(tmp_path: Path, **options: Any) -> tuple[DcimPue, Path]:
    path = tmp_path / "pue.json"
    section = PueSection(
        source="file",
        path=str(path),
        json_path="pue",
        timestamp_path="at",
        max_age_s=900,
        poll_s=60,
        mean_window_h=24,
        **options,
    )
    return DcimPue(section), path


def _write(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document), encoding="utf-8")


def test_dcim_readings_build_the_mean_the_report_carries(tmp_path: Path) -> None:
    """Two hours of file readings (1.1, then 1.3) give a mean of 1.2 beside the reading."""
    source, path = _dcim(tmp_path)
    for minute in range(0, 120, 5):
        now = T0 + minute * 60
        _write(path, {"pue": 1.1 if minute < 60 else 1.3, "at": now})
        source.reading(now)
    reading = source.reading(T0 + 2 * HOUR)
    assert reading.value == 1.3
    assert reading.mean.value == pytest.approx(1.2)
    assert reading.mean.covered_s == pytest.approx(2 * HOUR)
    assert reading.mean.window_s == 24 * HOUR


def test_the_dcims_own_mean_is_used_while_its_document_is_fresh(tmp_path: Path) -> None:
    source, path = _dcim(tmp_path, mean_json_path="week.mean", value=1.25)
    _write(path, {"pue": 1.15, "at": T0, "week": {"mean": 1.22}})
    fresh = source.reading(T0 + 10)
    assert (fresh.value, fresh.mean.value) == (1.15, 1.22)
    assert fresh.mean.covered_s == fresh.mean.window_s == 24 * HOUR
    # The document goes stale: the configured value now, and the agent's own mean.
    stale = source.reading(T0 + 1000)
    assert (stale.value, stale.source) == (1.25, "config")
    assert (stale.mean.value, stale.mean.covered_s) == (1.15, 900)
    _write(path, {"pue": 1.15, "at": T0 + 2000, "week": {"mean": 0.5}})
    with pytest.raises(CollectorError, match="mean_json_path"):
        DcimPue(
            PueSection(source="file", path=str(path), json_path="pue", mean_json_path="week.mean")
        ).reading(T0 + 2000)


def test_the_mean_needs_a_dcim_source_for_its_options() -> None:
    with pytest.raises(ValueError, match="mean_json_path and state_file"):
        PueSection(value=1.2, state_file="/var/lib/netrouter/pue.json")
    with pytest.raises(ValueError, match="mean_window_h"):
        PueSection(value=1.2, mean_window_h=0)


# --- the report ------------------------------------------------------------------------


def test_a_fixed_pue_reports_itself_as_its_mean_over_the_whole_window() -> None:
    data = site_dict("alpha", pue=1.28)
    data["pue"]["mean_window_h"] = 72
    report = ReportBuilder(SiteConfig.model_validate(data)).build()
    assert (report.pue, report.pue_mean) == pytest.approx((1.28, 1.28))
    assert report.pue_mean_window_s == report.pue_mean_covered_s == 72 * HOUR
    default = ReportBuilder(SiteConfig.model_validate(site_dict("beta"))).build()
    assert default.pue_mean_window_s == 168 * HOUR


def test_every_report_carries_the_dcims_mean(tmp_path: Path) -> None:
    """A report from a DCIM file carries the mean of the readings, on the builder's clock."""
    path = tmp_path / "pue.json"
    data = site_dict("alpha")
    data["pue"] = {
        "source": "file",
        "path": str(path),
        "json_path": "pue",
        "timestamp_path": "at",
        "max_age_s": 3600,
        "mean_window_h": 1,
    }
    config = SiteConfig.model_validate(data)
    now = [T0]
    builder = ReportBuilder(config, Sources.from_config(config), clock=lambda: now[0])
    for value in (1.1, 1.3):
        _write(path, {"pue": value, "at": now[0]})
        builder.build()
        now[0] += 1800
    report = builder.build()
    assert report.pue == 1.3 and report.pue_mean == pytest.approx(1.2)
    assert (report.pue_mean_window_s, report.pue_mean_covered_s) == (HOUR, HOUR)
