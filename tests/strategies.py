"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import yaml
from hypothesis import strategies as st

from netrouter.contract.wire import DEFAULT_TOPICS
from netrouter.v1 import router_pb2 as pb
from netrouter.v1 import site_report_pb2 as rpb
from solver import Problem, Site, Workload

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
