"""Turn the public traces into a realistic, seeded batch of workloads.

- **Alibaba GPU pods** (cluster-trace-gpu-v2023, "openb") become batch/training jobs: the
  pod's GPU count (a fractional ``gpu_milli`` share still takes one device), its run time
  (deletion − creation, clipped to [3 min, 7 days]), no latency SLO; priority from QoS
  (LS 1, others 0). The trace's GPU models are a decade older than the national clusters'
  fleet, so a job may run on any of today's types with the same device count; a pod with a
  GPU-type constraint (``gpu_spec``, all NVIDIA parts) may run on NVIDIA types only.
- **Deadlines** (the trace replay's): a job's deadline is its arrival + its own run +
  the slack of its class (:data:`DEFAULT_SLACK_H`): the pod's QoS class, ``inference`` for
  the serving replicas (see :func:`deadline_class` and :func:`parse_slack`).
- **Azure LLM inference requests** become serving replicas: requests are given origin
  regions, the busiest 5-minute token rate per (trace, region) is scaled by
  ``inference_scale`` (the trace is a sample of one service's traffic) and divided by the
  rate one replica sustains; each replica needs 8 H100, or 16 A100, or 16 Ascend910B, for one
  hour, with a network RTT SLO (chat 12 ms, code completion 20 ms) and priority 2.

Neither trace has geography: each workload's origin is drawn, seeded, from the eastern demand
regions in proportion to ``REGION_WEIGHTS``. Every workload carries the east-hub PUE cap.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from netrouter.client.types import Workload

REGION_WEIGHTS: dict[str, float] = {"jjj": 0.30, "csj": 0.35, "gba": 0.25, "cy": 0.10}
"""Share of demand by eastern region (an assumption: roughly the regions' digital economy)."""

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
"""The bundled examples: site configs, trace slices, scenarios."""

TRAINING_TYPES = ("H100", "A100", "Ascend910B")
CUDA_TYPES = ("H100", "A100")
"""Where a pod with a GPU-type constraint (``gpu_spec``) may run."""
REPLICA_DEMANDS = {"H100": 8, "A100": 16, "Ascend910B": 16}
H100_EQUIVALENT = {m: min(REPLICA_DEMANDS.values()) / n for m, n in REPLICA_DEMANDS.items()}
"""One device of each model in H100s (8 H100 do what 16 A100 do), to size demand to supply."""
REPLICA_TOKENS_PER_S = 20_000.0
"""Prompt + generated tokens per second one 8×H100 replica serves (assumed, order of magnitude)."""
INFERENCE_SLO_MS = {"conv": 12.0, "code": 20.0}
WORKLOAD_MAX_PUE = 1.25
"""The east hubs' PUE cap (hubs.csv), demanded by every demo workload's tenant."""
MIN_RUN_H = 0.05
MAX_RUN_H = 168.0
PEAK_WINDOW_S = 300.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceFiles:
    """Where the trace CSVs are."""

    alibaba_pods: Path
    azure_conv: Path
    azure_code: Path
    alibaba_nodes: Path | None = None
    """The GPU node list the replay draws node sizes from (``None``: no node shapes)."""

    @classmethod
    def bundled(cls, examples: Path) -> TraceFiles:
        """The slices shipped in examples/traces/."""
        t = examples / "traces"
        return cls(
            alibaba_pods=t / "alibaba_openb_pods_sample.csv",
            azure_conv=t / "azure_llm_conv_20min.csv",
            azure_code=t / "azure_llm_code_20min.csv",
            alibaba_nodes=t / "alibaba_openb_gpu_nodes_sample.csv",
        )

    @classmethod
    def full(cls, data_dir: Path, *, pods: str = "openb_pod_list_default.csv") -> TraceFiles:
        """The whole traces in the shared data folder (``pods``: which Alibaba pod list;
        ``openb_pod_list_gpuspec33.csv`` gives a third of the GPU pods a type constraint,
        ``openb_pod_list_multigpu50.csv`` adds multi-GPU pods, see :func:`read_pods`)."""
        return cls(
            alibaba_pods=data_dir / "alibaba-openb" / pods,
            azure_conv=data_dir / "azure-llm" / "AzureLLMInferenceTrace_conv.csv",
            azure_code=data_dir / "azure-llm" / "AzureLLMInferenceTrace_code.csv",
            alibaba_nodes=data_dir / "alibaba-openb" / "openb_node_list_gpu_node.csv",
        )


DEFAULT_SLACK_H: dict[str, float | None] = {
    "BE": 24.0,
    "Burstable": 4.0,
    "LS": 0.0,
    "Guaranteed": 0.0,
    "inference": 0.0,
}
"""Hours of slack per deadline class beyond the job's own run (``None``: no deadline). The
Alibaba QoS classes: best-effort pods may wait a day, burstable ones a few hours,
latency-sensitive and guaranteed ones must start on arrival; serving replicas
(``inference``) must start when demand rises."""


def deadline_class(labels: Mapping[str, str]) -> str:
    """A job's deadline class from its workload's ``labels``: its pod's QoS class (``qos``),
    else its ``kind`` (``inference`` for a serving replica; ``other`` without one)."""
    return labels.get("qos") or labels.get("kind", "other")


def parse_slack(text: str) -> dict[str, float | None]:
    """``CLASS=HOURS,...`` (``HOURS`` ≥ 0, or ``none``: no deadline) over
    :data:`DEFAULT_SLACK_H`: the classes not named keep their defaults. Raises
    :class:`ValueError` naming the first bad item."""
    slack = dict(DEFAULT_SLACK_H)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = (x.strip() for x in item.partition("="))
        if not sep or name not in DEFAULT_SLACK_H:
            raise ValueError(
                f"slack {item!r}: want CLASS=HOURS with CLASS one of {', '.join(DEFAULT_SLACK_H)}"
            )
        if value.lower() == "none":
            slack[name] = None
            continue
        try:
            hours = float(value)
        except ValueError:
            hours = math.nan
        if not 0 <= hours <= MAX_RUN_H:
            raise ValueError(
                f"slack {item!r}: hours must be in [0, {MAX_RUN_H:g}] or none (no deadline)"
            )
        slack[name] = hours
    return slack


def slack_text(slack: Mapping[str, float | None]) -> str:
    """``slack`` as :func:`parse_slack` reads it (``BE=24,Burstable=4,...``)."""
    return ",".join(f"{c}={'none' if h is None else f'{h:g}'}" for c, h in slack.items())


DEFAULT_PODS = "openb_pod_list_default.csv"
POD_TIMES_SEED = 20231116
"""Seed of the times given to the pods a sampled pod list adds (:func:`read_pods`)."""


def _spec(row: dict[str, str]) -> tuple[str, ...]:
    return (row["cpu_milli"], row["memory_mib"], row["num_gpu"], row["gpu_milli"])


def read_pods(path: Path) -> list[dict[str, str]]:
    """The GPU pods (``num_gpu`` ≥ 1) of an Alibaba pod list.

    The sampled lists without times (``openb_pod_list_multigpu50.csv``: the 8,152 pods of
    the default list plus 909 more multi-GPU pods, each a copy of a default pod's request)
    are completed from ``openb_pod_list_default.csv`` beside them: a pod of the default list
    keeps its own row; an added pod takes the creation time of a default GPU pod drawn at
    random (so the added pods arrive as the trace's pods do) and the lifetime, QoS and GPU
    type of a default pod with the same request (CPU, memory, GPUs, GPU share), drawn at
    random; both drawn with ``random.Random(POD_TIMES_SEED)``.
    """
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "creation_time" in rows[0]:
        return [row for row in rows if int(row["num_gpu"]) > 0]
    with (path.parent / DEFAULT_PODS).open(newline="") as f:
        default = list(csv.DictReader(f))
    by_name = {row["name"]: row for row in default}
    by_spec: dict[tuple[str, ...], list[dict[str, str]]] = defaultdict(list)
    for row in default:
        by_spec[_spec(row)].append(row)
    gpu_pods = [row for row in default if int(row["num_gpu"]) > 0]
    rng = random.Random(POD_TIMES_SEED)
    pods = []
    for row in rows:
        if int(row["num_gpu"]) <= 0:
            continue
        if row["name"] in by_name:
            pods.append(by_name[row["name"]])
            continue
        created = int(rng.choice(gpu_pods)["creation_time"])
        like = rng.choice(by_spec.get(_spec(row)) or gpu_pods)
        life = int(like["deletion_time"]) - int(like["creation_time"])
        pods.append(
            row
            | {
                "gpu_spec": like.get("gpu_spec", ""),
                "qos": like["qos"],
                "creation_time": str(created),
                "deletion_time": str(created + life),
            }
        )
    return pods


def _region(rng: random.Random) -> str:
    regions = list(REGION_WEIGHTS)
    return rng.choices(regions, weights=[REGION_WEIGHTS[r] for r in regions])[0]


def pod_workload(
    row: dict[str, str], rng: random.Random, *, name: str | None = None, duration_h: float
) -> Workload:
    """One Alibaba GPU pod as a batch job (its origin region drawn from ``rng``)."""
    devices = int(row["num_gpu"])
    spec = (row.get("gpu_spec") or "").strip()
    labels = {"source": "alibaba-openb", "qos": row["qos"], "kind": "batch"}
    types: tuple[str, ...] = TRAINING_TYPES
    if spec and spec.lower() != "nan":
        # Every type the trace names is an NVIDIA part (or an undisclosed internal code
        # next to them): a pod that names one needs CUDA, so no Ascend.
        types = CUDA_TYPES
        labels["gpu_spec"] = spec
    return Workload(
        id=f"alibaba-{name or row['name']}",
        origin_region=_region(rng),
        demands=dict.fromkeys(types, devices),
        duration_h=duration_h,
        max_pue=WORKLOAD_MAX_PUE,
        priority=1 if row["qos"] == "LS" else 0,
        labels=labels,
    )


def training_jobs(path: Path, *, count: int, rng: random.Random) -> list[Workload]:
    """``count`` GPU pods sampled from the Alibaba trace, as batch jobs."""
    with path.open(newline="") as f:
        pods = [row for row in csv.DictReader(f) if int(row["num_gpu"]) > 0]
    chosen = rng.sample(pods, min(count, len(pods)))
    jobs = []
    for row in chosen:
        run_h = (int(row["deletion_time"]) - int(row["creation_time"])) / 3600.0
        jobs.append(pod_workload(row, rng, duration_h=min(MAX_RUN_H, max(MIN_RUN_H, run_h))))
    return jobs


def request_regions(count: int, rng: random.Random) -> list[str]:
    """Origin regions for ``count`` requests, drawn in order (as :func:`_region` would)."""
    regions = list(REGION_WEIGHTS)
    return rng.choices(regions, weights=[REGION_WEIGHTS[r] for r in regions], k=count)


def request_timestamp(text: str) -> float:
    """A request's ``TIMESTAMP`` (UTC, 7 fractional digits) as unix seconds."""
    return dt.datetime.fromisoformat(text[:26]).replace(tzinfo=dt.UTC).timestamp()


def replica_workload(kind: str, region: str, *, id: str, duration_h: float) -> Workload:
    """One serving replica of a ``kind`` of the Azure trace, for ``region``."""
    return Workload(
        id=id,
        origin_region=region,
        demands=dict(REPLICA_DEMANDS),
        duration_h=duration_h,
        latency_slo_ms=INFERENCE_SLO_MS[kind],
        max_pue=WORKLOAD_MAX_PUE,
        priority=2,
        labels={"source": f"azure-llm-{kind}", "kind": "inference"},
    )


def inference_replicas(
    path: Path, *, kind: str, scale: float, rng: random.Random
) -> list[Workload]:
    """Serving replicas sized to the peak 5-minute token rate of each region in the trace."""
    tokens: dict[tuple[str, int], int] = defaultdict(int)
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            window = int(request_timestamp(row["TIMESTAMP"]) // PEAK_WINDOW_S)
            region = _region(rng)
            tokens[(region, window)] += int(row["ContextTokens"]) + int(row["GeneratedTokens"])
    peak: dict[str, int] = defaultdict(int)
    for (region, _), n in tokens.items():
        peak[region] = max(peak[region], n)
    replicas = []
    for region in sorted(peak):
        rate = scale * peak[region] / PEAK_WINDOW_S
        for i in range(math.ceil(rate / REPLICA_TOKENS_PER_S)):
            replicas.append(
                replica_workload(kind, region, id=f"azure-{kind}-{region}-{i:03d}", duration_h=1.0)
            )
    return replicas


def demo_batch(
    files: TraceFiles, *, seed: int = 7, jobs: int = 300, inference_scale: float = 100.0
) -> list[Workload]:
    """The demo's batch: sampled Alibaba jobs plus Azure serving replicas, reproducible by seed."""
    rng = random.Random(seed)
    batch: list[Workload] = training_jobs(files.alibaba_pods, count=jobs, rng=rng)
    batch += inference_replicas(files.azure_conv, kind="conv", scale=inference_scale, rng=rng)
    batch += inference_replicas(files.azure_code, kind="code", scale=inference_scale, rng=rng)
    return batch


def h100_equivalents(demands: Mapping[str, int]) -> float:
    """H100s a workload needs: its least over the models it accepts (``demands``)."""
    return min(n * H100_EQUIVALENT.get(m, 1.0) for m, n in demands.items())


def summarise(workloads: Iterable[Workload]) -> dict[str, int]:
    """Count of workloads by their ``kind`` label."""
    counts: dict[str, int] = defaultdict(int)
    for w in workloads:
        counts[w.labels.get("kind", "other")] += 1
    return dict(counts)
