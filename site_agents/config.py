"""The site agent's TOML configuration (see examples/sites/*.toml)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from netrouter.configfile import load_toml
from netrouter.wire import SITE_ID_PATTERN

Price = Annotated[float, Field(ge=0, le=20, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSection(_Strict):
    id: str
    name: str = ""
    hub: str = ""
    hub_name: str = ""
    province: str = ""
    side: Literal["east", "west"]
    latitude: float = Field(default=0.0, ge=-90, le=90)
    longitude: float = Field(default=0.0, ge=-180, le=180)
    pue_cap: float = Field(default=0.0, ge=0, le=3)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not SITE_ID_PATTERN.match(value):
            raise ValueError("must be lowercase letters, digits and '-', at most 63 characters")
        return value


class PublishSection(_Strict):
    # The router accepts periods in [0.01 s, 1 day]; an hour is plenty for a liveness signal.
    interval_s: float = Field(default=5.0, ge=0.05, le=3600, allow_inf_nan=False)


class AcceleratorSection(_Strict):
    model: str = Field(min_length=1)
    total: int = Field(ge=0)
    healthy: int = Field(ge=0)
    in_use_by_others: int = Field(default=0, ge=0)
    power_w: float = Field(gt=0, le=10_000, allow_inf_nan=False)

    @model_validator(mode="after")
    def _counts_nest(self) -> AcceleratorSection:
        if not self.in_use_by_others <= self.healthy <= self.total:
            raise ValueError("need in_use_by_others <= healthy <= total")
        return self


class PueSection(_Strict):
    value: float = Field(ge=1.0, le=3.0, allow_inf_nan=False)


class PriceSection(_Strict):
    timezone: str = "Asia/Shanghai"
    hourly_yuan_per_kwh: list[Price] = Field(min_length=24, max_length=24)


class CarbonSection(_Strict):
    kg_per_kwh: float = Field(ge=0, le=5, allow_inf_nan=False)


class InventorySection(_Strict):
    """Where the accelerator inventory comes from.

    ``nvml`` reads NVIDIA devices through NVML and falls back to ``[[accelerators]]`` when
    NVML or the driver is missing; models NVML cannot see always come from the config.
    ``own_process_names``: substrings of process names that are netrouter's own work (any
    other compute process makes its device "in use by others"). ``model_names`` maps NVML
    device names to model names when the default (the word after "NVIDIA") is not right.
    """

    source: Literal["static", "nvml"] = "static"
    own_process_names: list[str] = Field(default_factory=list)
    model_names: dict[str, str] = Field(default_factory=dict)


class SiteConfig(_Strict):
    """A whole site config file."""

    site: SiteSection
    publish: PublishSection = PublishSection()
    inventory: InventorySection = InventorySection()
    accelerators: list[AcceleratorSection] = Field(min_length=1)
    pue: PueSection
    price: PriceSection
    carbon: CarbonSection
    latency_ms: dict[str, Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)]]

    @field_validator("accelerators")
    @classmethod
    def _unique_models(cls, value: list[AcceleratorSection]) -> list[AcceleratorSection]:
        models = [a.model for a in value]
        if len(set(models)) != len(models):
            raise ValueError("each accelerator model may appear once")
        return value

    @field_validator("latency_ms")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        if any(not math.isfinite(v) for v in value.values()):
            raise ValueError("latencies must be finite")
        return value


def load_site_config(path: str | Path) -> SiteConfig:
    """Read and validate a site config; errors name the key and line."""
    return load_toml(path, SiteConfig)
