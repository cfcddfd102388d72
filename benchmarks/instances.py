"""Seeded, realistic placement instances for the solver benchmarks.

**Sites** are data centers of the 10 national clusters (examples/sites/*.toml, every number
sourced in examples/sites/SOURCES.md), taken round-robin: each keeps its cluster's hub,
province, side, time-of-use tariff, grid carbon factor and latency to the demand regions,
with its own PUE (the cluster's ±3%, so some land above the hub's cap) and latency
(+0–1.5 ms for the park inside the metro area). Each offers its cluster's accelerator
models in the cluster's proportions.

**Workloads** are drawn from the public traces in ../shared/data:

* batch and training jobs: Alibaba GPU pods (cluster-trace-gpu-v2023 ``openb``, GPU-type
  constraints from the ``gpuspec33`` variant): the pod's run time (clipped to 3 min–7 days)
  and QoS (LS → priority 1). Multi-GPU pods need n H100, or 2n A100, or 2n Ascend910B;
  single-GPU pods (the trace's T4/V100-class inference and notebook pods) 1 A100 or 1
  Ascend910B; a pod with a GPU-type constraint keeps one model family.
* inference replicas: Azure LLM inference (Splitwise 2023), conversation and code traces:
  8 H100, or 16 A100, or 16 Ascend910B, for 1 h, with RTT SLOs of 12 ms (chat) and 20 ms
  (code), priority 2. Their share of the batch is the trace pair's share of tokens in the
  demo (``INFERENCE_SHARE``).

Origins are drawn from the eastern demand regions (``netrouter.planning.traces.REGION_WEIGHTS``);
30% of tenants demand the east hubs' PUE cap (1.25). Every device count follows one
exchange rate per model (1 H100 = 2 A100 = 2 Ascend910B), so the relaxation is a flow;
``heterogeneous=True`` lets single-GPU pods take 1 H100 too, which breaks that (the
generalized assignment case). Capacity is scaled so demand is ``tightness`` (drawn from
0.9–1.1) of the supply of the sites within their hub's PUE cap, counted in
H100-equivalents (SLOs and tenants' PUE caps still make some of it unusable to some work).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

from netrouter.planning.traces import H100_EQUIVALENT, REGION_WEIGHTS, h100_equivalents
from site_agents.collectors import TimeOfUseTariff
from site_agents.config import load_site_config
from solver import NodeShape, Problem, Site, Workload

ROOT = Path(__file__).resolve().parent.parent
SITES_DIR = ROOT / "examples" / "sites"
SHARED = ROOT.parent / "shared" / "data"
PODS = SHARED / "alibaba-openb" / "openb_pod_list_gpuspec33.csv"
BUNDLED_PODS = ROOT / "examples" / "traces" / "alibaba_openb_pods_sample.csv"
TARIFF_DAY = dt.date(2026, 11, 3)
"""The day whose time-of-use prices the instances use (a November working day)."""

INFERENCE_SHARE = 0.2
INFERENCE = (("conv", 12.0), ("code", 20.0))
CAPPED_TENANTS = 0.3
EAST_PUE_CAP = 1.25


@dataclass(frozen=True, slots=True)
class Cluster:
    id: str
    hub: str
    province: str
    side: str
    pue: float
    pue_cap: float
    prices: tuple[float, ...]
    carbon: float
    latency: dict[str, float]
    mix: dict[str, float]
    power: dict[str, float]


def clusters(directory: Path = SITES_DIR) -> list[Cluster]:
    """The 10 national clusters from their site-agent configs."""
    out = []
    for path in sorted(directory.glob("*.toml")):
        config = load_site_config(path)
        accel = config.accelerators
        total = sum(a.total for a in accel)
        zone = ZoneInfo(config.tariff.timezone)
        midnight = dt.datetime.combine(TARIFF_DAY, dt.time(), zone).timestamp()
        assert config.pue.value is not None
        out.append(
            Cluster(
                id=config.site.id,
                hub=config.site.hub,
                province=config.site.province,
                side=config.site.side,
                pue=config.pue.value,
                pue_cap=config.site.pue_cap,
                prices=TimeOfUseTariff(config).tariff(midnight).next_24h,
                carbon=config.carbon.kg_per_kwh,
                latency=dict(config.latency_ms),
                mix={a.model: a.total / total for a in accel},
                power={a.model: a.power_w for a in accel},
            )
        )
    return out


def _pods() -> list[dict[str, str]]:
    path = PODS if PODS.exists() else BUNDLED_PODS
    with path.open(newline="") as f:
        return [row for row in csv.DictReader(f) if int(row["num_gpu"]) > 0]


def _region(rng: random.Random) -> str:
    regions = list(REGION_WEIGHTS)
    return rng.choices(regions, weights=[REGION_WEIGHTS[r] for r in regions])[0]


def _pod_demands(row: dict[str, str], heterogeneous: bool) -> dict[str, int]:
    n = int(row["num_gpu"])
    spec = row.get("gpu_spec", "") or ""
    if n == 1:
        demands = {"A100": 1, "Ascend910B": 1}
        if heterogeneous:
            demands["H100"] = 1
    else:
        demands = {"H100": n, "A100": 2 * n, "Ascend910B": 2 * n}
    if spec:
        # A GPU-type constraint keeps one family: newer cards for V100-class, else domestic.
        keep = "A100" if "V100" in spec else "Ascend910B"
        demands = {keep: demands[keep]}
    return demands


def workloads(count: int, rng: random.Random, *, heterogeneous: bool = False) -> list[Workload]:
    """``count`` workloads from the traces, reproducible by ``rng``."""
    pods = _pods()
    out: list[Workload] = []
    for i in range(count):
        capped = EAST_PUE_CAP if rng.random() < CAPPED_TENANTS else None
        region = _region(rng)
        if rng.random() < INFERENCE_SHARE:
            kind, slo = INFERENCE[rng.randrange(len(INFERENCE))]
            out.append(
                Workload(
                    id=f"w{i}",
                    origin_region=region,
                    demands={"H100": 8, "A100": 16, "Ascend910B": 16},
                    duration_h=1.0,
                    latency_slo_ms=slo,
                    max_pue=capped,
                    priority=2,
                    labels={"kind": "inference", "trace": kind},
                )
            )
            continue
        row = rng.choice(pods)
        run_h = (int(row["deletion_time"]) - int(row["creation_time"])) / 3600.0
        out.append(
            Workload(
                id=f"w{i}",
                origin_region=region,
                demands=_pod_demands(row, heterogeneous),
                duration_h=min(168.0, max(0.05, run_h)),
                max_pue=capped,
                priority=1 if row["qos"] == "LS" else 0,
                labels={"kind": "batch", "pod": row["name"]},
            )
        )
    return out


def sites(count: int, supply_h100: float, rng: random.Random) -> list[Site]:
    """``count`` data centers of the national clusters offering ``supply_h100`` in all."""
    base = clusters()
    picked = [base[i % len(base)] for i in range(count)]
    share = [rng.uniform(0.5, 1.5) for _ in picked]
    pue = [round(c.pue * rng.uniform(0.97, 1.03), 3) for c in picked]
    # Sites above their hub's PUE cap take no work: size the rest to the supply asked for.
    usable = sum(s for s, p, c in zip(share, pue, picked, strict=True) if p <= c.pue_cap)
    total = usable or sum(share)
    out = []
    for i, (c, s) in enumerate(zip(picked, share, strict=True)):
        h100 = supply_h100 * s / total
        free = {m: max(0, round(h100 * frac / H100_EQUIVALENT[m])) for m, frac in c.mix.items()}
        out.append(
            Site(
                id=f"{c.id}-{i // len(base):02d}",
                pue=pue[i],
                hourly_price=c.prices,
                carbon_kg_per_kwh=c.carbon,
                latency_ms={r: v + rng.uniform(0.0, 1.5) for r, v in c.latency.items()},
                free=free,
                power_w=dict(c.power),
                side=c.side,
                hub=c.hub,
                province=c.province,
            )
        )
    return out


def instance(
    n_workloads: int,
    n_sites: int,
    seed: int,
    *,
    heterogeneous: bool = False,
    tightness: float | None = None,
    hour_elapsed: float | None = None,
) -> tuple[Problem, float]:
    """A problem with demand ``tightness`` × supply (drawn from 0.9–1.1 when ``None``)."""
    rng = random.Random(seed)
    work = workloads(n_workloads, rng, heterogeneous=heterogeneous)
    tight = rng.uniform(0.9, 1.1) if tightness is None else tightness
    demand = sum(h100_equivalents(w.demands) for w in work)
    site_list = sites(n_sites, demand / tight, rng)
    caps = {c.hub: c.pue_cap for c in clusters()}
    problem = Problem(
        sites=tuple(site_list),
        workloads=tuple(work),
        hour_elapsed=rng.random() if hour_elapsed is None else hour_elapsed,
        hub_max_pue=caps,
    )
    return problem, tight


NODE_SIZE = 8
WHOLE_SHARE = 0.4
"""Share of a shaped site's nodes with every device free; the rest have 1–7 free."""


def shaped(problem: Problem, rng: random.Random) -> Problem:
    """``problem`` with every site's free devices on nodes of :data:`NODE_SIZE`: whole with
    probability :data:`WHOLE_SHARE`, else 1–7 free (the last node takes what is left), so a
    busy site's fragments are what large work must plan around."""
    out = []
    for site in problem.sites:
        shapes = {}
        for model, free in site.free.items():
            nodes, left = [], free
            while left > 0:
                k = NODE_SIZE if rng.random() < WHOLE_SHARE else rng.randint(1, NODE_SIZE - 1)
                nodes.append(min(k, left))
                left -= nodes[-1]
            shapes[model] = NodeShape.of_nodes(NODE_SIZE, nodes)
        out.append(replace(site, shape=shapes))
    return replace(problem, sites=tuple(out))
