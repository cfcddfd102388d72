"""Fuzzing every input edge with the shared targets of tests/fuzz.py (a few hundred cases each;
benchmarks/fuzz.py runs the same checks 10,000 times)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz import Target, targets

NAMES = (
    "report_bytes",
    "report_values",
    "scenario",
    "router_config",
    "site_config",
    "place_request",
)
EXAMPLES = {"place_request": 60, "scenario": 100}


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
