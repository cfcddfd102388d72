"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

from hypothesis import strategies as st

from solver import Problem, Site, Workload

MODELS = ("H100", "A100")
REGIONS = ("jjj", "csj")


@st.composite
def sites(draw: st.DrawFn, site_id: str) -> Site:
    models = draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=2, unique=True))
    price = draw(st.lists(st.floats(0.1, 1.5), min_size=24, max_size=24))
    return Site(
        id=site_id,
        pue=draw(st.floats(1.05, 1.4)),
        hourly_price=tuple(price),
        carbon_kg_per_kwh=draw(st.floats(0.1, 0.9)),
        latency_ms={r: draw(st.floats(1.0, 30.0)) for r in REGIONS},
        free={m: draw(st.integers(0, 16)) for m in models},
        power_w={m: 700.0 if m == "H100" else 400.0 for m in models},
    )


@st.composite
def workloads(draw: st.DrawFn, workload_id: str) -> Workload:
    models = draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=2, unique=True))
    return Workload(
        id=workload_id,
        origin_region=draw(st.sampled_from(REGIONS)),
        demands={m: draw(st.integers(1, 10)) for m in models},
        duration_h=draw(st.floats(0.1, 48.0)),
        latency_slo_ms=draw(st.one_of(st.none(), st.floats(2.0, 30.0))),
        max_pue=draw(st.one_of(st.none(), st.floats(1.0, 1.5))),
        priority=draw(st.integers(0, 2)),
    )


@st.composite
def tiny_problems(draw: st.DrawFn) -> Problem:
    n_sites = draw(st.integers(1, 3))
    n_work = draw(st.integers(1, 5))
    return Problem(
        sites=tuple(draw(sites(f"s{i}")) for i in range(n_sites)),
        workloads=tuple(draw(workloads(f"w{i}")) for i in range(n_work)),
        hour_elapsed=draw(st.floats(0.0, 0.99)),
    )
