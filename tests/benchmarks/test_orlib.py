"""OR-Library GAP instances: malformed text is rejected with the reason."""

from __future__ import annotations

import pytest

from benchmarks.orlib import parse_orlib
from solver.errors import InvalidProblemError


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "agents items"),
        ("2 2 1 2 3", "need 12 numbers"),
        ("1 1 x 1 1", "not all integers"),
        ("0 3", ">= 1"),
        ("1 1 5 -1 3", ">= 0"),
    ],
)
def test_bad_instances_are_rejected_with_a_reason(text: str, needle: str) -> None:
    """Too few numbers, non-integers, empty or negative sizes each name their fault."""
    with pytest.raises(InvalidProblemError, match=needle):
        parse_orlib(text)
