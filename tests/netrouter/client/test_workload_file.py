"""The workload file format: every value is range-checked and errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from netrouter.client.router_client import RouterClient
from netrouter.client.workload_file import (
    WorkloadFileError,
    load_workloads,
    parse_workloads,
    workload_to_dict,
)
from netrouter.router.state import SiteRegistry
from site_agents.config import SiteConfig
from tests.helpers.factories import report_of, serve_router, site_dict

GOOD = {"id": "w", "origin_region": "csj", "demands": {"H100": 8}, "duration_h": 1.0}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("duration_h", 1e9),
        ("duration_h", 1e-9),
        ("priority", -1),
        ("priority", 10**6),
        ("power_w_per_device", 0.5),
        ("power_w_per_device", 1e6),
        ("latency_slo_ms", 1e-6),
        ("demands", {"H100": 2_000_000}),
    ],
)
def test_values_beyond_the_solvers_ranges_name_their_key(key: str, value: object) -> None:
    """What the solver would refuse is refused at parse time, naming workloads[0].<key>."""
    with pytest.raises(WorkloadFileError, match=rf"workloads\[0\]\.{key}"):
        parse_workloads([{**GOOD, key: value}], "w.yaml")


def test_times_are_iso_date_times_with_an_offset_or_epoch_seconds() -> None:
    """earliest_start and deadline read as ISO 8601 with an offset or epoch seconds; one
    without an offset is refused naming the key; a deadline that can never be met too."""
    (w,) = parse_workloads(
        [
            {
                **GOOD,
                "earliest_start": "2026-12-08T23:00:00+08:00",
                "deadline": 1_796_774_400,
                "preemptible": True,
                "restart_h": 0.5,
                "one_domain": True,
            }
        ],
        "w.yaml",
    )
    assert (w.earliest_start, w.deadline) == (1_796_742_000.0, 1_796_774_400.0)
    assert (w.preemptible, w.restart_h, w.one_domain) == (True, 0.5, True)
    assert parse_workloads([workload_to_dict(w)], "again.yaml") == [w]
    with pytest.raises(WorkloadFileError, match=r"workloads\[0\]\.deadline: .* no UTC offset"):
        parse_workloads([{**GOOD, "deadline": "2026-12-09T08:00:00"}], "w.yaml")
    with pytest.raises(WorkloadFileError, match=r"workloads\[0\]\.deadline: .* can never be met"):
        parse_workloads([{**GOOD, "earliest_start": 1_000_000, "deadline": 1_000_100}], "w.yaml")
    with pytest.raises(WorkloadFileError, match=r"workloads\[0\]\.earliest_start"):
        parse_workloads([{**GOOD, "earliest_start": 1_796_742_000_000}], "w.yaml")  # ms


def test_a_good_entry_parses() -> None:
    """The same entry with sane values is a workload."""
    (w,) = parse_workloads([GOOD], "w.yaml")
    assert w.id == "w" and w.demands == {"H100": 8}


def test_a_file_takes_every_field_of_the_api() -> None:
    """Residency, data_gb, migration_cost_yuan and labels are read (allowed_provinces was
    refused as an extra key)."""
    (w,) = parse_workloads(
        [
            {
                **GOOD,
                "allowed_provinces": ["Guizhou", "Ningxia"],
                "forbidden_sites": ["wuhu"],
                "allowed_hubs": ["gz", "nx"],
                "forbidden_hubs": ["nm"],
                "allowed_sites": ["guian", "zhongwei"],
                "forbidden_provinces": ["Gansu"],
                "data_gb": 500,
                "migration_cost_yuan": 40,
                "labels": {"team": "search"},
            }
        ],
        "w.yaml",
    )
    assert w.allowed_provinces == {"Guizhou", "Ningxia"}
    assert w.forbidden_sites == {"wuhu"} and w.forbidden_provinces == {"Gansu"}
    assert w.allowed_hubs == {"gz", "nx"} and w.forbidden_hubs == {"nm"}
    assert w.allowed_sites == {"guian", "zhongwei"}
    assert (w.data_gb, w.migration_cost_yuan) == (500, 40)
    assert workload_to_dict(w)["allowed_provinces"] == ["Guizhou", "Ningxia"]


def test_model_names_take_their_one_spelling() -> None:
    """h100 in a file is H100; H10 is refused naming the entry, with "did you mean"."""
    (w,) = parse_workloads([{**GOOD, "demands": {"h100": 8}}], "w.yaml")
    assert dict(w.demands) == {"H100": 8}
    with pytest.raises(
        WorkloadFileError, match=r"workloads\[0\]\.demands\.H10: .*did you mean H100"
    ):
        parse_workloads([{**GOOD, "demands": {"H10": 8}}], "w.yaml")


async def test_a_file_with_residency_is_placed_where_it_allows(tmp_path: Path) -> None:
    """allowed_provinces keeps the work off the cheaper site of another province."""
    registry = SiteRegistry()
    for site_id, province, price in (("cheap", "Gansu", 0.2), ("dear", "Guizhou", 0.9)):
        data = site_dict(site_id, price=price)
        data["site"]["province"] = province
        registry.apply_report(report_of(SiteConfig.model_validate(data)))
    path = tmp_path / "w.yaml"
    path.write_text(
        "workloads:\n"
        "  - {id: w, origin_region: csj, demands: {H100: 8}, duration_h: 1,\n"
        "     allowed_provinces: [Guizhou], data_gb: 10}\n",
        encoding="utf-8",
    )
    async with (
        serve_router(registry, tmp_path / "r.db") as served,
        RouterClient(served.target) as client,
    ):
        result = await client.place(load_workloads(path))
    (placed,) = result.placements
    assert placed.site_id == "dear"
    assert placed.workload.allowed_provinces == {"Guizhou"}


def test_a_file_of_another_kind_is_refused_saying_which_kinds_there_are(tmp_path: Path) -> None:
    """A .toml workload file is refused for its kind, not with a YAML parser's words; a
    broken YAML file is called YAML whatever its spelling of the suffix."""
    toml = tmp_path / "w.toml"
    toml.write_text('[[workloads]]\nid = "a"\n', encoding="utf-8")
    with pytest.raises(
        WorkloadFileError, match=r"YAML \(\.yaml, \.yml\) or JSON \(\.json\), not '\.toml'"
    ):
        load_workloads(toml)
    broken = tmp_path / "w.YML"
    broken.write_text("workloads: [\n", encoding="utf-8")
    with pytest.raises(WorkloadFileError, match="not valid YAML"):
        load_workloads(broken)
