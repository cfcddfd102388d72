"""The collectors: time-of-use tariffs (bands by hour and season, edges at midnight and at
a season change), the static inventory and the fixed PUE."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from netrouter.contract.configfile import ConfigFileError
from site_agents.collectors import FixedPue, Shape, StaticInventory, TimeOfUseTariff, node_shape
from site_agents.config import BANDS, SiteConfig, load_site_config, parse_hours
from site_agents.report import ReportBuilder
from tests.helpers.factories import report_of, site_dict

SHANGHAI = ZoneInfo("Asia/Shanghai")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sites"

# Two seasons: Jan–Oct has valley 23–07; Nov–Dec has valley 00–08 and a sharp band 17–19.
TWO_SEASONS: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "prices": {"peak": 1.0, "flat": 0.6, "valley": 0.3},
    "seasons": [
        {
            "name": "Jan-Oct",
            "months": list(range(1, 11)),
            "hours": {"valley": ["23-07"], "flat": ["07-08", "12-17"], "peak": ["08-12", "17-23"]},
        },
        {
            "name": "Nov-Dec",
            "months": [11, 12],
            "prices": {"valley": 0.25, "sharp": 1.3},
            "hours": {
                "valley": ["00-08"],
                "flat": ["08-10", "12-17", "22-24"],
                "peak": ["10-12", "19-22"],
                "sharp": ["17-19"],
            },
        },
    ],
}


def _config(tariff: dict[str, Any]) -> SiteConfig:
    data = site_dict("alpha")
    data["tariff"] = tariff
    return SiteConfig.model_validate(data)


def _at(*args: int) -> float:
    return dt.datetime(*args, tzinfo=SHANGHAI).timestamp()


def test_hour_ranges_wrap_past_midnight() -> None:
    assert parse_hours("22-06") == [22, 23, 0, 1, 2, 3, 4, 5]
    assert parse_hours("23-24") == [23]
    assert parse_hours("00-24") == list(range(24))
    for bad in ("8", "08-08", "25-02", "a-b", "08-10-12"):
        with pytest.raises(ValueError):
            parse_hours(bad)


def test_band_edges_at_the_hour_and_across_midnight() -> None:
    """22:59 is still peak, 23:00 is valley, and the valley runs through 00:00 to 06:59."""
    tariff = TimeOfUseTariff(_config(TWO_SEASONS))
    assert tariff.tariff(_at(2026, 5, 10, 22, 59, 59)).band_now == "peak"
    at_23 = tariff.tariff(_at(2026, 5, 10, 23, 0))
    assert (at_23.band_now, at_23.price_now) == ("valley", 0.3)
    # The window from 23:00: 8 valley hours (23..06), then flat at 07:00, peak at 08:00.
    assert at_23.bands_24h[:10] == ("valley",) * 8 + ("flat", "peak")
    assert at_23.next_24h[:10] == (0.3,) * 8 + (0.6, 1.0)
    assert tariff.tariff(_at(2026, 5, 11, 0, 0)).band_now == "valley"
    assert tariff.tariff(_at(2026, 5, 11, 7, 0)).band_now == "flat"


def test_the_24h_window_crosses_a_season_change() -> None:
    """At 23:00 on 31 October the next hours follow November's schedule and prices."""
    t = TimeOfUseTariff(_config(TWO_SEASONS)).tariff(_at(2026, 10, 31, 23, 0))
    assert (t.band_now, t.price_now) == ("valley", 0.3)  # October's valley price
    assert t.next_24h[1:9] == (0.25,) * 8  # November's valley, 00–08, at its own price
    assert t.bands_24h[9] == "flat"  # 08:00 is flat in November (it is peak in October)
    assert t.bands_24h[18:20] == ("sharp", "sharp") and t.next_24h[18] == 1.3  # 17–19
    assert len(t.next_24h) == len(t.bands_24h) == 24
    # And the other way round, on the first of January.
    back = TimeOfUseTariff(_config(TWO_SEASONS)).tariff(_at(2026, 12, 31, 23, 0))
    assert (back.band_now, back.price_now) == ("flat", 0.6)
    assert back.next_24h[1] == 0.3 and back.bands_24h[9] == "peak"


def test_report_carries_the_band_now_and_the_next_24_bands() -> None:
    config = _config(TWO_SEASONS)
    report = ReportBuilder(config, clock=lambda: _at(2026, 11, 3, 17, 30)).build()
    assert (report.tariff.band_now, report.tariff.price_now_yuan_per_kwh) == ("sharp", 1.3)
    assert list(report.tariff.next_24h_bands[:3]) == ["sharp", "sharp", "peak"]
    # The router accepts it (the wire decoder validates every field).
    assert report_of(config).site_id == "alpha"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t["seasons"][0]["hours"].update(flat=["07-09", "12-17"]), "hour 8 is in both"),
        (lambda t: t["seasons"][0]["hours"].update(flat=["07-08"]), "have no band"),
        (lambda t: t["seasons"][1]["months"].append(3), "month 3 is in seasons 0 and 1"),
        (lambda t: t["seasons"][1]["months"].remove(12), "months [12] are in no season"),
        (lambda t: t["seasons"][1]["prices"].pop("sharp"), "no price is given for it"),
        (lambda t: t.update(timezone="Mars/Olympus"), "unknown timezone"),
        (lambda t: t["seasons"][0]["hours"].update(valley=["23-7h"]), "is not like"),
        (lambda t: t["seasons"][0]["hours"].update(midday=["12-13"]), "sharp"),
    ],
)
def test_bad_schedules_are_refused(change: Any, message: str) -> None:
    import copy

    tariff = copy.deepcopy(TWO_SEASONS)
    change(tariff)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _config(tariff)


def test_bad_schedule_in_a_file_names_the_key_and_line(tmp_path: Path) -> None:
    text = (EXAMPLES / "zhangjiakou.toml").read_text(encoding="utf-8")
    broken = text.replace('hours.sharp = ["17-19"]', 'hours.sharp = ["17-20"]', 1)
    assert broken != text
    path = tmp_path / "site.toml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        load_site_config(path)
    assert "hour 19 is in both" in str(info.value)
    assert info.value.key.startswith("tariff.seasons[")
    header = info.value.line
    assert header is not None and broken.splitlines()[header - 1].strip() == "[[tariff.seasons]]"
    assert "17-20" in "\n".join(broken.splitlines()[header - 1 : header + 12])


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_example_schedule_covers_the_year(path: Path) -> None:
    """Every hour of every day of 2026 has a band and a price within the tariff's range."""
    config = load_site_config(path)
    tariff = TimeOfUseTariff(config)
    start = _at(2026, 1, 1, 0, 0)
    seen: set[str] = set()
    for day in range(0, 365, 1):
        t = tariff.tariff(start + day * 86_400)
        assert len(t.next_24h) == 24 and all(0.05 < p < 2.0 for p in t.next_24h)
        seen.update(t.bands_24h)
    assert seen <= set(BANDS) and {"peak", "valley"} <= seen
    assert config.tariff.source  # each schedule says where it comes from


def test_zhangjiakou_november_sharp_band() -> None:
    """Jibei's Nov–Jan sharp band, 17:00–19:00, at 1.054 (examples/sites/SOURCES.md §5)."""
    tariff = TimeOfUseTariff(load_site_config(EXAMPLES / "zhangjiakou.toml"))
    at_17 = tariff.tariff(_at(2026, 11, 3, 17, 0))
    assert (at_17.band_now, at_17.price_now) == ("sharp", 1.054)
    assert tariff.tariff(_at(2026, 11, 3, 16, 59)).band_now == "peak"
    assert tariff.tariff(_at(2026, 11, 3, 19, 0)).band_now == "peak"
    # No sharp band in April.
    assert "sharp" not in tariff.tariff(_at(2026, 4, 3, 0, 0)).bands_24h


def test_the_static_inventory_is_the_configs_accelerators() -> None:
    config = SiteConfig.model_validate(site_dict("alpha", h100=16, a100=8, in_use=2))
    inventory = StaticInventory(config).inventory()
    assert [(i.model, i.total, i.healthy, i.in_use_by_others) for i in inventory] == [
        (a.model, a.total, a.healthy, a.in_use_by_others) for a in config.accelerators
    ]
    assert {i.model for i in inventory} == {"H100", "A100"}
    assert all(i.from_static_config for i in inventory)


def test_a_fixed_pue_is_its_own_mean_at_any_time() -> None:
    pue = FixedPue(1.23, mean_window_s=3_600.0)
    for now in (0.0, 1e9):
        reading = pue.reading(now)
        assert (reading.value, reading.source, reading.age_s) == (1.23, "config", 0.0)
        assert (reading.mean.value, reading.mean.window_s, reading.mean.covered_s) == (
            1.23,
            3_600.0,
            3_600.0,
        )


def test_node_shape_counts_nodes_per_free_devices() -> None:
    # Free is clamped to 0..devices; the biggest node sets node_size.
    assert node_shape([(8, 5), (8, 8), (4, 4), (8, -1), (2, 9)]) == Shape(
        8, (1, 0, 1, 0, 1, 1, 0, 0, 1)
    )
    assert node_shape([]) == Shape()
    assert node_shape([(0, 0)]) == Shape()
    assert node_shape([(65, 3), (8, 8)]) == Shape()  # beyond MAX_NODE_SIZE: not reported
    assert node_shape([(64, 64)]) == Shape(64, (0,) * 64 + (1,))


def test_node_shape_counts_domains_by_their_whole_free_nodes() -> None:
    """Four nodes in rack "r1" (three whole free), two in "r2" (one whole), and one node
    in no known domain (whole): domains of 1, 1 and 3 whole nodes, the most nodes in one 4.
    No domain named: the domains are unknown."""
    nodes = [(4, 4), (4, 4), (4, 4), (4, 1), (4, 4), (4, 0), (4, 4)]
    names = ["r1", "r1", "r1", "r1", "r2", "r2", ""]
    assert node_shape(nodes, names) == Shape(4, (1, 1, 0, 0, 5), 4, (0, 2, 0, 1, 0))
    assert node_shape(nodes, [""] * len(nodes)) == Shape(4, (1, 1, 0, 0, 5))
    assert node_shape([(4, 4)] * 1_025, ["big"] * 1_025).domain_nodes == 0  # too many
