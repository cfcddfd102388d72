"""Hub PUE caps judged on the sustained PUE, with hysteresis (netrouter.router.pue_policy)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from netrouter.contract.configfile import ConfigFileError
from netrouter.contract.site_report import SiteReport, hub_caps
from netrouter.router.app import RouterApp
from netrouter.router.config import load_router_config, serve_settings
from netrouter.router.pue_policy import PueCapPolicy
from netrouter.router.state import SiteRegistry
from tests.helpers.factories import report_of, site_config


def _report(site_id: str, *, hub: str = "csj", cap: float = 1.25, **kw: float) -> SiteReport:
    """A wire-decoded report of a site in ``hub`` with cap ``cap``, without a sustained PUE
    unless ``pue_mean`` is given (other fields overridden by kw)."""
    report = report_of(site_config(site_id), pue_mean=0.0)
    labels = replace(report.labels, hub=hub, pue_cap=cap)
    return replace(report, labels=labels, **kw)  # type: ignore[arg-type]


def test_sustained_pue_with_hysteresis_goes_over_and_comes_back() -> None:
    """Mean 1.26 → over; 1.24 → still over (within the margin); 1.22 → back."""
    policy = PueCapPolicy(hysteresis=0.02)
    steps = [(1.20, False), (1.26, True), (1.24, True), (1.23, False), (1.25, False)]
    steps += [(1.2501, True), (1.22, False)]
    for mean, over in steps:
        policy.observe(_report("wuhu", pue=1.28, pue_mean=mean))
        assert policy.over("wuhu") is over, mean
        assert policy.margin("wuhu") == (0.02 if over else 0.0)


def test_the_cap_judges_the_mean_not_the_reading() -> None:
    """A hot reading under a cool week is under the cap; without a mean the reading counts."""
    policy = PueCapPolicy()
    policy.observe(_report("wuhu", pue=1.30, pue_mean=1.21))
    assert not policy.over("wuhu")
    policy.observe(_report("wuhu", pue=1.30))
    assert policy.over("wuhu")
    policy.observe(_report("wuhu", pue=1.21, pue_mean=1.30))
    assert policy.over("wuhu")


def test_no_cap_no_hub_or_unknown_site_is_never_over() -> None:
    """A cap of 0 is none; a site without a hub has none; an unknown site is not over."""
    policy = PueCapPolicy()
    policy.observe(_report("a", cap=0.0, pue=2.0))
    policy.observe(_report("b", hub="", pue=2.0))
    assert not policy.over("a") and not policy.over("b") and not policy.over("nowhere")
    assert policy.caps() == {}


def test_the_tightest_cap_of_a_hub_applies_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two sites of one hub with different caps: both are judged on the tighter, logged once."""
    policy = PueCapPolicy()
    with caplog.at_level(logging.WARNING, logger="netrouter.router.pue_policy"):
        policy.observe(_report("loose", cap=1.30, pue=1.27))
        assert not policy.over("loose")
        for _ in range(3):
            policy.observe(_report("tight", cap=1.25, pue=1.20))
    assert policy.caps() == {"csj": 1.25}
    assert policy.over("loose") and not policy.over("tight")
    disagreements = [r for r in caplog.records if "different PUE caps" in r.getMessage()]
    assert len(disagreements) == 1 and "1.25" in disagreements[0].getMessage()
    # The tight site leaves: the hub's cap is the loose one again.
    policy.forget("tight")
    assert policy.caps() == {"csj": 1.30} and not policy.over("loose")


def test_hub_caps_of_reports() -> None:
    """Each hub's tightest reported cap; uncapped hubs left out."""
    reports = [
        _report("a", hub="csj", cap=1.25),
        _report("b", hub="csj", cap=1.2),
        _report("c", hub="gz", cap=0.0),
    ]
    assert hub_caps(reports) == {"csj": 1.2}


def test_the_registry_judges_every_report_it_accepts() -> None:
    """SiteRegistry.over_pue_cap follows the accepted reports (a rejected one changes nothing)."""
    registry = SiteRegistry(pue_cap_hysteresis=0.05)
    first = _report("wuhu", pue=1.28)
    registry.apply_report(first)
    assert registry.over_pue_cap("wuhu")
    registry.apply_report(replace(first, sequence=first.sequence + 1, pue=1.21))
    assert registry.over_pue_cap("wuhu")  # 1.21 > 1.25 − 0.05
    registry.apply_report(replace(first, sequence=first.sequence + 2, pue=1.20))
    assert not registry.over_pue_cap("wuhu")
    assert not registry.over_pue_cap("elsewhere")


def test_router_config_takes_the_hysteresis(tmp_path: Path) -> None:
    """[sites] pue_cap_hysteresis reaches the router's registry (default 0.02); a value out
    of range is refused naming the key and line."""
    assert load_router_config(None).sites.pue_cap_hysteresis == 0.02
    path = tmp_path / "router.toml"
    path.write_text("[sites]\npue_cap_hysteresis = 0.05\n", encoding="utf-8")
    settings = serve_settings(load_router_config(path))
    assert settings.pue_cap_hysteresis == 0.05
    assert RouterApp(settings).registry.pue_policy.hysteresis == 0.05
    path.write_text("[sites]\npue_cap_hysteresis = -0.01\n", encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        load_router_config(path)
    assert info.value.key == "sites.pue_cap_hysteresis" and info.value.line == 2
