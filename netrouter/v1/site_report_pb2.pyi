from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AcceleratorInventory(_message.Message):
    __slots__ = ("model", "total", "healthy", "in_use_by_others", "power_w", "from_static_config", "node_size", "nodes_by_free", "domain_nodes", "domains_by_whole")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    IN_USE_BY_OTHERS_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    FROM_STATIC_CONFIG_FIELD_NUMBER: _ClassVar[int]
    NODE_SIZE_FIELD_NUMBER: _ClassVar[int]
    NODES_BY_FREE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_NODES_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_BY_WHOLE_FIELD_NUMBER: _ClassVar[int]
    model: str
    total: int
    healthy: int
    in_use_by_others: int
    power_w: float
    from_static_config: bool
    node_size: int
    nodes_by_free: _containers.RepeatedScalarFieldContainer[int]
    domain_nodes: int
    domains_by_whole: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, model: _Optional[str] = ..., total: _Optional[int] = ..., healthy: _Optional[int] = ..., in_use_by_others: _Optional[int] = ..., power_w: _Optional[float] = ..., from_static_config: _Optional[bool] = ..., node_size: _Optional[int] = ..., nodes_by_free: _Optional[_Iterable[int]] = ..., domain_nodes: _Optional[int] = ..., domains_by_whole: _Optional[_Iterable[int]] = ...) -> None: ...

class Tariff(_message.Message):
    __slots__ = ("price_now_yuan_per_kwh", "next_24h_yuan_per_kwh", "timezone", "band_now", "next_24h_bands")
    PRICE_NOW_YUAN_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    NEXT_24H_YUAN_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    BAND_NOW_FIELD_NUMBER: _ClassVar[int]
    NEXT_24H_BANDS_FIELD_NUMBER: _ClassVar[int]
    price_now_yuan_per_kwh: float
    next_24h_yuan_per_kwh: _containers.RepeatedScalarFieldContainer[float]
    timezone: str
    band_now: str
    next_24h_bands: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, price_now_yuan_per_kwh: _Optional[float] = ..., next_24h_yuan_per_kwh: _Optional[_Iterable[float]] = ..., timezone: _Optional[str] = ..., band_now: _Optional[str] = ..., next_24h_bands: _Optional[_Iterable[str]] = ...) -> None: ...

class RegionLatency(_message.Message):
    __slots__ = ("region", "rtt_ms", "measured")
    REGION_FIELD_NUMBER: _ClassVar[int]
    RTT_MS_FIELD_NUMBER: _ClassVar[int]
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    region: str
    rtt_ms: float
    measured: bool
    def __init__(self, region: _Optional[str] = ..., rtt_ms: _Optional[float] = ..., measured: _Optional[bool] = ...) -> None: ...

class SiteLabels(_message.Message):
    __slots__ = ("name", "hub", "hub_name", "province", "side", "latitude", "longitude", "pue_cap")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HUB_FIELD_NUMBER: _ClassVar[int]
    HUB_NAME_FIELD_NUMBER: _ClassVar[int]
    PROVINCE_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    PUE_CAP_FIELD_NUMBER: _ClassVar[int]
    name: str
    hub: str
    hub_name: str
    province: str
    side: str
    latitude: float
    longitude: float
    pue_cap: float
    def __init__(self, name: _Optional[str] = ..., hub: _Optional[str] = ..., hub_name: _Optional[str] = ..., province: _Optional[str] = ..., side: _Optional[str] = ..., latitude: _Optional[float] = ..., longitude: _Optional[float] = ..., pue_cap: _Optional[float] = ...) -> None: ...

class RunningPlacement(_message.Message):
    __slots__ = ("placement_id", "model", "devices")
    PLACEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    placement_id: str
    model: str
    devices: int
    def __init__(self, placement_id: _Optional[str] = ..., model: _Optional[str] = ..., devices: _Optional[int] = ...) -> None: ...

class SiteReport(_message.Message):
    __slots__ = ("site_id", "boot_id", "sequence", "timestamp", "labels", "accelerators", "pue", "tariff", "carbon_kg_per_kwh", "latencies", "report_interval_s", "pue_source", "pue_age_s", "pue_mean", "pue_mean_window_s", "pue_mean_covered_s", "sees_placements", "running")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    BOOT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ACCELERATORS_FIELD_NUMBER: _ClassVar[int]
    PUE_FIELD_NUMBER: _ClassVar[int]
    TARIFF_FIELD_NUMBER: _ClassVar[int]
    CARBON_KG_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    LATENCIES_FIELD_NUMBER: _ClassVar[int]
    REPORT_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    PUE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    PUE_AGE_S_FIELD_NUMBER: _ClassVar[int]
    PUE_MEAN_FIELD_NUMBER: _ClassVar[int]
    PUE_MEAN_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    PUE_MEAN_COVERED_S_FIELD_NUMBER: _ClassVar[int]
    SEES_PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    boot_id: str
    sequence: int
    timestamp: float
    labels: SiteLabels
    accelerators: _containers.RepeatedCompositeFieldContainer[AcceleratorInventory]
    pue: float
    tariff: Tariff
    carbon_kg_per_kwh: float
    latencies: _containers.RepeatedCompositeFieldContainer[RegionLatency]
    report_interval_s: float
    pue_source: str
    pue_age_s: float
    pue_mean: float
    pue_mean_window_s: float
    pue_mean_covered_s: float
    sees_placements: bool
    running: _containers.RepeatedCompositeFieldContainer[RunningPlacement]
    def __init__(self, site_id: _Optional[str] = ..., boot_id: _Optional[str] = ..., sequence: _Optional[int] = ..., timestamp: _Optional[float] = ..., labels: _Optional[_Union[SiteLabels, _Mapping]] = ..., accelerators: _Optional[_Iterable[_Union[AcceleratorInventory, _Mapping]]] = ..., pue: _Optional[float] = ..., tariff: _Optional[_Union[Tariff, _Mapping]] = ..., carbon_kg_per_kwh: _Optional[float] = ..., latencies: _Optional[_Iterable[_Union[RegionLatency, _Mapping]]] = ..., report_interval_s: _Optional[float] = ..., pue_source: _Optional[str] = ..., pue_age_s: _Optional[float] = ..., pue_mean: _Optional[float] = ..., pue_mean_window_s: _Optional[float] = ..., pue_mean_covered_s: _Optional[float] = ..., sees_placements: _Optional[bool] = ..., running: _Optional[_Iterable[_Union[RunningPlacement, _Mapping]]] = ...) -> None: ...
