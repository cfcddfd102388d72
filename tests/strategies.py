"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

from hypothesis import strategies as st

from solver import Problem, Site, Workload

MODELS = ("H100", "A100")
REGIONS = ("jjj", "csj")
HUBS = ("east", "west")


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
        hub=draw(st.sampled_from(HUBS)),
        province=draw(st.sampled_from(("p1", "p2"))),
        up=draw(st.booleans().map(lambda b: b or draw(st.booleans()))),
        transfer_yuan_per_gb={r: draw(st.floats(0.0, 0.5)) for r in REGIONS},
    )


@st.composite
def workloads(draw: st.DrawFn, workload_id: str, site_ids: list[str]) -> Workload:
    models = draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=2, unique=True))
    return Workload(
        id=workload_id,
        origin_region=draw(st.sampled_from(REGIONS)),
        demands={m: draw(st.integers(1, 10)) for m in models},
        duration_h=draw(st.floats(0.1, 48.0)),
        latency_slo_ms=draw(st.one_of(st.none(), st.floats(2.0, 30.0))),
        max_pue=draw(st.one_of(st.none(), st.floats(1.0, 1.5))),
        priority=draw(st.integers(0, 2)),
        forbidden_provinces=draw(st.sets(st.sampled_from(("p1", "p2")), max_size=1)),
        allowed_sites=frozenset(
            draw(st.one_of(st.just([]), st.lists(st.sampled_from(site_ids), max_size=2)))
        ),
        data_gb=draw(st.sampled_from((0.0, 50.0, 500.0))),
        current_site=draw(st.one_of(st.none(), st.sampled_from(site_ids))),
        migration_cost_yuan=draw(st.floats(0.0, 20.0)),
    )


@st.composite
def tiny_problems(draw: st.DrawFn) -> Problem:
    n_sites = draw(st.integers(1, 3))
    n_work = draw(st.integers(1, 5))
    ids = [f"s{i}" for i in range(n_sites)]
    return Problem(
        sites=tuple(draw(sites(sid)) for sid in ids),
        workloads=tuple(draw(workloads(f"w{i}", ids)) for i in range(n_work)),
        hour_elapsed=draw(st.floats(0.0, 0.99)),
        carbon_yuan_per_kg=draw(st.sampled_from((0.0, 0.1))),
        hub_max_pue=draw(st.sampled_from(({}, {"east": 1.25}))),
        unplaced_yuan_per_kwh=draw(st.sampled_from((None, 0.05, 3.0))),
    )
