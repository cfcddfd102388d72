"""``netrouter serve``'s TOML configuration (see examples/router.toml); flags override it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from netrouter.client.errors import InvalidArgumentError
from netrouter.client.types import DEFAULT_MIN_SAVING_YUAN, DEFAULT_RESTART_H, Link, MoveCost
from netrouter.contract.broker import BrokerSection, broker_address, parse_mqtt_url
from netrouter.contract.configfile import load_toml
from netrouter.contract.limits import (
    MAX_BANDWIDTH_GBPS,
    MAX_DURATION_H,
    MAX_LATENCY_MS,
    MAX_PUE_CAP_HYSTERESIS,
    MAX_REGIONS,
    MAX_YUAN_PER_GB,
)
from netrouter.contract.messages import same_fields
from netrouter.contract.metrics_server import chosen_port
from netrouter.contract.names import NATIONAL_REGIONS, check_region_ids
from netrouter.contract.topics import Topics
from netrouter.planning.network import check_links
from netrouter.router.app import ServeSettings
from netrouter.router.auth import ServerTls, TokenTable, load_server_tls, load_tokens
from netrouter.router.core import FAILOVER_SOLVER, PLACE_SOLVER, RouterSettings
from netrouter.router.pue_policy import DEFAULT_HYSTERESIS
from netrouter.router.service import MAX_MESSAGE_BYTES, MAX_RECEIVE_BYTES, listen_port
from netrouter.router.state import STALE_GRACE_S
from netrouter.router.telemetry import WILL_GRACE_S
from solver import SolverConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GrpcSection(_Strict):
    """The gRPC listener. ``tls_cert``/``tls_key`` turn on TLS; ``client_ca`` then requires
    client certificates signed by it (mTLS). ``tokens_file`` turns on bearer tokens with
    roles (see :mod:`netrouter.router.auth`). Requests above ``max_receive_mib`` are refused."""

    listen: str = "127.0.0.1:50051"
    tls_cert: str = ""
    tls_key: str = ""
    client_ca: str = ""
    tokens_file: str = ""
    max_receive_mib: float = Field(
        default=MAX_RECEIVE_BYTES / 2**20, gt=0, le=MAX_MESSAGE_BYTES / 2**20, allow_inf_nan=False
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        listen_port(value)
        return value


class StoreSection(_Strict):
    path: str = "netrouter.db"
    busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)


class SitesSection(_Strict):
    """Liveness of the sites, and the hysteresis of the hubs' PUE caps: a site whose
    sustained PUE went above its hub's cap takes work again only at cap − this."""

    ttl_intervals: float = Field(default=3.0, gt=0, allow_inf_nan=False)
    min_ttl_s: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    hold_off_s: float = Field(default=30.0, ge=0, allow_inf_nan=False)
    will_grace_s: float = Field(default=WILL_GRACE_S, ge=0, le=60, allow_inf_nan=False)
    stale_grace_s: float = Field(default=STALE_GRACE_S, ge=0, allow_inf_nan=False)
    pue_cap_hysteresis: float = Field(
        default=DEFAULT_HYSTERESIS, ge=0, le=MAX_PUE_CAP_HYSTERESIS, allow_inf_nan=False
    )


class LinkSection(_Strict):
    a: str = Field(min_length=1)
    b: str = Field(min_length=1)
    latency_ms: float = Field(ge=0, le=MAX_LATENCY_MS, allow_inf_nan=False)
    bandwidth_gbps: float = Field(default=0.0, ge=0, le=MAX_BANDWIDTH_GBPS, allow_inf_nan=False)
    yuan_per_gb: float = Field(default=0.0, ge=0, le=MAX_YUAN_PER_GB, allow_inf_nan=False)


class NetworkSection(_Strict):
    """The network model: the demand regions workloads come from (the same set as every
    agent's ``[site] regions``) and the backbone links between regions and sites."""

    regions: tuple[str, ...] = Field(default=NATIONAL_REGIONS, max_length=MAX_REGIONS)
    links: list[LinkSection] = []

    @field_validator("regions")
    @classmethod
    def _region_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_region_ids(value)


class FailoverSection(_Strict):
    time_limit_s: float = Field(default=FAILOVER_SOLVER.time_limit_s, gt=0, allow_inf_nan=False)
    sweep_interval_s: float = Field(default=0.5, gt=0, allow_inf_nan=False)


class QueueSection(_Strict):
    """How often queued work is tried again when the sites' capacity may have changed (a
    release or a failover tries at once)."""

    interval_s: float = Field(default=0.5, gt=0, le=60, allow_inf_nan=False)


class RebalanceSection(_Strict):
    """What moving running work costs, and what a rebalance move must save beyond it:
    ``restart_h`` hours re-run after a move (the work since its last checkpoint, priced at
    its cost per hour), in rebalance and failover alike; ``min_saving_yuan`` 元 on top."""

    restart_h: float = Field(
        default=DEFAULT_RESTART_H, ge=0, le=MAX_DURATION_H, allow_inf_nan=False
    )
    min_saving_yuan: float = Field(default=DEFAULT_MIN_SAVING_YUAN, ge=0, allow_inf_nan=False)


class MetricsSection(_Strict):
    """Prometheus metrics on ``http://ADDRESS:PORT/metrics``. No ``port`` (the default)
    means off; ``port = 0`` picks any free port, which ``serve`` prints and logs."""

    port: int | None = Field(default=None, ge=0, le=65535)
    address: str = "127.0.0.1"


class SolverSection(_Strict):
    time_limit_s: float = Field(default=PLACE_SOLVER.time_limit_s, gt=0, allow_inf_nan=False)
    num_workers: int = Field(default=PLACE_SOLVER.num_workers, ge=1, le=64)
    relative_gap_limit: float = Field(default=PLACE_SOLVER.relative_gap_limit, ge=0, lt=1)


class LimitsSection(_Strict):
    max_batch: int = Field(default=10_000, ge=1)


class RouterConfig(_Strict):
    """A whole router config file; every section and key is optional."""

    mqtt: BrokerSection = BrokerSection()
    grpc: GrpcSection = GrpcSection()
    store: StoreSection = StoreSection()
    sites: SitesSection = SitesSection()
    solver: SolverSection = SolverSection()
    limits: LimitsSection = LimitsSection()
    network: NetworkSection = NetworkSection()
    failover: FailoverSection = FailoverSection()
    queue: QueueSection = QueueSection()
    rebalance: RebalanceSection = RebalanceSection()
    metrics: MetricsSection = MetricsSection()


def load_router_config(path: str | Path | None) -> RouterConfig:
    """The config at ``path``, or all defaults when ``path`` is ``None``."""
    return RouterConfig() if path is None else load_toml(path, RouterConfig)


def serve_settings(
    config: RouterConfig,
    *,
    mqtt: str | None = None,
    mqtt_username: str | None = None,
    mqtt_password_file: str | None = None,
    mqtt_password: str | None = None,
    mqtt_tls_ca: str | None = None,
    mqtt_tls_cert: str | None = None,
    mqtt_tls_key: str | None = None,
    topic_prefix: str | None = None,
    listen: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    client_ca: str | None = None,
    tokens_file: str | None = None,
    db: str | None = None,
    metrics_port: int | None = None,
    no_metrics: bool = False,
) -> ServeSettings:
    """Merge flags over the file and read the files they name (TLS, passwords, tokens).

    ``mqtt_password`` is the NETROUTER_MQTT_PASSWORD value the entry point read.
    ``metrics_port`` 0 picks any free port; ``no_metrics`` turns metrics off whatever the
    file says. Raises
    ``ValueError`` (or :class:`~netrouter.contract.configfile.ConfigFileError` for a bad tokens file)
    naming the bad key, flag or file.
    """
    links = tuple(Link(**same_fields(Link, x)) for x in config.network.links)
    try:
        check_links(links, "network.links")
    except InvalidArgumentError as exc:
        raise ValueError(str(exc)) from exc
    # The addresses name the flag or key they came from; the file's were checked on loading.
    if listen is not None:
        try:
            listen_port(listen)
        except ValueError as exc:
            raise ValueError(f"--listen: {exc}") from exc
    if mqtt is not None:
        try:
            parse_mqtt_url(mqtt)
        except ValueError as exc:
            raise ValueError(f"--mqtt: {exc}") from exc
    try:
        broker = broker_address(
            config.mqtt,
            section_name="mqtt",
            url=mqtt,
            username=mqtt_username,
            password_file=mqtt_password_file,
            env_password=mqtt_password,
            ca_file=mqtt_tls_ca,
            cert_file=mqtt_tls_cert,
            key_file=mqtt_tls_key,
        )
    except ValueError as exc:
        raise ValueError(f"mqtt: {exc}") from exc
    metrics = chosen_port(metrics_port, no_metrics, config.metrics.port)
    try:
        topics = Topics(topic_prefix or config.mqtt.topic_prefix)
    except ValueError as exc:
        raise ValueError(f"--topic-prefix: {exc}") from exc
    return ServeSettings(
        mqtt=broker,
        topics=topics,
        listen=config.grpc.listen if listen is None else listen,
        grpc_tls=_server_tls(config.grpc, cert=tls_cert, key=tls_key, client_ca=client_ca),
        tokens=_tokens(config.grpc, tokens_file),
        max_receive_bytes=int(config.grpc.max_receive_mib * 2**20),
        db_path=Path(db or config.store.path),
        busy_timeout_ms=config.store.busy_timeout_ms,
        ttl_intervals=config.sites.ttl_intervals,
        min_ttl_s=config.sites.min_ttl_s,
        hold_off_s=config.sites.hold_off_s,
        will_grace_s=config.sites.will_grace_s,
        stale_grace_s=config.sites.stale_grace_s,
        pue_cap_hysteresis=config.sites.pue_cap_hysteresis,
        links=links,
        metrics_port=metrics,
        metrics_address=config.metrics.address,
        router=RouterSettings(
            solver=SolverConfig(
                time_limit_s=config.solver.time_limit_s,
                num_workers=config.solver.num_workers,
                relative_gap_limit=config.solver.relative_gap_limit,
            ),
            max_batch=config.limits.max_batch,
            regions=config.network.regions,
            failover_solver=SolverConfig(
                time_limit_s=config.failover.time_limit_s,
                num_workers=config.solver.num_workers,
                relative_gap_limit=FAILOVER_SOLVER.relative_gap_limit,
            ),
            sweep_interval_s=config.failover.sweep_interval_s,
            queue_interval_s=config.queue.interval_s,
            move_cost=MoveCost(restart_h=config.rebalance.restart_h),
            min_saving_yuan=config.rebalance.min_saving_yuan,
        ),
    )


def _server_tls(
    grpc: GrpcSection, *, cert: str | None, key: str | None, client_ca: str | None
) -> ServerTls | None:
    """The gRPC server's TLS material, flags over ``[grpc]``; ``None`` for plaintext."""
    names = {
        "cert": "--tls-cert" if cert else "grpc.tls_cert",
        "key": "--tls-key" if key else "grpc.tls_key",
        "client_ca": "--tls-client-ca" if client_ca else "grpc.client_ca",
    }
    cert, key, client_ca = cert or grpc.tls_cert, key or grpc.tls_key, client_ca or grpc.client_ca
    if not cert and not key:
        if client_ca:
            raise ValueError(
                f"{names['client_ca']}: client certificates need TLS: "
                "give --tls-cert and --tls-key (or [grpc] tls_cert and tls_key)"
            )
        return None
    if not (cert and key):
        missing = names["key"] if cert else names["cert"]
        raise ValueError(f"{missing}: TLS needs both a certificate and its key")
    return load_server_tls(cert_file=cert, key_file=key, client_ca_file=client_ca, names=names)


def _tokens(grpc: GrpcSection, tokens_file: str | None) -> TokenTable | None:
    path = tokens_file or grpc.tokens_file
    return load_tokens(path) if path else None
