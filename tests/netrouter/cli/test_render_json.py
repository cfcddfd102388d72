"""The CLI's JSON shapes."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

from rich.console import Console

from netrouter.cli.render_json import print_json, to_jsonable


@dataclass(frozen=True)
class _Inner:
    models: frozenset[str]


@dataclass(frozen=True)
class _Outer:
    name: str
    inner: _Inner
    sizes: tuple[int, ...]


def test_nested_dataclasses_become_plain_values() -> None:
    """Dataclasses turn into dicts, tuples into lists and sets into sorted lists."""
    value = _Outer(name="东数西算", inner=_Inner(models=frozenset({"H100", "A100"})), sizes=(8, 1))
    assert to_jsonable(value) == {
        "name": "东数西算",
        "inner": {"models": ["A100", "H100"]},
        "sizes": [8, 1],
    }


def test_print_json_prints_one_document() -> None:
    """print_json writes one JSON document that reads back to the same values."""
    buffer = io.StringIO()
    print_json(Console(file=buffer, width=140), [_Inner(models=frozenset({"H100"}))])
    assert json.loads(buffer.getvalue()) == [{"models": ["H100"]}]
