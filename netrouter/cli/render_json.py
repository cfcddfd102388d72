"""The CLI's JSON: one document on stdout per result, in the shapes scripts rely on."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from netrouter.client.whatif_report import WhatIfReport
    from netrouter.planning.replay_report import ReplayReport


def to_jsonable(value: Any) -> Any:
    """Dataclasses (nested) to plain dicts/lists for ``json.dumps``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(to_jsonable(v) for v in value)
    return value


def print_json(console: Console, value: Any) -> None:
    """Machine-readable output: one JSON document on stdout."""
    console.print_json(json.dumps(to_jsonable(value), ensure_ascii=False))


def json_line(value: Any) -> str:
    """One value as one line of JSON (JSON Lines), for streams."""
    return json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":"))


def replay_json(report: ReplayReport) -> str:
    """A replay report as JSON, less each policy's cost per step (that is for the plots)."""
    exclude = {"policies": {"__all__": {"cost_per_step"}}}
    return report.model_dump_json(exclude=exclude)


def whatif_json(report: WhatIfReport) -> str:
    """A what-if report as JSON, all of it."""
    return report.model_dump_json()
