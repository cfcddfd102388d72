"""Which sites and workloads a scenario's change picks, and names the world lacks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from netrouter.client.selectors import SiteSelector, WorkloadSelector
from netrouter.client.world import ScenarioError
from tests.helpers.factories import scenario_world, workload


def test_a_site_selector_picks_any_match_and_everything_when_empty() -> None:
    world = scenario_world()
    east, west = world.reports["east"], world.reports["west"]

    def picked(selector: SiteSelector) -> set[str]:
        return {r.site_id for r in (east, west) if selector.picks(r)}

    assert picked(SiteSelector()) == {"east", "west"}
    assert picked(SiteSelector(sites=["west"])) == {"west"}
    assert picked(SiteSelector(hubs=["ea"])) == {"east"}
    assert picked(SiteSelector(sides=["west"])) == {"west"}
    assert picked(SiteSelector(sites=["west"], hubs=["ea"])) == {"east", "west"}
    assert picked(SiteSelector(provinces=["nowhere"])) == set()


def test_a_site_selector_names_what_the_world_lacks() -> None:
    world = scenario_world()
    SiteSelector(sites=["east"], hubs=["we"]).check(world, "changes[0]")
    with pytest.raises(ScenarioError, match=r"changes\[0\]\.sites: unknown site 'mars'"):
        SiteSelector(sites=["mars"]).check(world, "changes[0]")
    with pytest.raises(ScenarioError, match=r"changes\[1\]\.hubs: no site has hub 'zz'"):
        SiteSelector(hubs=["zz"]).check(world, "changes[1]")
    with pytest.raises(ScenarioError, match=r"\.provinces: no site has province 'zz'"):
        SiteSelector(provinces=["zz"]).check(world, "changes[2]")


def test_a_workload_selector_needs_every_condition() -> None:
    chat = workload("chat", latency_slo_ms=10.0, labels={"team": "a"})
    train = workload("train", origin_region="gba", labels={"team": "a", "tier": "1"})
    both = (chat, train)

    def picked(selector: WorkloadSelector) -> set[str]:
        return {w.id for w in both if selector.picks(w)}

    assert picked(WorkloadSelector()) == {"chat", "train"}
    assert picked(WorkloadSelector(select="inference")) == {"chat"}
    assert picked(WorkloadSelector(select="training")) == {"train"}
    assert picked(WorkloadSelector(origin_regions=["gba"])) == {"train"}
    assert picked(WorkloadSelector(labels={"team": "a"})) == {"chat", "train"}
    assert picked(WorkloadSelector(labels={"team": "a", "tier": "1"})) == {"train"}
    assert picked(WorkloadSelector(select="inference", origin_regions=["gba"])) == set()


def test_selectors_refuse_unknown_keys_and_sides() -> None:
    with pytest.raises(ValidationError):
        SiteSelector.model_validate({"site": ["east"]})
    with pytest.raises(ValidationError):
        SiteSelector.model_validate({"sides": ["north"]})
    with pytest.raises(ValidationError):
        WorkloadSelector.model_validate({"select": "batch"})
