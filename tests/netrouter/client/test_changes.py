"""Scenario changes applied to a world: what each kind changes, the original left as it
was, and names the world lacks refused naming the change."""

from __future__ import annotations

from dataclasses import replace

import pytest

from netrouter.client.changes import KINDS
from netrouter.client.scenario import apply, parse_scenario
from netrouter.client.world import ScenarioError, World
from netrouter.planning.problem import world_problem
from tests.helpers.factories import EVERY_CHANGE_KIND, scenario_world, workload


def test_applying_changes_the_state_and_leaves_the_original() -> None:
    world = scenario_world()
    changed = apply(parse_scenario(EVERY_CHANGE_KIND.read_text(encoding="utf-8")), world)
    assert world.carbon_yuan_per_kg == 0.0 and set(world.up) == {"west", "east"}
    east, west = changed.reports["east"], changed.reports["west"]
    assert {a.model: a.healthy for a in east.accelerators} == {"H100": 32, "A100": 32}
    assert east.next_24h_yuan_per_kwh[0] == pytest.approx(
        1.5 * world.reports["east"].next_24h_yuan_per_kwh[0]
    )
    assert sorted(set(west.next_24h_yuan_per_kwh)) == [0.2, 0.5, 0.9]
    assert east.pue == pytest.approx(world.reports["east"].pue + 0.05)
    assert changed.hub_max_pue == {"ea": 1.3, "we": 1.3}
    # The link was added, then cut together with the measured csj latency.
    assert changed.links == [] and {lat.region for lat in west.latencies} == {"gba"}
    slo = {w.id: w.latency_slo_ms for w in changed.workloads if w.id.startswith("chat")}
    assert slo == {"chat-0": 20.0, "chat-1": 20.0}
    ids = {w.id for w in changed.workloads}
    assert {"train-0#2", "train-1#2", "train-2#2", "new-1"} <= ids and len(ids) == 9
    assert changed.carbon_yuan_per_kg == 0.1
    assert "ningxia-2" in changed.up
    assert changed.reports["ningxia-2"].pue == west.pue
    problem = world_problem(changed)
    assert {s.id for s in problem.sites} == {"west", "east", "ningxia-2"}
    assert problem.carbon_yuan_per_kg == 0.1


def test_pue_changes_move_the_sustained_pue_and_caps_only_tighten() -> None:
    """A site over its hub's cap stays over until the hysteresis under it; a pue change sets
    the sustained PUE too; a pue_cap change tightens the cap the sites report, never loosens
    it."""
    world = scenario_world()
    east = world.reports["east"]
    world.reports["east"] = replace(east, pue=1.28, pue_mean=1.24)
    world.over_pue_cap, world.pue_cap_hysteresis = {"east"}, 0.02

    def east_ok(w: World) -> bool:
        problem = world_problem(w)
        assert problem.hub_max_pue == w.pue_caps()
        return problem.hub_pue_ok(next(s for s in problem.sites if s.id == "east"))

    assert world.pue_caps() == {"ea": 1.25, "we": 1.25}
    assert not east_ok(world)  # 1.24: under the cap, not yet its margin under it
    assert east_ok(replace(world, over_pue_cap=set()))

    def pue(change: str) -> World:
        return apply(
            parse_scenario(f'[[changes]]\nkind = "pue"\nsites = ["east"]\n{change}\n'), world
        )

    cooler = pue("set = 1.22")
    assert (cooler.reports["east"].pue, cooler.reports["east"].pue_mean) == (1.22, 1.22)
    assert east_ok(cooler) and not east_ok(pue("set = 1.24"))
    down = pue("add = -0.02")
    assert down.reports["east"].pue == pytest.approx(1.26)
    assert down.reports["east"].sustained_pue == pytest.approx(1.22) and east_ok(down)

    def cap(max_pue: float) -> World:
        text = f'[[changes]]\nkind = "pue_cap"\nmax_pue = {max_pue}\nhubs = ["ea"]\n'
        return apply(parse_scenario(text), cooler)

    assert cap(1.3).pue_caps()["ea"] == 1.25 and east_ok(cap(1.3))
    assert cap(1.2).pue_caps() == {"ea": 1.2, "we": 1.25} and not east_ok(cap(1.2))


def test_demand_scaling_is_reproducible_and_proportional() -> None:
    """Scaling demand keeps or copies the same workloads every time, about in proportion."""
    world = scenario_world()
    world.workloads = [workload(f"w{i}") for i in range(400)]
    half = apply(parse_scenario('[[changes]]\nkind = "demand"\nscale = 0.5\n'), world)
    again = apply(parse_scenario('[[changes]]\nkind = "demand"\nscale = 0.5\n'), world)
    assert [w.id for w in half.workloads] == [w.id for w in again.workloads]
    assert 160 <= len(half.workloads) <= 240
    more = apply(parse_scenario('[[changes]]\nkind = "demand"\nscale = 1.25\n'), world)
    assert 460 <= len(more.workloads) <= 540


def test_demand_doubled_twice_is_four_times_with_every_id_once() -> None:
    """Two doublings copy the copies too: four of each, no id twice (found by fuzzing)."""
    world = scenario_world()
    world.workloads = [workload("w1"), workload("w2")]
    twice = '[[changes]]\nkind = "demand"\nscale = 2\n' * 2
    ids = [w.id for w in apply(parse_scenario(twice), world).workloads]
    assert sorted(ids) == ["w1", "w1#2", "w1#2#2", "w1#3", "w2", "w2#2", "w2#2#2", "w2#3"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[changes]]\nkind = "site_down"\nsites = ["nowhere"]\n', "unknown site 'nowhere'"),
        ('[[changes]]\nkind = "site_down"\nsites = ["wset"]\n', "(did you mean 'west'?)"),
        ('[[changes]]\nkind = "capacity"\nsite = "x"\nmodel = "H100"\nadd = 8\n',
         "unknown site 'x'; known sites: east, west"),
        ('[[changes]]\nkind = "price"\nhubs = ["zz"]\nmultiplier = 2\n', "no site has hub"),
        ('[[changes]]\nkind = "capacity"\nsite = "east"\nmodel = "B200"\nadd = 8\n', "power_w"),
        ('[[changes]]\nkind = "link_cut"\na = "csj"\nb = "nowhere"\n', "no link"),
        ('[[changes]]\nkind = "add_site"\nid = "east"\nlike = "west"\naccelerators = {H100 = 8}\n',
         "already exists"),
        ('[[changes]]\nkind = "workloads"\nworkloads = [{id = "train-0", origin_region = "csj",'
         ' demands = {H100 = 8}, duration_h = 1.0}]\n', "already in use"),
    ],
)  # fmt: skip
def test_changes_naming_what_the_state_lacks_are_refused(text: str, needle: str) -> None:
    """A change naming a site, hub, model or link the world lacks is refused, naming it."""
    world = scenario_world()
    with pytest.raises(ScenarioError, match="changes\\[0\\]") as info:
        apply(parse_scenario(text), world)
    assert needle in str(info.value)


def test_a_change_the_solver_would_refuse_names_the_change() -> None:
    """An SLO scaled below the solver's floor is a ScenarioError naming the change, not a crash."""
    world = scenario_world()
    world.workloads = [workload("tight", latency_slo_ms=0.005)]
    with pytest.raises(ScenarioError, match=r"changes\[0\] \(slo\).*latency_slo_ms"):
        apply(parse_scenario('[[changes]]\nkind = "slo"\nmultiplier = 0.01\n'), world)
    assert world.workloads[0].latency_slo_ms == 0.005


def test_each_kind_is_one_model_that_applies_itself() -> None:
    """The kinds are those of the change models, each kind its own model with its own apply."""
    scenario = parse_scenario(EVERY_CHANGE_KIND.read_text(encoding="utf-8"))
    model_of = {c.kind: type(c) for c in scenario.changes}
    assert sorted(KINDS) == sorted(model_of) and len(set(KINDS)) == len(KINDS)
    assert len(set(model_of.values())) == len(KINDS)
    assert all("apply" in vars(model) for model in model_of.values())


@pytest.mark.parametrize(
    ("keys", "capped"),
    [
        ("", {"ea", "we"}),
        ('hubs = ["we"]', {"we"}),
        ('sides = ["west"]', {"we"}),
        ('sides = ["east"]', {"ea"}),
        ('sites = ["east"]', {"ea"}),
        ('sides = ["west"]\nhubs = ["ea"]', {"ea", "we"}),
    ],
)
def test_pue_cap_picks_sites_as_price_does(keys: str, capped: set[str]) -> None:
    """``sides``, ``sites``, ``hubs`` and ``provinces`` pick the sites whose hubs are capped."""
    text = f'[[changes]]\nkind = "pue_cap"\nmax_pue = 1.2\n{keys}\n'
    changed = apply(parse_scenario(text), scenario_world())
    assert changed.hub_max_pue == dict.fromkeys(capped, 1.2)
    assert changed.pue_caps() == {"ea": 1.2 if "ea" in capped else 1.25} | {
        "we": 1.2 if "we" in capped else 1.25
    }


def test_pue_cap_on_a_hub_the_state_lacks_is_refused() -> None:
    text = '[[changes]]\nkind = "pue_cap"\nmax_pue = 1.2\nhubs = ["nx"]\n'
    with pytest.raises(ScenarioError, match=r"changes\[0\] \(pue_cap\)\.hubs: no site has hub"):
        apply(parse_scenario(text), scenario_world())


def test_a_whatif_carries_each_sites_node_shape_through_a_capacity_change() -> None:
    """A shaped site's nodes reach the what-if's solver problem, resized by a capacity
    change as whole free nodes."""
    world = scenario_world()
    east = world.reports["east"]
    a = next(a for a in east.accelerators if a.model == "H100")
    shaped = replace(
        a,
        total=32,
        healthy=32,
        in_use_by_others=32 - 11,
        node_size=8,
        nodes_by_free=(1, 0, 0, 1, 0, 0, 0, 0, 1),
    )
    world.reports["east"] = replace(
        east, accelerators=tuple(shaped if x is a else x for x in east.accelerators)
    )
    site = next(s for s in world_problem(world).sites if s.id == "east")
    assert site.shape["H100"].nodes_by_free == shaped.nodes_by_free
    text = (
        "name = 'more'\n[[changes]]\nkind = 'capacity'\nsite = 'east'\nmodel = 'H100'\nadd = 16\n"
    )
    grown = apply(parse_scenario(text), world)
    site = next(s for s in world_problem(grown).sites if s.id == "east")
    assert site.shape["H100"].whole == 3 and site.free["H100"] == 27
