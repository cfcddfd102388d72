"""The replay's clusters: free devices from the real site configs, hourly prices, and the
solver's sites at an hour less the devices in use."""

from __future__ import annotations

import datetime as dt

import pytest

from netrouter.planning.replay_network import Network
from netrouter.planning.traces import EXAMPLES, H100_EQUIVALENT
from site_agents.config import load_site_config

SITES = EXAMPLES / "sites"
START = dt.datetime.fromisoformat("2023-11-16T00:00:00+08:00").timestamp()


def _network(hours: int = 30) -> Network:
    configs = [load_site_config(SITES / f"{name}.toml") for name in ("guian", "wuhu")]
    return Network.from_configs(configs, START, hours)


def test_free_devices_capacity_and_caps_come_from_the_configs() -> None:
    network = _network()
    assert network.ids == ["guian", "wuhu"]
    free = network.free()
    assert free[("guian", "H100")] == 443 - 53
    assert free[("guian", "A100")] == 506 - 66
    for config in network.configs:
        for a in config.accelerators:
            assert free[(config.site.id, a.model)] == max(0, a.healthy - a.in_use_by_others)
    assert network.capacity_h100() == pytest.approx(
        sum(n * H100_EQUIVALENT.get(m, 1.0) for (_, m), n in free.items())
    )
    assert network.hub_caps()["gz"] == 1.2


def test_prices_cover_every_hour_and_the_penalty_is_twice_the_dearest() -> None:
    network = _network(hours=30)
    assert network.hourly.shape == (2, 24 * 3)  # 30 h from the start: three days of tariffs
    assert network.hourly[0, 0] == pytest.approx(0.14)  # Gui'an's valley hour
    assert network.hourly[0, 24] == pytest.approx(network.hourly[0, 0])  # same hour next day
    pue = [c.pue.value or 1.0 for c in network.configs]
    dearest = max(pue[i] * float(network.hourly[i, :5].max()) for i in range(2))
    assert network.unplaced_yuan_per_kwh(5) == pytest.approx(2.0 * dearest)


def test_the_sites_at_an_hour_have_that_days_prices_less_what_is_used() -> None:
    network = _network()
    used = {("guian", "H100"): 90, ("wuhu", "H100"): 10**6}
    guian, wuhu = network.sites(5.5, used)
    assert guian.id == "guian" and guian.hub == "gz" and guian.side == "west"
    assert guian.hourly_price == pytest.approx(tuple(network.hourly[0, 5:29]))
    assert guian.free["H100"] == 443 - 53 - 90
    assert guian.free["A100"] == 506 - 66
    assert wuhu.free["H100"] == 0  # never below none
    assert guian.power_w["H100"] == 700
    untouched = network.sites(0.0)[0]
    assert untouched.free["H100"] == 443 - 53


def test_prices_past_the_tariffs_repeat_the_hours_of_day() -> None:
    """Priced further than built, each hour costs what the same hour the day before did;
    a network priced far enough is returned as it is."""
    network = _network(hours=2)
    have = network.hourly.shape[1]
    longer = network.priced_until(100)
    assert longer.hourly.shape[1] == 125
    assert (longer.hourly[:, :have] == network.hourly).all()
    for h in range(have, 125):
        assert (longer.hourly[:, h] == longer.hourly[:, h - 24]).all()
    assert longer.priced_until(50) is longer
