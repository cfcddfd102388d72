from netrouter.v1 import site_report_pb2 as _site_report_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AcceleratorDemand(_message.Message):
    __slots__ = ("model", "count")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    model: str
    count: int
    def __init__(self, model: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Workload(_message.Message):
    __slots__ = ("id", "origin_region", "demands", "power_w_per_device", "duration_h", "latency_slo_ms", "max_pue", "priority", "labels", "allowed_sites", "allowed_hubs", "allowed_provinces", "forbidden_sites", "forbidden_hubs", "forbidden_provinces", "data_gb", "migration_cost_yuan", "one_domain", "earliest_start", "deadline", "preemptible", "restart_h")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_REGION_FIELD_NUMBER: _ClassVar[int]
    DEMANDS_FIELD_NUMBER: _ClassVar[int]
    POWER_W_PER_DEVICE_FIELD_NUMBER: _ClassVar[int]
    DURATION_H_FIELD_NUMBER: _ClassVar[int]
    LATENCY_SLO_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_PUE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_SITES_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_HUBS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_PROVINCES_FIELD_NUMBER: _ClassVar[int]
    FORBIDDEN_SITES_FIELD_NUMBER: _ClassVar[int]
    FORBIDDEN_HUBS_FIELD_NUMBER: _ClassVar[int]
    FORBIDDEN_PROVINCES_FIELD_NUMBER: _ClassVar[int]
    DATA_GB_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_COST_YUAN_FIELD_NUMBER: _ClassVar[int]
    ONE_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    EARLIEST_START_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PREEMPTIBLE_FIELD_NUMBER: _ClassVar[int]
    RESTART_H_FIELD_NUMBER: _ClassVar[int]
    id: str
    origin_region: str
    demands: _containers.RepeatedCompositeFieldContainer[AcceleratorDemand]
    power_w_per_device: float
    duration_h: float
    latency_slo_ms: float
    max_pue: float
    priority: int
    labels: _containers.ScalarMap[str, str]
    allowed_sites: _containers.RepeatedScalarFieldContainer[str]
    allowed_hubs: _containers.RepeatedScalarFieldContainer[str]
    allowed_provinces: _containers.RepeatedScalarFieldContainer[str]
    forbidden_sites: _containers.RepeatedScalarFieldContainer[str]
    forbidden_hubs: _containers.RepeatedScalarFieldContainer[str]
    forbidden_provinces: _containers.RepeatedScalarFieldContainer[str]
    data_gb: float
    migration_cost_yuan: float
    one_domain: bool
    earliest_start: float
    deadline: float
    preemptible: bool
    restart_h: float
    def __init__(self, id: _Optional[str] = ..., origin_region: _Optional[str] = ..., demands: _Optional[_Iterable[_Union[AcceleratorDemand, _Mapping]]] = ..., power_w_per_device: _Optional[float] = ..., duration_h: _Optional[float] = ..., latency_slo_ms: _Optional[float] = ..., max_pue: _Optional[float] = ..., priority: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., allowed_sites: _Optional[_Iterable[str]] = ..., allowed_hubs: _Optional[_Iterable[str]] = ..., allowed_provinces: _Optional[_Iterable[str]] = ..., forbidden_sites: _Optional[_Iterable[str]] = ..., forbidden_hubs: _Optional[_Iterable[str]] = ..., forbidden_provinces: _Optional[_Iterable[str]] = ..., data_gb: _Optional[float] = ..., migration_cost_yuan: _Optional[float] = ..., one_domain: _Optional[bool] = ..., earliest_start: _Optional[float] = ..., deadline: _Optional[float] = ..., preemptible: _Optional[bool] = ..., restart_h: _Optional[float] = ...) -> None: ...

class PlaceRequest(_message.Message):
    __slots__ = ("workloads", "dry_run", "queue")
    WORKLOADS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    workloads: _containers.RepeatedCompositeFieldContainer[Workload]
    dry_run: bool
    queue: bool
    def __init__(self, workloads: _Optional[_Iterable[_Union[Workload, _Mapping]]] = ..., dry_run: _Optional[bool] = ..., queue: _Optional[bool] = ...) -> None: ...

class CostBreakdown(_message.Message):
    __slots__ = ("energy_kwh", "energy_cost_yuan", "cost_per_hour_yuan", "carbon_kg", "transfer_cost_yuan", "migration_cost_yuan", "carbon_cost_yuan", "total_cost_yuan")
    ENERGY_KWH_FIELD_NUMBER: _ClassVar[int]
    ENERGY_COST_YUAN_FIELD_NUMBER: _ClassVar[int]
    COST_PER_HOUR_YUAN_FIELD_NUMBER: _ClassVar[int]
    CARBON_KG_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_COST_YUAN_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_COST_YUAN_FIELD_NUMBER: _ClassVar[int]
    CARBON_COST_YUAN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_YUAN_FIELD_NUMBER: _ClassVar[int]
    energy_kwh: float
    energy_cost_yuan: float
    cost_per_hour_yuan: float
    carbon_kg: float
    transfer_cost_yuan: float
    migration_cost_yuan: float
    carbon_cost_yuan: float
    total_cost_yuan: float
    def __init__(self, energy_kwh: _Optional[float] = ..., energy_cost_yuan: _Optional[float] = ..., cost_per_hour_yuan: _Optional[float] = ..., carbon_kg: _Optional[float] = ..., transfer_cost_yuan: _Optional[float] = ..., migration_cost_yuan: _Optional[float] = ..., carbon_cost_yuan: _Optional[float] = ..., total_cost_yuan: _Optional[float] = ...) -> None: ...

class Alternative(_message.Message):
    __slots__ = ("site_id", "model", "cost_yuan", "reason_kind", "reason")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COST_YUAN_FIELD_NUMBER: _ClassVar[int]
    REASON_KIND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    model: str
    cost_yuan: float
    reason_kind: str
    reason: str
    def __init__(self, site_id: _Optional[str] = ..., model: _Optional[str] = ..., cost_yuan: _Optional[float] = ..., reason_kind: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Placement(_message.Message):
    __slots__ = ("placement_id", "workload_id", "site_id", "accelerator_model", "devices", "cost", "latency_ms", "explanation", "state", "created_at", "workload", "alternatives", "updated_at", "end_reason", "submitted_at")
    PLACEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCELERATOR_MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    placement_id: str
    workload_id: str
    site_id: str
    accelerator_model: str
    devices: int
    cost: CostBreakdown
    latency_ms: float
    explanation: str
    state: str
    created_at: float
    workload: Workload
    alternatives: _containers.RepeatedCompositeFieldContainer[Alternative]
    updated_at: float
    end_reason: str
    submitted_at: float
    def __init__(self, placement_id: _Optional[str] = ..., workload_id: _Optional[str] = ..., site_id: _Optional[str] = ..., accelerator_model: _Optional[str] = ..., devices: _Optional[int] = ..., cost: _Optional[_Union[CostBreakdown, _Mapping]] = ..., latency_ms: _Optional[float] = ..., explanation: _Optional[str] = ..., state: _Optional[str] = ..., created_at: _Optional[float] = ..., workload: _Optional[_Union[Workload, _Mapping]] = ..., alternatives: _Optional[_Iterable[_Union[Alternative, _Mapping]]] = ..., updated_at: _Optional[float] = ..., end_reason: _Optional[str] = ..., submitted_at: _Optional[float] = ...) -> None: ...

class Unplaced(_message.Message):
    __slots__ = ("workload_id", "reason", "penalty_yuan")
    WORKLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PENALTY_YUAN_FIELD_NUMBER: _ClassVar[int]
    workload_id: str
    reason: str
    penalty_yuan: float
    def __init__(self, workload_id: _Optional[str] = ..., reason: _Optional[str] = ..., penalty_yuan: _Optional[float] = ...) -> None: ...

class SolveInfo(_message.Message):
    __slots__ = ("objective", "bound", "gap", "status", "wall_s", "method")
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WALL_S_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    objective: float
    bound: float
    gap: float
    status: str
    wall_s: float
    method: str
    def __init__(self, objective: _Optional[float] = ..., bound: _Optional[float] = ..., gap: _Optional[float] = ..., status: _Optional[str] = ..., wall_s: _Optional[float] = ..., method: _Optional[str] = ...) -> None: ...

class PlaceResponse(_message.Message):
    __slots__ = ("placements", "unplaced", "solve", "dry_run", "queued")
    PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    UNPLACED_FIELD_NUMBER: _ClassVar[int]
    SOLVE_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    placements: _containers.RepeatedCompositeFieldContainer[Placement]
    unplaced: _containers.RepeatedCompositeFieldContainer[Unplaced]
    solve: SolveInfo
    dry_run: bool
    queued: _containers.RepeatedCompositeFieldContainer[Placement]
    def __init__(self, placements: _Optional[_Iterable[_Union[Placement, _Mapping]]] = ..., unplaced: _Optional[_Iterable[_Union[Unplaced, _Mapping]]] = ..., solve: _Optional[_Union[SolveInfo, _Mapping]] = ..., dry_run: _Optional[bool] = ..., queued: _Optional[_Iterable[_Union[Placement, _Mapping]]] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("placement_ids",)
    PLACEMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    placement_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, placement_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: _containers.RepeatedCompositeFieldContainer[Placement]
    def __init__(self, released: _Optional[_Iterable[_Union[Placement, _Mapping]]] = ...) -> None: ...

class GetPlacementRequest(_message.Message):
    __slots__ = ("placement_id",)
    PLACEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    placement_id: str
    def __init__(self, placement_id: _Optional[str] = ...) -> None: ...

class ListPlacementsRequest(_message.Message):
    __slots__ = ("site_id", "state", "page_size", "page_token", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    state: str
    page_size: int
    page_token: str
    labels: _containers.ScalarMap[str, str]
    def __init__(self, site_id: _Optional[str] = ..., state: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListPlacementsResponse(_message.Message):
    __slots__ = ("placements", "next_page_token")
    PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    placements: _containers.RepeatedCompositeFieldContainer[Placement]
    next_page_token: str
    def __init__(self, placements: _Optional[_Iterable[_Union[Placement, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListSitesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AcceleratorCapacity(_message.Message):
    __slots__ = ("model", "total", "healthy", "in_use_by_others", "placed", "free", "power_w", "node_size", "nodes_by_free", "domain_nodes", "domains_by_whole")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    IN_USE_BY_OTHERS_FIELD_NUMBER: _ClassVar[int]
    PLACED_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    NODE_SIZE_FIELD_NUMBER: _ClassVar[int]
    NODES_BY_FREE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_NODES_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_BY_WHOLE_FIELD_NUMBER: _ClassVar[int]
    model: str
    total: int
    healthy: int
    in_use_by_others: int
    placed: int
    free: int
    power_w: float
    node_size: int
    nodes_by_free: _containers.RepeatedScalarFieldContainer[int]
    domain_nodes: int
    domains_by_whole: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, model: _Optional[str] = ..., total: _Optional[int] = ..., healthy: _Optional[int] = ..., in_use_by_others: _Optional[int] = ..., placed: _Optional[int] = ..., free: _Optional[int] = ..., power_w: _Optional[float] = ..., node_size: _Optional[int] = ..., nodes_by_free: _Optional[_Iterable[int]] = ..., domain_nodes: _Optional[int] = ..., domains_by_whole: _Optional[_Iterable[int]] = ...) -> None: ...

class SiteView(_message.Message):
    __slots__ = ("site_id", "labels", "up", "down_reason", "report_age_s", "pue", "price_now_yuan_per_kwh", "carbon_kg_per_kwh", "accelerators", "latencies", "price_band_now", "pue_source", "pue_age_s", "ttl_s", "held_down_s", "pue_mean", "over_pue_cap", "agents", "drained", "drained_at", "drain_reason", "sees_placements", "not_running", "unknown_running")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    UP_FIELD_NUMBER: _ClassVar[int]
    DOWN_REASON_FIELD_NUMBER: _ClassVar[int]
    REPORT_AGE_S_FIELD_NUMBER: _ClassVar[int]
    PUE_FIELD_NUMBER: _ClassVar[int]
    PRICE_NOW_YUAN_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    CARBON_KG_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    ACCELERATORS_FIELD_NUMBER: _ClassVar[int]
    LATENCIES_FIELD_NUMBER: _ClassVar[int]
    PRICE_BAND_NOW_FIELD_NUMBER: _ClassVar[int]
    PUE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    PUE_AGE_S_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    HELD_DOWN_S_FIELD_NUMBER: _ClassVar[int]
    PUE_MEAN_FIELD_NUMBER: _ClassVar[int]
    OVER_PUE_CAP_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    DRAINED_FIELD_NUMBER: _ClassVar[int]
    DRAINED_AT_FIELD_NUMBER: _ClassVar[int]
    DRAIN_REASON_FIELD_NUMBER: _ClassVar[int]
    SEES_PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    NOT_RUNNING_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_RUNNING_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    labels: _site_report_pb2.SiteLabels
    up: bool
    down_reason: str
    report_age_s: float
    pue: float
    price_now_yuan_per_kwh: float
    carbon_kg_per_kwh: float
    accelerators: _containers.RepeatedCompositeFieldContainer[AcceleratorCapacity]
    latencies: _containers.RepeatedCompositeFieldContainer[_site_report_pb2.RegionLatency]
    price_band_now: str
    pue_source: str
    pue_age_s: float
    ttl_s: float
    held_down_s: float
    pue_mean: float
    over_pue_cap: bool
    agents: _containers.RepeatedScalarFieldContainer[str]
    drained: bool
    drained_at: float
    drain_reason: str
    sees_placements: bool
    not_running: _containers.RepeatedScalarFieldContainer[str]
    unknown_running: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, site_id: _Optional[str] = ..., labels: _Optional[_Union[_site_report_pb2.SiteLabels, _Mapping]] = ..., up: _Optional[bool] = ..., down_reason: _Optional[str] = ..., report_age_s: _Optional[float] = ..., pue: _Optional[float] = ..., price_now_yuan_per_kwh: _Optional[float] = ..., carbon_kg_per_kwh: _Optional[float] = ..., accelerators: _Optional[_Iterable[_Union[AcceleratorCapacity, _Mapping]]] = ..., latencies: _Optional[_Iterable[_Union[_site_report_pb2.RegionLatency, _Mapping]]] = ..., price_band_now: _Optional[str] = ..., pue_source: _Optional[str] = ..., pue_age_s: _Optional[float] = ..., ttl_s: _Optional[float] = ..., held_down_s: _Optional[float] = ..., pue_mean: _Optional[float] = ..., over_pue_cap: _Optional[bool] = ..., agents: _Optional[_Iterable[str]] = ..., drained: _Optional[bool] = ..., drained_at: _Optional[float] = ..., drain_reason: _Optional[str] = ..., sees_placements: _Optional[bool] = ..., not_running: _Optional[_Iterable[str]] = ..., unknown_running: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveSiteRequest(_message.Message):
    __slots__ = ("site_id",)
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    def __init__(self, site_id: _Optional[str] = ...) -> None: ...

class RemoveSiteResponse(_message.Message):
    __slots__ = ("site",)
    SITE_FIELD_NUMBER: _ClassVar[int]
    site: SiteView
    def __init__(self, site: _Optional[_Union[SiteView, _Mapping]] = ...) -> None: ...

class DrainSiteRequest(_message.Message):
    __slots__ = ("site_id", "move_running", "reason")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    MOVE_RUNNING_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    move_running: bool
    reason: str
    def __init__(self, site_id: _Optional[str] = ..., move_running: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class DrainSiteResponse(_message.Message):
    __slots__ = ("site", "moved", "stayed")
    SITE_FIELD_NUMBER: _ClassVar[int]
    MOVED_FIELD_NUMBER: _ClassVar[int]
    STAYED_FIELD_NUMBER: _ClassVar[int]
    site: SiteView
    moved: _containers.RepeatedCompositeFieldContainer[Move]
    stayed: _containers.RepeatedCompositeFieldContainer[Unplaced]
    def __init__(self, site: _Optional[_Union[SiteView, _Mapping]] = ..., moved: _Optional[_Iterable[_Union[Move, _Mapping]]] = ..., stayed: _Optional[_Iterable[_Union[Unplaced, _Mapping]]] = ...) -> None: ...

class UndrainSiteRequest(_message.Message):
    __slots__ = ("site_id",)
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    def __init__(self, site_id: _Optional[str] = ...) -> None: ...

class UndrainSiteResponse(_message.Message):
    __slots__ = ("site",)
    SITE_FIELD_NUMBER: _ClassVar[int]
    site: SiteView
    def __init__(self, site: _Optional[_Union[SiteView, _Mapping]] = ...) -> None: ...

class ListSitesResponse(_message.Message):
    __slots__ = ("sites",)
    SITES_FIELD_NUMBER: _ClassVar[int]
    sites: _containers.RepeatedCompositeFieldContainer[SiteView]
    def __init__(self, sites: _Optional[_Iterable[_Union[SiteView, _Mapping]]] = ...) -> None: ...

class WatchPlacementsRequest(_message.Message):
    __slots__ = ("after_event_id", "from_start")
    AFTER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_START_FIELD_NUMBER: _ClassVar[int]
    after_event_id: int
    from_start: bool
    def __init__(self, after_event_id: _Optional[int] = ..., from_start: _Optional[bool] = ...) -> None: ...

class PlacementEvent(_message.Message):
    __slots__ = ("event_id", "kind", "placement", "from_site_id", "at", "reason")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    FROM_SITE_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    kind: str
    placement: Placement
    from_site_id: str
    at: float
    reason: str
    def __init__(self, event_id: _Optional[int] = ..., kind: _Optional[str] = ..., placement: _Optional[_Union[Placement, _Mapping]] = ..., from_site_id: _Optional[str] = ..., at: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class RebalanceRequest(_message.Message):
    __slots__ = ("commit", "max_moves", "min_saving_yuan_per_move")
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    MAX_MOVES_FIELD_NUMBER: _ClassVar[int]
    MIN_SAVING_YUAN_PER_MOVE_FIELD_NUMBER: _ClassVar[int]
    commit: bool
    max_moves: int
    min_saving_yuan_per_move: float
    def __init__(self, commit: _Optional[bool] = ..., max_moves: _Optional[int] = ..., min_saving_yuan_per_move: _Optional[float] = ...) -> None: ...

class Move(_message.Message):
    __slots__ = ("placement_id", "from_site_id", "to_site_id", "saving_yuan", "placement", "reason")
    PLACEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SITE_ID_FIELD_NUMBER: _ClassVar[int]
    TO_SITE_ID_FIELD_NUMBER: _ClassVar[int]
    SAVING_YUAN_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    placement_id: str
    from_site_id: str
    to_site_id: str
    saving_yuan: float
    placement: Placement
    reason: str
    def __init__(self, placement_id: _Optional[str] = ..., from_site_id: _Optional[str] = ..., to_site_id: _Optional[str] = ..., saving_yuan: _Optional[float] = ..., placement: _Optional[_Union[Placement, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class RebalanceResponse(_message.Message):
    __slots__ = ("moves", "saving_yuan", "committed", "solve", "candidates")
    MOVES_FIELD_NUMBER: _ClassVar[int]
    SAVING_YUAN_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    SOLVE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    moves: _containers.RepeatedCompositeFieldContainer[Move]
    saving_yuan: float
    committed: bool
    solve: SolveInfo
    candidates: int
    def __init__(self, moves: _Optional[_Iterable[_Union[Move, _Mapping]]] = ..., saving_yuan: _Optional[float] = ..., committed: _Optional[bool] = ..., solve: _Optional[_Union[SolveInfo, _Mapping]] = ..., candidates: _Optional[int] = ...) -> None: ...

class WhatIfRequest(_message.Message):
    __slots__ = ("scenarios", "at", "time_limit_s")
    SCENARIOS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_S_FIELD_NUMBER: _ClassVar[int]
    scenarios: _containers.RepeatedScalarFieldContainer[str]
    at: float
    time_limit_s: float
    def __init__(self, scenarios: _Optional[_Iterable[str]] = ..., at: _Optional[float] = ..., time_limit_s: _Optional[float] = ...) -> None: ...

class WhatIfResponse(_message.Message):
    __slots__ = ("report_json",)
    REPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    report_json: str
    def __init__(self, report_json: _Optional[str] = ...) -> None: ...

class SnapshotRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Link(_message.Message):
    __slots__ = ("a", "b", "latency_ms", "bandwidth_gbps", "yuan_per_gb")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_GBPS_FIELD_NUMBER: _ClassVar[int]
    YUAN_PER_GB_FIELD_NUMBER: _ClassVar[int]
    a: str
    b: str
    latency_ms: float
    bandwidth_gbps: float
    yuan_per_gb: float
    def __init__(self, a: _Optional[str] = ..., b: _Optional[str] = ..., latency_ms: _Optional[float] = ..., bandwidth_gbps: _Optional[float] = ..., yuan_per_gb: _Optional[float] = ...) -> None: ...

class StateSnapshot(_message.Message):
    __slots__ = ("taken_at", "site_reports", "placements", "sites", "links", "last_event_id", "pue_cap_hysteresis")
    TAKEN_AT_FIELD_NUMBER: _ClassVar[int]
    SITE_REPORTS_FIELD_NUMBER: _ClassVar[int]
    PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PUE_CAP_HYSTERESIS_FIELD_NUMBER: _ClassVar[int]
    taken_at: float
    site_reports: _containers.RepeatedCompositeFieldContainer[_site_report_pb2.SiteReport]
    placements: _containers.RepeatedCompositeFieldContainer[Placement]
    sites: _containers.RepeatedCompositeFieldContainer[SiteView]
    links: _containers.RepeatedCompositeFieldContainer[Link]
    last_event_id: int
    pue_cap_hysteresis: float
    def __init__(self, taken_at: _Optional[float] = ..., site_reports: _Optional[_Iterable[_Union[_site_report_pb2.SiteReport, _Mapping]]] = ..., placements: _Optional[_Iterable[_Union[Placement, _Mapping]]] = ..., sites: _Optional[_Iterable[_Union[SiteView, _Mapping]]] = ..., links: _Optional[_Iterable[_Union[Link, _Mapping]]] = ..., last_event_id: _Optional[int] = ..., pue_cap_hysteresis: _Optional[float] = ...) -> None: ...
