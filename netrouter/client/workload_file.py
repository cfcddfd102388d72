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
        allowed_provinces: [Guizhou, Ningxia]  # optional data residency: allowed_sites,
        forbidden_sites: [wuhu]     #   allowed_hubs, allowed_provinces, forbidden_... likewise
        data_gb: 500                # optional: data moved from the origin region to the site
        migration_cost_yuan: 40     # optional: what moving it once running costs
        labels: {team: search}      # optional

A bare list of workloads is accepted too. The keys are the API's (``Workload`` in
protos/netrouter/v1/router.proto). Accelerator models are spelt as
:mod:`netrouter.contract.names` says (``h100`` is ``H100``; ``H10`` is refused with "did you mean
H100?"). The origin region is checked by the router, against the regions it is configured
with. See examples/README.md and examples/workloads.yaml.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from netrouter.client.errors import InvalidArgumentError
from netrouter.client.types import RESIDENCY_FIELDS, Workload, residency_of
from netrouter.contract.limits import MAX_DEVICES, MAX_DURATION_H, MAX_POWER_W, MAX_PRIORITY
from netrouter.contract.names import UnknownNameError, canonical_region

Names = list[Annotated[str, Field(min_length=1)]]


Instant = Annotated[float | datetime, Field(union_mode="left_to_right")]
"""A time in a workload file: an ISO 8601 date-time with its offset
(``2026-12-08T23:00:00+08:00``) or seconds since the Unix epoch."""


def _epoch(at: datetime | float | None, name: str) -> float:
    """Seconds since the Unix epoch (0: not given); a date-time without an offset is
    refused, since the router's clock and the file's writer may be hours apart."""
    if at is None:
        return 0.0
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise InvalidArgumentError(
                name, f"{at.isoformat()} has no UTC offset (add one, such as +08:00)"
            )
        return at.timestamp()
    return float(at)


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
    allowed_sites: Names = Field(default_factory=list)
    allowed_hubs: Names = Field(default_factory=list)
    allowed_provinces: Names = Field(default_factory=list)
    forbidden_sites: Names = Field(default_factory=list)
    forbidden_hubs: Names = Field(default_factory=list)
    forbidden_provinces: Names = Field(default_factory=list)
    data_gb: float = Field(default=0.0, ge=0.0, le=1e9, allow_inf_nan=False)
    migration_cost_yuan: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    one_domain: bool = False
    earliest_start: Instant | None = None
    deadline: Instant | None = None
    preemptible: bool = False
    restart_h: float = Field(default=0.0, ge=0.0, le=MAX_DURATION_H, allow_inf_nan=False)
    labels: dict[str, str] = Field(default_factory=dict)

    def to_workload(self) -> Workload:
        """The workload this entry describes; :class:`InvalidArgumentError` names the field."""
        return Workload(
            id=self.id,
            origin_region=self.origin_region,
            demands=self.demands,
            duration_h=self.duration_h,
            latency_slo_ms=self.latency_slo_ms,
            max_pue=self.max_pue,
            priority=self.priority,
            power_w_per_device=self.power_w_per_device,
            **residency_of(self),
            data_gb=self.data_gb,
            migration_cost_yuan=self.migration_cost_yuan,
            one_domain=self.one_domain,
            earliest_start=_epoch(self.earliest_start, "earliest_start"),
            deadline=_epoch(self.deadline, "deadline"),
            preemptible=self.preemptible,
            restart_h=self.restart_h,
            labels=self.labels,
        )


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
    workloads = []
    for i, entry in enumerate(parsed.workloads):
        try:
            workloads.append(entry.to_workload())
        except InvalidArgumentError as exc:
            raise WorkloadFileError(f"{source}: workloads[{i}].{exc}") from exc
    return workloads


WORKLOAD_SUFFIXES = (".yaml", ".yml", ".json")
"""The file names a workload file may have: YAML or JSON."""


def load_workloads(path: str | Path) -> list[Workload]:
    """Read a ``.yaml``/``.yml`` or ``.json`` workload file."""
    path = Path(path)
    if path.suffix.lower() not in WORKLOAD_SUFFIXES:
        raise WorkloadFileError(
            f"{path}: a workload file is YAML (.yaml, .yml) or JSON (.json), not "
            f"{path.suffix or 'a file without a suffix'!r}; see examples/workloads.yaml"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkloadFileError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        is_json = path.suffix.lower() == ".json"
        data = json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise WorkloadFileError(
            f"{path}: not valid {'JSON' if is_json else 'YAML'}: {exc}"
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
    for key in RESIDENCY_FIELDS:
        names = getattr(w, key)
        if names:
            out[key] = sorted(names)
    for key in (
        "data_gb",
        "migration_cost_yuan",
        "one_domain",
        "earliest_start",
        "deadline",
        "preemptible",
        "restart_h",
    ):
        if getattr(w, key):
            out[key] = getattr(w, key)
    if w.labels:
        out["labels"] = dict(w.labels)
    return out


def known_regions(
    workloads: Sequence[Workload], regions: Collection[str], field: str = "workloads"
) -> list[Workload]:
    """``workloads`` with each origin region spelt as in ``regions`` (``JJJ`` is ``jjj``);
    :class:`InvalidArgumentError` naming ``workloads[i].origin_region`` for a region not in
    it, listing the known ones."""
    out = []
    for i, w in enumerate(workloads):
        try:
            region = canonical_region(w.origin_region, regions)
        except UnknownNameError as exc:
            raise InvalidArgumentError(f"{field}[{i}].origin_region", str(exc)) from exc
        out.append(w if region == w.origin_region else replace(w, origin_region=region))
    return out
