"""Fuzzing every input edge with the shared targets of tests/fuzz.py (a few hundred cases each;
benchmarks/fuzz.py runs the same checks 10,000 times)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.helpers.fuzz import Target, run_target, targets

NAMES = (
    "report_bytes",
    "report_values",
    "scenario",
    "router_config",
    "site_config",
    "place_request",
)
EXAMPLES = {"place_request": 60, "scenario": 100}
CAMPAIGN_CASES = 5
"""Cases per target of the campaign in the suite: enough to run its counting."""


@pytest.fixture(scope="module")
def fuzz_targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Target]]:
    with targets(tmp_path_factory.mktemp("fuzz")) as all_targets:
        yield {t.name: t for t in all_targets}


def test_every_target_is_listed(fuzz_targets: dict[str, Target]) -> None:
    """The test below covers every target the benchmark runs."""
    assert set(fuzz_targets) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_hostile_input_is_refused_cleanly(name: str, fuzz_targets: dict[str, Target]) -> None:
    """No crash, errors name the field, rejected input changes nothing, accepted input is sane."""
    target = fuzz_targets[name]
    outcomes: list[str] = []

    @settings(
        max_examples=EXAMPLES.get(name, 200),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(target.cases)
    def run(case: tuple[Any, ...]) -> None:
        outcomes.append(target.check(*case))

    run()
    assert "rejected" in outcomes  # the cases reach the checks, not just the happy path
    if name != "report_bytes":  # random bytes are almost never a valid report
        assert "accepted" in outcomes  # and the paths behind them


def test_fuzz_campaign(request: pytest.FixtureRequest, fuzz_targets: dict[str, Target]) -> None:
    """Every target runs N cases (--fuzz-cases, else a few), each counted, with no crash or
    state change anywhere; figures go to --fuzz-report (``benchmarks/fuzz.py`` runs this)."""
    cases: int = request.config.getoption("--fuzz-cases") or CAMPAIGN_CASES
    only: list[str] = request.config.getoption("--fuzz-only")
    unknown = sorted(set(only) - set(fuzz_targets))
    assert not unknown, f"unknown target {unknown[0]!r}; known: {', '.join(fuzz_targets)}"
    figures = {
        name: run_target(target, cases)
        for name, target in fuzz_targets.items()
        if not only or name in only
    }
    report: str = request.config.getoption("--fuzz-report")
    if report:
        Path(report).write_text(json.dumps(figures), encoding="utf-8")
    assert all(f["cases"] >= cases for f in figures.values()), figures
    bad = {n: f for n, f in figures.items() if f["crashes"] or f["state_changes"]}
    assert not bad, json.dumps(bad, indent=2)
