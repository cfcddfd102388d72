"""The workload file format (YAML or JSON) read by ``netrouter place --file``.

    workloads:
      - id: llm-chat-csj-001        # unique among active placements
        origin_region: csj          # where the users are: jjj, csj, gba, cy
        demands: {H100: 8, A100: 16} # alternatives: the count needed on each model
        duration_h: 1.0
        latency_slo_ms: 12          # optional: max RTT from the origin region
        max_pue: 1.25               # optional: only sites at or under this PUE
        priority: 2                 # optional, default 0; higher is placed first
        power_w_per_device: 650     # optional: default is the site's reported board power
        labels: {team: search}      # optional

A bare list of workloads is accepted too. See examples/README.md and examples/workloads.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from netrouter.limits import MAX_DEVICES, MAX_DURATION_H, MAX_POWER_W
from solver import InvalidProblemError, Workload
from solver.model import MAX_PRIORITY


class WorkloadFileError(ValueError):
    """The workload file is unreadable or invalid; the message names the field."""


class WorkloadEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The solver's own ranges (solver.Workload), checked here so errors name the key.
    id: str = Field(min_length=1)
    origin_region: str = Field(min_length=1)
    demands: dict[str, Annotated[int, Field(ge=1, le=MAX_DEVICES)]] = Field(min_length=1)
    duration_h: float = Field(ge=1e-6, le=MAX_DURATION_H, allow_inf_nan=False)
    latency_slo_ms: float | None = Field(default=None, ge=0.001, allow_inf_nan=False)
    max_pue: float | None = Field(default=None, ge=1.0, allow_inf_nan=False)
    priority: int = Field(default=0, ge=0, le=MAX_PRIORITY)
    power_w_per_device: float | None = Field(
        default=None, ge=1.0, le=MAX_POWER_W, allow_inf_nan=False
    )
    labels: dict[str, str] = Field(default_factory=dict)


class _WorkloadFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workloads: list[WorkloadEntry] = Field(min_length=1)


def parse_workloads(data: Any, source: str = "<input>") -> list[Workload]:
    """Validate already-decoded YAML/JSON data into workloads."""
    if isinstance(data, list):
        data = {"workloads": data}
    try:
        parsed = _WorkloadFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(
            "."
        )
        raise WorkloadFileError(f"{source}: {where}: {first['msg']}") from exc
    try:
        return [Workload(**entry.model_dump()) for entry in parsed.workloads]
    except InvalidProblemError as exc:
        raise WorkloadFileError(f"{source}: {exc}") from exc


def load_workloads(path: str | Path) -> list[Workload]:
    """Read a ``.yaml``/``.yml`` or ``.json`` workload file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkloadFileError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise WorkloadFileError(
            f"{path}: not valid {path.suffix.lstrip('.').upper()}: {exc}"
        ) from exc
    return parse_workloads(data, str(path))


def workload_to_dict(w: Workload) -> dict[str, Any]:
    """The file format's dict of one workload (optional fields left out when unset)."""
    out: dict[str, Any] = {
        "id": w.id,
        "origin_region": w.origin_region,
        "demands": dict(w.demands),
        "duration_h": w.duration_h,
        "priority": w.priority,
    }
    for key in ("latency_slo_ms", "max_pue", "power_w_per_device"):
        value = getattr(w, key)
        if value is not None:
            out[key] = value
    if w.labels:
        out["labels"] = dict(w.labels)
    return out
