"""``netrouter serve``'s TOML configuration (see examples/router.toml); flags override it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from netrouter.app import ServeSettings
from netrouter.configfile import load_toml
from netrouter.core import RouterSettings
from netrouter.errors import InvalidArgumentError
from netrouter.network import check_links
from netrouter.types import Link
from netrouter.wire import parse_mqtt_url
from solver import SolverConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSection(_Strict):
    url: str = "mqtt://127.0.0.1:1883"


class GrpcSection(_Strict):
    listen: str = "127.0.0.1:50051"


class StoreSection(_Strict):
    path: str = "netrouter.db"


class SitesSection(_Strict):
    ttl_intervals: float = Field(default=3.0, gt=0, allow_inf_nan=False)
    min_ttl_s: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    hold_off_s: float = Field(default=30.0, ge=0, allow_inf_nan=False)


class LinkSection(_Strict):
    a: str = Field(min_length=1)
    b: str = Field(min_length=1)
    latency_ms: float = Field(ge=0, allow_inf_nan=False)
    bandwidth_gbps: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    yuan_per_gb: float = Field(default=0.0, ge=0, allow_inf_nan=False)


class NetworkSection(_Strict):
    links: list[LinkSection] = []


class FailoverSection(_Strict):
    time_limit_s: float = Field(default=2.0, gt=0, allow_inf_nan=False)
    sweep_interval_s: float = Field(default=0.5, gt=0, allow_inf_nan=False)


class MetricsSection(_Strict):
    port: int | None = Field(default=None, ge=0, le=65535)
    address: str = "127.0.0.1"


class SolverSection(_Strict):
    time_limit_s: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    num_workers: int = Field(default=2, ge=1, le=64)
    relative_gap_limit: float = Field(default=1e-4, ge=0, lt=1)


class LimitsSection(_Strict):
    max_batch: int = Field(default=10_000, ge=1)


class RouterConfig(_Strict):
    """A whole router config file; every section and key is optional."""

    mqtt: MqttSection = MqttSection()
    grpc: GrpcSection = GrpcSection()
    store: StoreSection = StoreSection()
    sites: SitesSection = SitesSection()
    solver: SolverSection = SolverSection()
    limits: LimitsSection = LimitsSection()
    network: NetworkSection = NetworkSection()
    failover: FailoverSection = FailoverSection()
    metrics: MetricsSection = MetricsSection()


def load_router_config(path: str | Path | None) -> RouterConfig:
    """The config at ``path``, or all defaults when ``path`` is ``None``."""
    return RouterConfig() if path is None else load_toml(path, RouterConfig)


def serve_settings(
    config: RouterConfig,
    *,
    mqtt: str | None = None,
    listen: str | None = None,
    db: str | None = None,
    metrics_port: int | None = None,
) -> ServeSettings:
    """Merge flags over the file; raise ``ValueError`` naming the bad value."""
    links = tuple(
        Link(
            a=x.a,
            b=x.b,
            latency_ms=x.latency_ms,
            bandwidth_gbps=x.bandwidth_gbps,
            yuan_per_gb=x.yuan_per_gb,
        )
        for x in config.network.links
    )
    try:
        check_links(links, "network.links")
    except InvalidArgumentError as exc:
        raise ValueError(str(exc)) from exc
    return ServeSettings(
        mqtt=parse_mqtt_url(mqtt or config.mqtt.url),
        listen=listen or config.grpc.listen,
        db_path=Path(db or config.store.path),
        ttl_intervals=config.sites.ttl_intervals,
        min_ttl_s=config.sites.min_ttl_s,
        hold_off_s=config.sites.hold_off_s,
        links=links,
        metrics_port=metrics_port if metrics_port is not None else config.metrics.port,
        metrics_address=config.metrics.address,
        router=RouterSettings(
            solver=SolverConfig(
                time_limit_s=config.solver.time_limit_s,
                num_workers=config.solver.num_workers,
                relative_gap_limit=config.solver.relative_gap_limit,
            ),
            max_batch=config.limits.max_batch,
            failover_solver=SolverConfig(
                time_limit_s=config.failover.time_limit_s,
                num_workers=config.solver.num_workers,
                relative_gap_limit=1e-3,
            ),
            sweep_interval_s=config.failover.sweep_interval_s,
        ),
    )
