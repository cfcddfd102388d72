"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from typing import Any

import yaml
from hypothesis import strategies as st

from netrouter.client import types as domain
from netrouter.contract.limits import (
    MAX_DEVICES,
    MAX_DURATION_H,
    MAX_POWER_W,
    MAX_PRIORITY,
    MAX_PUE,
)
from netrouter.contract.names import KNOWN_MODELS
from netrouter.contract.site_report import (
    AcceleratorInventory,
    RegionLatency,
    RunningPlacement,
    SiteLabels,
    SiteReport,
)
from netrouter.contract.topics import DEFAULT_TOPICS
from netrouter.v1 import router_pb2 as pb
from netrouter.v1 import site_report_pb2 as rpb
from solver import NodeShape, Problem, Site, Workload

MODELS = ("H100", "A100")
REGIONS = ("jjj", "csj")
HUBS = ("east", "west")
REGIONS_ALL = ("jjj", "csj", "gba", "cy")


@st.composite
def sites(draw: st.DrawFn, site_id: str) -> Site:
    models = draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=2, unique=True))
    price = draw(st.lists(st.floats(0.1, 1.5), min_size=24, max_size=24))
    pue = draw(st.floats(1.05, 1.4))
    return Site(
        id=site_id,
        pue=pue,
        # The hub's cap is judged on the sustained PUE, which may sit either side of the
        # PUE now; a site over its cap must come a margin under it (hysteresis).
        sustained_pue=draw(st.one_of(st.none(), st.just(pue), st.floats(1.05, 1.4))),
        pue_cap_margin=draw(st.sampled_from((0.0, 0.0, 0.02, 0.1))),
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


@st.composite
def shaped_problems(draw: st.DrawFn, domains: bool = False) -> Problem:
    """Tiny problems whose sites report how their free devices sit on nodes of 4 (with
    ``domains``: up to 6 nodes, in interconnect domains of up to 3, and work asking for one
    domain)."""
    problem = draw(tiny_problems())
    sites = []
    for site in problem.sites:
        shapes = {}
        for m in site.power_w:
            counts = st.sampled_from((0, 1, 3, 4, 4, 4)) if domains else st.integers(0, 4)
            free = draw(st.lists(counts, max_size=6 if domains else 3))
            names = [draw(st.sampled_from(("a", "b", ""))) for _ in free] if domains else None
            shapes[m] = NodeShape.of_nodes(4, free, names)
        free_count = {m: shape.free for m, shape in shapes.items()}
        sites.append(replace(site, free=free_count, shape=shapes))
    work = problem.workloads
    if domains:
        sizes = st.sampled_from((1, 2, 5, 8, 8, 12))
        work = tuple(
            replace(
                w,
                one_domain=draw(st.booleans()),
                demands={m: draw(sizes) for m in w.demands},
                latency_slo_ms=None,
            )
            for w in work
        )
        problem = replace(problem, unplaced_yuan_per_kwh=3.0)  # worth placing
    return replace(problem, sites=tuple(sites), workloads=work)


# --- hostile input for the fuzz targets (tests/fuzz.py) ------------------------------------
# Values chosen to sit on and around every range the product checks, plus the ones no range
# should let through (NaN, infinities, numbers that overflow once multiplied).

EDGE_FLOATS = (0.0, -0.0, -1.0, 1e-300, 0.001, 0.5, 1.0, 1.5, 3.0, 3.0001, 24.0, 1e4, 1e9, 1e300)
EDGE_INTS = (0, 1, -1, 23, 24, 1_000_000, 1_000_001, 2**31 - 1, 2**31, 2**32 - 1, 2**63, 10**30)
ODD_TEXT = ("", " ", "alpha", "beta", "ALPHA", "a" * 64, "../etc", "\x00", "东数西算", "H100")


def extreme_floats() -> st.SearchStrategy[float]:
    """Any float: NaN, ±inf, huge, tiny, negative, and the edges of the product's ranges."""
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(EDGE_FLOATS).flatmap(lambda x: st.sampled_from((x, -x))),
        st.floats(0.0, 50.0),
    )


def uint32s() -> st.SearchStrategy[int]:
    """Any protobuf uint32, leaning on the edges."""
    return st.one_of(
        st.integers(0, 2**32 - 1), st.sampled_from([i for i in EDGE_INTS if 0 <= i < 2**32])
    )


def int32s() -> st.SearchStrategy[int]:
    """Any protobuf int32, leaning on the edges."""
    return st.one_of(
        st.integers(-(2**31), 2**31 - 1), st.sampled_from((-(2**31), -1, 0, 1, 2, 3, 4, 10))
    )


def odd_text(names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """Short arbitrary text, the usual suspects, and ``names`` that mean something here."""
    return st.one_of(st.text(max_size=12), st.sampled_from(ODD_TEXT + names))


def any_number() -> st.SearchStrategy[int | float]:
    """A number for a config or scenario document: ints of any size or any float, and
    (half the time) a modest one that passes most ranges."""
    modest = st.one_of(st.integers(0, 64), st.floats(0.0, 2.0), st.floats(1.0, 30.0))
    return st.one_of(
        modest,
        modest,
        st.sampled_from(EDGE_INTS).flatmap(lambda i: st.sampled_from((i, -i))),
        extreme_floats(),
    )


# Site reports: a valid message with some fields overwritten by hostile values.
_REPORT_FIELDS: tuple[tuple[str, st.SearchStrategy[Any]], ...] = (
    ("site_id", odd_text()),
    ("boot_id", odd_text()),
    ("sequence", st.integers(0, 2**64 - 1)),
    ("timestamp", extreme_floats()),
    ("pue", extreme_floats()),
    ("carbon_kg_per_kwh", extreme_floats()),
    ("report_interval_s", extreme_floats()),
    ("pue_age_s", extreme_floats()),
    ("pue_source", odd_text()),
    ("pue_mean", extreme_floats()),
    ("pue_mean_window_s", extreme_floats()),
    ("pue_mean_covered_s", extreme_floats()),
    ("labels.latitude", extreme_floats()),
    ("labels.longitude", extreme_floats()),
    ("labels.pue_cap", extreme_floats()),
    ("labels.side", odd_text(("east", "west"))),
    ("labels.hub", odd_text()),
    ("tariff.price_now_yuan_per_kwh", extreme_floats()),
    ("tariff.timezone", odd_text(("Asia/Shanghai", "UTC", "Mars/Olympus", "/etc/passwd"))),
    ("tariff.band_now", odd_text()),
    ("tariff.next_24h_yuan_per_kwh", st.lists(extreme_floats(), max_size=30)),
    ("accelerators[].model", odd_text()),
    ("accelerators[].total", uint32s()),
    ("accelerators[].healthy", uint32s()),
    ("accelerators[].in_use_by_others", uint32s()),
    ("accelerators[].power_w", extreme_floats()),
    ("accelerators+", st.tuples(odd_text(), uint32s(), uint32s(), uint32s(), extreme_floats())),
    ("latencies[].region", odd_text()),
    ("latencies[].rtt_ms", extreme_floats()),
    ("latencies+", st.tuples(odd_text(("jjj", "csj")), extreme_floats())),
    ("latencies*", st.integers(0, 300)),
)


@st.composite
def site_report_messages(draw: st.DrawFn, base: rpb.SiteReport) -> rpb.SiteReport:
    """``base`` (a valid report) with up to four fields set to hostile values."""
    m = rpb.SiteReport()
    m.CopyFrom(base)
    for path, values in draw(st.lists(st.sampled_from(_REPORT_FIELDS), max_size=4)):
        value = draw(values)
        if path == "accelerators+":
            model, total, healthy, used, power = value
            m.accelerators.add(
                model=model, total=total, healthy=healthy, in_use_by_others=used, power_w=power
            )
        elif path == "latencies+":
            m.latencies.add(region=value[0], rtt_ms=value[1])
        elif path == "latencies*":
            for i in range(value):
                m.latencies.add(region=f"r{i}", rtt_ms=1.0)
        elif path == "tariff.next_24h_yuan_per_kwh":
            del m.tariff.next_24h_yuan_per_kwh[:]
            m.tariff.next_24h_yuan_per_kwh.extend(value)
        elif "[]" in path:
            items = m.accelerators if path.startswith("accelerators") else m.latencies
            if items:
                item = items[draw(st.integers(0, len(items) - 1))]
                setattr(item, path.split(".")[-1], value)
        else:
            owner: Any = m
            *parents, name = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            setattr(owner, name, value)
    return m


def mqtt_topics(site_id: str) -> st.SearchStrategy[str]:
    """The site's own topics mostly; another site's, malformed and foreign ones too."""
    return st.one_of(
        st.sampled_from(
            (
                DEFAULT_TOPICS.report(site_id),
                DEFAULT_TOPICS.report(site_id),
                DEFAULT_TOPICS.status(site_id),
            )
        ),
        st.sampled_from(ODD_TEXT).map(DEFAULT_TOPICS.report),
        st.sampled_from(ODD_TEXT).map(DEFAULT_TOPICS.status),
        st.sampled_from(
            (
                "",
                "#",
                "netrouter/v1/sites",
                f"{DEFAULT_TOPICS.prefix}/sites//report",
                f"{DEFAULT_TOPICS.prefix}/sites/{site_id}/report/x",
            )
        ),
        st.text(max_size=40),
    )


def status_payloads() -> st.SearchStrategy[bytes]:
    """What arrives on a status topic: the two words, near misses, and any bytes."""
    return st.one_of(
        st.sampled_from((b"online", b"offline", b"Online", b"offline\x00", b"")),
        st.binary(max_size=16),
    )


# Place requests: workloads with hostile numbers, empty ids, duplicates and huge batches.


@st.composite
def workload_messages(draw: st.DrawFn, hostile: bool) -> pb.Workload:
    """One requested workload: a plausible one, or (``hostile``) anything at all."""
    if not hostile:
        models = draw(st.lists(st.sampled_from(("H100", "A100")), min_size=1, unique=True))
        return pb.Workload(
            id=draw(st.text("abcdef0123456789", min_size=4, max_size=10)),
            origin_region=draw(st.sampled_from(REGIONS_ALL)),
            demands=[pb.AcceleratorDemand(model=m, count=draw(st.integers(1, 16))) for m in models],
            power_w_per_device=draw(st.sampled_from((0.0, 700.0))),
            duration_h=draw(st.floats(0.1, 24.0)),
            latency_slo_ms=draw(st.sampled_from((0.0, 50.0))),
            max_pue=draw(st.sampled_from((0.0, 1.3))),
            priority=draw(st.integers(0, 2)),
            data_gb=draw(st.sampled_from((0.0, 10.0))),
            allowed_sites=draw(st.lists(st.sampled_from(("alpha", "beta")), max_size=1)),
        )
    demands = draw(st.lists(st.tuples(odd_text(("H100", "A100")), uint32s()), max_size=3))
    return pb.Workload(
        id=draw(odd_text(("w1", "w2"))),
        origin_region=draw(odd_text(REGIONS_ALL)),
        demands=[pb.AcceleratorDemand(model=m, count=c) for m, c in demands],
        power_w_per_device=draw(extreme_floats()),
        duration_h=draw(extreme_floats()),
        latency_slo_ms=draw(extreme_floats()),
        max_pue=draw(extreme_floats()),
        priority=draw(int32s()),
        data_gb=draw(extreme_floats()),
        migration_cost_yuan=draw(extreme_floats()),
        allowed_sites=draw(st.lists(odd_text(("alpha", "beta")), max_size=2)),
        forbidden_hubs=draw(st.lists(odd_text(), max_size=2)),
        labels=draw(st.dictionaries(odd_text(), odd_text(), max_size=2)),
    )


@st.composite
def place_requests(draw: st.DrawFn, max_batch: int) -> pb.PlaceRequest:
    """A Place request: a few plausible workloads with at most one hostile among them, or a
    batch of none, ``max_batch`` or more."""
    dry_run = draw(st.booleans())
    if draw(st.integers(0, 9)) == 0:
        size = draw(st.sampled_from((0, max_batch, max_batch + 1, 10 * max_batch)))
        one = draw(workload_messages(hostile=False))
        request = pb.PlaceRequest(dry_run=dry_run)
        for i in range(size):
            w = request.workloads.add()
            w.CopyFrom(one)
            w.id = f"{one.id}-{i}"
        return request
    workloads = draw(st.lists(workload_messages(hostile=False), min_size=1, max_size=4))
    hostile = draw(st.one_of(st.none(), st.integers(0, len(workloads) - 1)))
    if hostile is not None:
        workloads[hostile] = draw(workload_messages(hostile=True))
    return pb.PlaceRequest(workloads=workloads, dry_run=dry_run)


# Documents: scenario files and config files, plausible in shape, hostile in value.

SCENARIO_SITES = ("alpha", "beta", "gamma")
SCENARIO_HUBS = ("al", "be", "ga")
SCENARIO_MODELS = ("H100", "A100")


def _names(*known: str) -> st.SearchStrategy[list[str]]:
    return st.lists(odd_text(known) if known else odd_text(), max_size=3)


def _tariffs() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(st.floats(0.0, 2.0), min_size=24, max_size=24),
        st.lists(extreme_floats(), min_size=24, max_size=24),
        st.lists(any_number(), max_size=26),
    )


_SCENARIO_KEYS: dict[str, st.SearchStrategy[Any]] = {
    "sites": _names(*SCENARIO_SITES),
    "hubs": _names(*SCENARIO_HUBS),
    "provinces": _names(),
    "sides": _names("east", "west"),
    "site": odd_text(SCENARIO_SITES),
    "model": odd_text(SCENARIO_MODELS),
    "add": any_number(),
    "set": any_number(),
    "power_w": st.one_of(
        any_number(), st.dictionaries(odd_text(SCENARIO_MODELS), any_number(), max_size=2)
    ),
    "multiplier": any_number(),
    "tariff": _tariffs(),
    "max_pue": any_number(),
    "regions": _names(*REGIONS_ALL),
    "set_ms": any_number(),
    "add_ms": any_number(),
    "a": odd_text(SCENARIO_SITES + REGIONS_ALL),
    "b": odd_text(SCENARIO_SITES + REGIONS_ALL),
    "latency_ms": st.one_of(
        any_number(), st.dictionaries(odd_text(REGIONS_ALL), any_number(), max_size=2)
    ),
    "bandwidth_gbps": any_number(),
    "yuan_per_gb": any_number(),
    "select": odd_text(("any", "inference", "training")),
    "origin_regions": _names(*REGIONS_ALL),
    "labels": st.dictionaries(odd_text(), odd_text(), max_size=2),
    "remove": st.booleans(),
    "scale": any_number(),
    "file": odd_text(),
    "yuan_per_kg": any_number(),
    "id": odd_text(("delta", *SCENARIO_SITES)),
    "like": odd_text(SCENARIO_SITES),
    "hub": odd_text(SCENARIO_HUBS),
    "province": odd_text(),
    "side": odd_text(("east", "west")),
    "pue": any_number(),
    "carbon_kg_per_kwh": any_number(),
    "accelerators": st.dictionaries(odd_text(SCENARIO_MODELS), any_number(), max_size=2),
    "workloads": st.lists(
        st.fixed_dictionaries(
            {
                "id": odd_text(("new-1", "w1")),
                "origin_region": odd_text(REGIONS_ALL),
                "demands": st.dictionaries(
                    odd_text(SCENARIO_MODELS), any_number(), min_size=1, max_size=2
                ),
                "duration_h": any_number(),
            },
            optional={
                "latency_slo_ms": any_number(),
                "max_pue": any_number(),
                "priority": any_number(),
                "power_w_per_device": any_number(),
                "labels": st.dictionaries(odd_text(), odd_text(), max_size=1),
            },
        ),
        max_size=3,
    ),
}
_KEYS_OF_KIND: dict[str, tuple[str, ...]] = {
    "site_down": ("sites",),
    "site_up": ("sites",),
    "capacity": ("site", "model", "add", "set", "power_w"),
    "price": ("sites", "hubs", "provinces", "sides", "multiplier", "tariff"),
    "pue": ("sites", "hubs", "sides", "set", "add"),
    "pue_cap": ("max_pue", "hubs"),
    "latency": ("sites", "hubs", "regions", "set_ms", "add_ms", "multiplier"),
    "link_cut": ("a", "b"),
    "link": ("a", "b", "latency_ms", "bandwidth_gbps", "yuan_per_gb"),
    "slo": ("select", "origin_regions", "labels", "set_ms", "multiplier", "remove"),
    "demand": ("select", "origin_regions", "labels", "scale"),
    "workloads": ("workloads", "file"),
    "carbon_price": ("yuan_per_kg",),
    "add_site": (
        "id",
        "like",
        "hub",
        "province",
        "side",
        "pue",
        "carbon_kg_per_kwh",
        "tariff",
        "latency_ms",
        "accelerators",
        "power_w",
    ),
}


@st.composite
def scenario_changes(draw: st.DrawFn) -> dict[str, Any]:
    """One ``[[changes]]`` entry: a kind (rarely a wrong one) and some of its keys."""
    known = draw(st.integers(0, 9)) > 0
    kind = draw(st.sampled_from(tuple(_KEYS_OF_KIND)) if known else odd_text())
    keys = _KEYS_OF_KIND.get(kind, ())
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys))) if keys else []
    change: dict[str, Any] = {"kind": kind}
    for key in chosen:
        change[key] = draw(_SCENARIO_KEYS[key])
    if draw(st.integers(0, 19)) == 0:
        change[draw(st.sampled_from(tuple(_SCENARIO_KEYS)))] = draw(any_number())
    return change


@st.composite
def scenario_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario file's data: name, description and up to four changes."""
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["name"] = draw(odd_text())
    if draw(st.booleans()):
        doc["description"] = draw(odd_text())
    doc["changes"] = draw(st.lists(scenario_changes(), max_size=4))
    return doc


@st.composite
def mutated(draw: st.DrawFn, doc: dict[str, Any], values: st.SearchStrategy[Any]) -> dict[str, Any]:
    """``doc`` (a valid document) with up to three keys set to ``values``, removed, or added."""
    out = copy.deepcopy(doc)
    for _ in range(draw(st.integers(0, 3))):
        node: Any = out
        while True:
            if isinstance(node, dict) and node:
                key: Any = draw(st.sampled_from(sorted(node, key=str)))
            elif isinstance(node, list) and node:
                key = draw(st.integers(0, len(node) - 1))
            else:
                break
            child = node[key]
            if not isinstance(child, dict | list) or not child or draw(st.booleans()):
                action = draw(st.sampled_from(("set", "set", "del", "add")))
                if action == "set":
                    node[key] = draw(values)
                elif action == "del" and isinstance(node, dict):
                    del node[key]
                elif isinstance(node, dict):
                    node[draw(odd_text())] = draw(values)
                break
            node = child
    return out


def document_values() -> st.SearchStrategy[Any]:
    """A value for any key of a config document: numbers, text, lists, tables, booleans."""
    return st.one_of(
        any_number(),
        odd_text(
            ("mqtt://127.0.0.1:1883", "127.0.0.1:0", "Asia/Shanghai", "fixed", "nvml", "flat")
        ),
        st.booleans(),
        st.lists(any_number(), max_size=3),
        st.dictionaries(odd_text(("flat", "peak")), any_number(), max_size=2),
    )


def _toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(f"no TOML for {type(value).__name__}")


def toml_text(doc: dict[str, Any]) -> str:
    """``doc`` as TOML: scalars first, then tables, then arrays of tables."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, table in tables:
        lines.append(f"[{_toml_key(key)}]")
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]
    for key, items in arrays:
        for item in items:
            lines.append(f"[[{_toml_key(key)}]]")
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def document_texts(
    docs: st.SearchStrategy[dict[str, Any]], formats: tuple[str, ...]
) -> st.SearchStrategy[tuple[str, str]]:
    """(text, format) pairs: ``docs`` written as TOML, YAML or JSON, or arbitrary text."""

    def write(doc: dict[str, Any], fmt: str) -> tuple[str, str]:
        if fmt == "toml":
            return toml_text(doc), "toml"
        if fmt == "json":
            return json.dumps(doc), "yaml"  # JSON is YAML
        return yaml.safe_dump(doc, allow_unicode=True), "yaml"

    written = st.tuples(docs, st.sampled_from(formats)).map(lambda pair: write(*pair))
    parsers = tuple(sorted({"yaml" if f == "json" else f for f in formats}))
    garbage = st.tuples(st.text(max_size=200), st.sampled_from(parsers))
    return st.one_of(written, written, written, garbage)


# --- domain objects for the conversion round trips -----------------------------------------
# Any valid value of each domain type that crosses the wire. Fields the wire does not carry
# keep their defaults (a workload's ``current_site``, an unplaced workload's penalty), and
# models take their one spelling, as decoding gives them.


def _finite(low: float = -1e12, high: float = 1e12) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def _words() -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=8)


def _uint32s() -> st.SearchStrategy[int]:
    return st.integers(0, 2**32 - 1)


def _known_models() -> st.SearchStrategy[str]:
    return st.sampled_from(KNOWN_MODELS)


def site_labels() -> st.SearchStrategy[SiteLabels]:
    """A site's labels."""
    return st.builds(
        SiteLabels,
        name=st.text(max_size=8),
        hub=st.text(max_size=8),
        hub_name=st.text(max_size=8),
        province=st.text(max_size=8),
        side=st.sampled_from(("", "east", "west")),
        latitude=_finite(-90.0, 90.0),
        longitude=_finite(-180.0, 180.0),
        pue_cap=st.one_of(st.just(0.0), _finite(1.0, MAX_PUE)),
    )


def region_latencies() -> st.SearchStrategy[RegionLatency]:
    """One region's round-trip time to a site."""
    return st.builds(
        RegionLatency, region=_words(), rtt_ms=_finite(0.0, 1e4), measured=st.booleans()
    )


def accelerator_inventories() -> st.SearchStrategy[AcceleratorInventory]:
    """One accelerator model as an agent reports it."""
    return st.builds(
        AcceleratorInventory,
        model=_known_models(),
        total=_uint32s(),
        healthy=_uint32s(),
        in_use_by_others=_uint32s(),
        power_w=_finite(0.0, 1e4),
        from_static_config=st.booleans(),
        node_size=st.integers(0, 16),
        nodes_by_free=st.lists(_uint32s(), max_size=17).map(tuple),
        domain_nodes=_uint32s(),
        domains_by_whole=st.lists(_uint32s(), max_size=5).map(tuple),
    )


def site_reports() -> st.SearchStrategy[SiteReport]:
    """A site report as the domain holds it."""
    return st.builds(
        SiteReport,
        site_id=_words(),
        boot_id=_words(),
        sequence=st.integers(0, 2**64 - 1),
        timestamp=_finite(),
        labels=site_labels(),
        accelerators=st.lists(accelerator_inventories(), max_size=3).map(tuple),
        pue=_finite(),
        price_now_yuan_per_kwh=_finite(),
        next_24h_yuan_per_kwh=st.lists(_finite(), max_size=24).map(tuple),
        timezone=st.text(max_size=12),
        carbon_kg_per_kwh=_finite(),
        latencies=st.lists(region_latencies(), max_size=3).map(tuple),
        report_interval_s=_finite(),
        band_now=st.text(max_size=6),
        pue_source=st.text(max_size=6),
        pue_age_s=_finite(),
        pue_mean=_finite(),
        pue_mean_window_s=_finite(),
        pue_mean_covered_s=_finite(),
        next_24h_bands=st.lists(st.text(max_size=6), max_size=24).map(tuple),
        sees_placements=st.booleans(),
        running=st.lists(
            st.builds(
                RunningPlacement, placement_id=_words(), model=_known_models(), devices=_uint32s()
            ),
            max_size=3,
        ).map(tuple),
    )


def _names_set() -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(_words(), max_size=2)


def _optional(low: float, high: float = 1e9) -> st.SearchStrategy[float | None]:
    return st.one_of(st.none(), _finite(low, high))


def domain_workloads() -> st.SearchStrategy[domain.Workload]:
    """A valid requested workload (never running anywhere: the wire has no current site)."""
    return st.builds(
        domain.Workload,
        id=_words(),
        origin_region=_words(),
        demands=st.dictionaries(
            _known_models(), st.integers(1, MAX_DEVICES), min_size=1, max_size=3
        ),
        duration_h=_finite(1e-6, MAX_DURATION_H),
        power_w_per_device=_optional(1.0, MAX_POWER_W),
        latency_slo_ms=_optional(0.001),
        max_pue=_optional(1.0),
        priority=st.integers(0, MAX_PRIORITY),
        labels=st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=2),
        allowed_sites=_names_set(),
        allowed_hubs=_names_set(),
        allowed_provinces=_names_set(),
        forbidden_sites=_names_set(),
        forbidden_hubs=_names_set(),
        forbidden_provinces=_names_set(),
        data_gb=_finite(0.0, 1e9),
        migration_cost_yuan=_finite(0.0),
    )


def alternatives() -> st.SearchStrategy[domain.Alternative]:
    """A cheaper site a workload did not get, and why."""
    return st.builds(
        domain.Alternative,
        site_id=_words(),
        model=_words(),
        cost_yuan=_finite(),
        reason_kind=_words(),
        reason=st.text(max_size=12),
    )


def placements() -> st.SearchStrategy[domain.Placement]:
    """A placement in any state (``latency_ms`` ``None``: unknown)."""
    return st.builds(
        domain.Placement,
        placement_id=_words(),
        workload=domain_workloads(),
        site_id=_words(),
        accelerator_model=_known_models(),
        devices=_uint32s(),
        energy_kwh=_finite(),
        energy_cost_yuan=_finite(),
        cost_per_hour_yuan=_finite(),
        carbon_kg=_finite(),
        latency_ms=st.one_of(st.none(), _finite(0.0)),
        explanation=st.text(max_size=12),
        state=st.sampled_from(domain.STATES),
        created_at=_finite(),
        transfer_cost_yuan=_finite(),
        migration_cost_yuan=_finite(),
        carbon_cost_yuan=_finite(),
        alternatives=st.lists(alternatives(), max_size=2).map(tuple),
        updated_at=_finite(),
        end_reason=st.text(max_size=8),
    )


def solve_infos() -> st.SearchStrategy[domain.SolveInfo]:
    """The quality of a solve."""
    return st.builds(
        domain.SolveInfo,
        objective=_finite(),
        bound=_finite(),
        gap=_finite(),
        status=_words(),
        wall_s=_finite(),
        method=_words(),
    )


def place_results() -> st.SearchStrategy[domain.PlaceResult]:
    """What Place answers (an unplaced workload's penalty stays in the router)."""
    unplaced = st.builds(domain.Unplaced, workload_id=_words(), reason=st.text(max_size=12))
    return st.builds(
        domain.PlaceResult,
        placements=st.lists(placements(), max_size=2).map(tuple),
        unplaced=st.lists(unplaced, max_size=2).map(tuple),
        solve=solve_infos(),
        dry_run=st.booleans(),
    )


def placement_events() -> st.SearchStrategy[domain.PlacementEvent]:
    """One numbered change to a placement."""
    return st.builds(
        domain.PlacementEvent,
        event_id=st.integers(1, 2**64 - 1),
        kind=st.sampled_from(domain.EVENT_KINDS),
        placement=placements(),
        from_site_id=st.text(max_size=8),
        at=_finite(),
        reason=st.text(max_size=12),
    )


def moves() -> st.SearchStrategy[domain.Move]:
    """Running work moved from one site to another."""
    return st.builds(
        domain.Move,
        placement_id=_words(),
        from_site_id=_words(),
        to_site_id=_words(),
        saving_yuan=_finite(),
        placement=placements(),
        reason=st.text(max_size=12),
    )


def rebalance_results() -> st.SearchStrategy[domain.RebalanceResult]:
    """What Rebalance answers."""
    return st.builds(
        domain.RebalanceResult,
        moves=st.lists(moves(), max_size=2).map(tuple),
        saving_yuan=_finite(),
        committed=st.booleans(),
        solve=solve_infos(),
        candidates=_uint32s(),
    )


def links() -> st.SearchStrategy[domain.Link]:
    """A backbone link between two nodes."""
    return st.builds(
        domain.Link,
        a=_words(),
        b=_words(),
        latency_ms=_finite(),
        bandwidth_gbps=_finite(),
        yuan_per_gb=_finite(),
    )


def site_views() -> st.SearchStrategy[domain.SiteView]:
    """The router's view of one site."""
    capacity = st.builds(
        domain.AcceleratorCapacity,
        model=_known_models(),
        total=_uint32s(),
        healthy=_uint32s(),
        in_use_by_others=_uint32s(),
        placed=_uint32s(),
        free=_uint32s(),
        power_w=_finite(),
        node_size=_uint32s(),
        nodes_by_free=st.lists(_uint32s(), max_size=9).map(tuple),
    )
    return st.builds(
        domain.SiteView,
        site_id=_words(),
        labels=site_labels(),
        up=st.booleans(),
        down_reason=st.text(max_size=12),
        report_age_s=_finite(),
        pue=_finite(),
        price_now_yuan_per_kwh=_finite(),
        carbon_kg_per_kwh=_finite(),
        accelerators=st.lists(capacity, max_size=2).map(tuple),
        latencies=st.lists(region_latencies(), max_size=2).map(tuple),
        price_band_now=st.text(max_size=6),
        agents=st.lists(_words(), max_size=2).map(tuple),
        pue_source=st.text(max_size=6),
        pue_age_s=_finite(),
        ttl_s=_finite(),
        held_down_s=_finite(),
        pue_mean=_finite(),
        over_pue_cap=st.booleans(),
        drained=st.booleans(),
        drained_at=_finite(),
        drain_reason=st.text(max_size=12),
        sees_placements=st.booleans(),
        not_running=st.lists(_words(), max_size=3).map(tuple),
        unknown_running=st.lists(_words(), max_size=3).map(tuple),
    )


def drain_results() -> st.SearchStrategy[domain.DrainResult]:
    """What DrainSite answers (a staying workload's penalty stays in the router)."""
    stayed = st.builds(domain.Unplaced, workload_id=_words(), reason=st.text(max_size=12))
    return st.builds(
        domain.DrainResult,
        site=site_views(),
        moved=st.lists(moves(), max_size=2).map(tuple),
        stayed=st.lists(stayed, max_size=2).map(tuple),
    )


def snapshots() -> st.SearchStrategy[domain.Snapshot]:
    """The router's whole state."""
    return st.builds(
        domain.Snapshot,
        taken_at=_finite(),
        site_reports=st.lists(site_reports(), max_size=2).map(tuple),
        placements=st.lists(placements(), max_size=2).map(tuple),
        sites=st.lists(site_views(), max_size=2).map(tuple),
        links=st.lists(links(), max_size=2).map(tuple),
        last_event_id=st.integers(0, 2**64 - 1),
        pue_cap_hysteresis=_finite(),
    )
