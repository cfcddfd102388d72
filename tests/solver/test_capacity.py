"""The shape of free capacity: work fits on one node, or on whole free nodes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings

from solver import (
    BASELINES,
    InvalidProblemError,
    NodeShape,
    Problem,
    Site,
    SolverConfig,
    Workload,
    assembly,
    run_baseline,
    solve,
)
from solver.capacity import node_pools
from solver.single import SiteArrays
from tests.helpers.solver_oracles import check_plan, packs, shaped_brute_force, tolerance
from tests.helpers.strategies import shaped_problems

CONFIG = SolverConfig(time_limit_s=10.0, num_workers=2, relative_gap_limit=0.0)

ONE_PER_NODE = NodeShape.of_nodes(8, [1] * 8)
"""8 free H100, one on each of 8 nodes."""


def _site(site_id: str, price: float, shape: NodeShape | None, free: int = 0) -> Site:
    return Site(
        id=site_id,
        pue=1.2,
        hourly_price=(price,) * 24,
        carbon_kg_per_kwh=0.5,
        latency_ms={"jjj": 5.0},
        free={"H100": shape.free if shape else free},
        power_w={"H100": 700.0},
        shape={"H100": shape} if shape else {},
    )


def _job(wid: str, devices: int) -> Workload:
    return Workload(id=wid, origin_region="jjj", demands={"H100": devices}, duration_h=2.0)


def test_a_shape_says_what_fits_and_why_not() -> None:
    """Eight free H100 one per node take a 1-GPU job but not an 8-GPU one, and say why."""
    assert ONE_PER_NODE.free == 8
    assert (ONE_PER_NODE.largest, ONE_PER_NODE.whole) == (1, 0)
    assert ONE_PER_NODE.fits(1)
    assert not ONE_PER_NODE.fits(8)
    assert ONE_PER_NODE.shortfall(8, "H100") == "no node with 8 free H100; largest 1"
    two_whole = NodeShape.of_nodes(8, [8, 8, 3])
    assert two_whole.fits(16) and not two_whole.fits(17)
    assert two_whole.shortfall(17, "H100") == ("needs 3 whole free nodes of 8 H100; 2 whole free")


def test_work_fills_fragments_before_breaking_whole_nodes() -> None:
    """Best fit: a 2-GPU job goes on the node with 3 free, not on a whole one."""
    shape = NodeShape.of_nodes(8, [8, 3, 8])
    assert shape.after([2]) == NodeShape.of_nodes(8, [8, 1, 8])
    assert shape.after([16]) == NodeShape.of_nodes(8, [0, 3, 0])
    # What fits nowhere still takes its devices, from the nodes with the most free.
    assert NodeShape.of_nodes(4, [1, 1, 1]).after([4]).free == 0


def test_a_shape_must_hold_the_sites_free_count() -> None:
    """A site whose shape and free count disagree is refused, naming both."""
    with pytest.raises(InvalidProblemError, match=r"shape.H100: holds 8 free devices"):
        replace(_site("a", 0.5, ONE_PER_NODE), free={"H100": 9})


def test_identical_nodes_become_only_as_many_pools_as_work_can_use() -> None:
    """64 whole nodes and three 1-GPU candidates: three node pools are all a plan can use."""
    shape = NodeShape.of_nodes(8, [8] * 64)
    pools = node_pools(shape, np.array([1, 1, 1]))
    assert pools.caps.tolist() == [8, 8, 8]
    big = node_pools(shape, np.array([16, 1]))
    assert big.caps.tolist() == [8, 16] and big.gang


def test_the_single_path_refuses_an_8_gpu_job_on_8_scattered_gpus() -> None:
    """The acceptance case: 8 free H100 one per node refuse an 8-GPU job, saying why, and
    take eight 1-GPU jobs one after another."""
    problem = Problem(sites=(_site("a", 0.5, ONE_PER_NODE),), workloads=())
    arrays = SiteArrays(problem)
    plan = arrays.place(_job("big", 8), {("a", "H100"): 8}, shapes={("a", "H100"): ONE_PER_NODE})
    assert not plan.assignments
    assert "no node with 8 free H100; largest 1" in plan.unplaced[0].reason
    shape, free = ONE_PER_NODE, 8
    for i in range(8):
        plan = arrays.place(_job(f"j{i}", 1), {("a", "H100"): free}, shapes={("a", "H100"): shape})
        assert [a.site_id for a in plan.assignments] == ["a"]
        shape, free = shape.after([1]), free - 1
    assert shape.free == 0


def test_the_batch_solver_plans_on_nodes_not_on_counts() -> None:
    """A batch whose count-only optimum cannot run: the cheap site's 8 GPUs sit one per
    node. Counting devices puts the 8-GPU job there; the shape-aware plan sends it to the
    dearer whole node and fills the cheap fragments with the 1-GPU jobs, as brute force
    does, with a valid bound."""
    cheap, dear = _site("cheap", 0.3, ONE_PER_NODE), _site("dear", 0.9, NodeShape.of_nodes(8, [8]))
    work = (_job("big", 8), *(_job(f"small{i}", 1) for i in range(4)))
    problem = Problem(sites=(cheap, dear), workloads=work)
    counted = replace(problem, sites=tuple(replace(s, shape={}) for s in problem.sites))
    by_count = {a.workload_id: a.site_id for a in solve(counted, CONFIG).assignments}
    assert by_count["big"] == "cheap"  # what a count-only plan would have sent
    plan = solve(problem, CONFIG)
    where = {a.workload_id: a.site_id for a in plan.assignments}
    assert where == {"big": "dear", **{f"small{i}": "cheap" for i in range(4)}}
    optimum = shaped_brute_force(problem)
    assert plan.objective == pytest.approx(optimum, abs=tolerance(optimum))
    assert plan.bound <= optimum + tolerance(optimum)
    check_plan(problem, plan)


def test_a_cheaper_site_ruled_out_by_its_nodes_says_so() -> None:
    """The explanation of a job sent past a site names the node shape that kept it off."""
    cheap, dear = _site("cheap", 0.3, ONE_PER_NODE), _site("dear", 0.9, None, free=8)
    plan = solve(Problem(sites=(cheap, dear), workloads=(_job("big", 8),)), CONFIG)
    (a,) = plan.assignments
    assert a.site_id == "dear"
    assert [(x.site_id, x.reason_kind) for x in a.alternatives] == [("cheap", "node-shape")]
    assert "no node with 8 free H100; largest 1 at cheap" in a.explanation


def test_work_larger_than_a_node_takes_whole_nodes() -> None:
    """A 12-GPU job takes two whole 8-GPU nodes and is priced for its 12 devices; small
    work competing for those nodes keeps the bound honest."""
    shape = NodeShape.of_nodes(8, [8, 8, 4])
    problem = Problem(
        sites=(_site("a", 0.5, shape),),
        workloads=(_job("big", 12), _job("mid", 4), _job("small", 3)),
    )
    plan = solve(problem, CONFIG)
    optimum = shaped_brute_force(problem)
    assert plan.objective == pytest.approx(optimum, abs=tolerance(optimum))
    assert plan.bound <= optimum + tolerance(optimum)
    big = next(a for a in plan.assignments if a.workload_id == "big")
    assert big.devices == 12
    check_plan(problem, plan)


@settings(max_examples=60, deadline=None)
@given(shaped_problems())
def test_shaped_plans_match_brute_force(problem: Problem) -> None:
    """On tiny shaped instances the plan is optimal and fits the nodes, and its bound is
    below the brute-force optimum."""
    plan = solve(problem, CONFIG)
    optimum = shaped_brute_force(problem)
    assert plan.bound <= optimum + tolerance(optimum)
    assert plan.objective == pytest.approx(optimum, abs=tolerance(optimum))
    check_plan(problem, plan)


@settings(max_examples=30, deadline=None)
@given(shaped_problems())
def test_every_baseline_respects_the_nodes(problem: Problem) -> None:
    """The baselines plan on the same node pools, so their plans fit the nodes too."""
    for name in BASELINES:
        check_plan(problem, run_baseline(name, problem))


def test_packing_check_is_exact_on_a_known_case() -> None:
    """Two 3-GPU jobs fit one 4-free and one 3-free node, not two 2-free ones."""
    assert packs(NodeShape.of_nodes(4, [4, 3]), [3, 3])
    assert not packs(NodeShape.of_nodes(4, [2, 2]), [3])
    assert packs(NodeShape.of_nodes(4, [4, 4, 1]), [5, 1])
    assert not packs(NodeShape.of_nodes(4, [4, 3]), [5])


def test_a_counted_plan_that_fits_the_nodes_is_the_answer() -> None:
    """Where the plan in devices fits the nodes, it is the plan: the same objective as
    counting, proven optimal by the counted bound."""
    shape = NodeShape.of_nodes(8, [8, 8, 4, 2])
    problem = Problem(
        sites=(_site("a", 0.5, shape), _site("b", 0.9, NodeShape.of_nodes(8, [8]))),
        workloads=(_job("x", 8), _job("y", 4), _job("z", 2), _job("w", 1)),
    )
    counted = replace(problem, sites=tuple(replace(s, shape={}) for s in problem.sites))
    plan, by_count = solve(problem, CONFIG), solve(counted, CONFIG)
    assert plan.objective == pytest.approx(by_count.objective)
    assert plan.status == "OPTIMAL" and plan.bound == pytest.approx(by_count.bound)
    check_plan(problem, plan)


@settings(max_examples=40, deadline=None)
@given(shaped_problems())
def test_split_plans_fit_the_nodes_and_keep_a_valid_bound(problem: Problem) -> None:
    """With every node table 'too large', the work that fits stays where the counted plan
    put it and the rest is placed again on what is left: the plan still fits the nodes,
    costs no less than the optimum, and its bound stays below it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(assembly, "NODE_TABLE_MAX_PAIRS", 0)
        plan = solve(problem, CONFIG)
    optimum = shaped_brute_force(problem)
    assert plan.objective >= optimum - tolerance(optimum)
    assert plan.bound <= optimum + tolerance(optimum)
    check_plan(problem, plan)


def test_work_the_counted_plan_put_on_no_node_is_placed_again_on_what_is_left() -> None:
    """The split path on the acceptance case: the 1-GPU jobs stay where the counted plan
    put them (dear's whole node), and the 8-GPU job it put on the scattered GPUs is placed
    again on what is left: nowhere, and it says why. (Solved whole on the nodes, the small
    jobs would have moved: the split trades that for size.)"""
    cheap, dear = _site("cheap", 0.3, ONE_PER_NODE), _site("dear", 0.9, NodeShape.of_nodes(8, [8]))
    work = (_job("big", 8), *(_job(f"small{i}", 1) for i in range(4)))
    problem = Problem(sites=(cheap, dear), workloads=work)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(assembly, "NODE_TABLE_MAX_PAIRS", 0)
        plan = solve(problem, CONFIG)
    assert plan.method.endswith("+nodes")
    assert {a.workload_id: a.site_id for a in plan.assignments} == {
        f"small{i}": "dear" for i in range(4)
    }
    (big,) = plan.unplaced
    assert "no node with 8 free H100; largest 1" in big.reason
    check_plan(problem, plan)


def test_devices_freed_on_unnamed_nodes_come_back_as_nodes_of_their_own() -> None:
    """A 12-GPU job leaving 8-GPU nodes frees one whole node and one with 4; never a
    fragment larger than it was."""
    freed = NodeShape.of_nodes(8, [3]).freed([12])
    assert freed.nodes_by_free == (0, 0, 0, 1, 1, 0, 0, 0, 1)
    assert freed.free == 15


@settings(max_examples=80, deadline=None)
@given(shaped_problems(domains=True))
def test_plans_keep_work_asking_for_one_domain_in_one(problem: Problem) -> None:
    """With interconnect domains known, work larger than a node that asks for one domain
    gets whole nodes of one domain: the plan fits (checked by enumeration), costs no less
    than the brute-force optimum, and its bound stays below it. (Not always equal: the whole
    nodes set aside for large work are a choice made before the solve.)"""
    plan = solve(problem, CONFIG)
    optimum = shaped_brute_force(problem)
    assert plan.bound <= optimum + tolerance(optimum)
    assert plan.objective >= optimum - tolerance(optimum)
    check_plan(problem, plan)


NVL = NodeShape.of_nodes(4, [4, 4, 4, 4, 4, 2], ["a", "a", "a", "b", "b", ""])
"""Nodes of 4 GB200 in interconnect domains: "a" with 3 whole free nodes, "b" with 2, and
a node in no known domain with 2 free."""


def test_domains_count_whole_free_nodes_and_say_what_fits_in_one() -> None:
    """A domain histogram from node names; work asking for one domain fits only where one
    domain holds all its whole nodes, and says why not."""
    assert (NVL.domain_nodes, NVL.domains_by_whole, NVL.largest_domain) == (3, (1, 0, 1, 1), 3)
    assert NVL.fits(20) and not NVL.fits(20, one_domain=True)
    assert NVL.fits(12, one_domain=True) and not NVL.fits(16, one_domain=True)
    assert NVL.fits_each(np.array([12, 16, 16]), np.array([True, True, False])).tolist() == [
        True,
        False,
        True,
    ]
    assert NVL.shortfall(16, "GB200", one_domain=True) == (
        "needs 4 whole free nodes of 4 GB200 in one interconnect domain; "
        "the most in one is 3 (5 whole free in all)"
    )
    # Unknown domains: asking for one changes nothing.
    plain = NodeShape.of_nodes(4, [4, 4, 4, 4, 4])
    assert plain.fits(20, one_domain=True)
    with pytest.raises(InvalidProblemError, match="domains_by_whole: holds 4 whole nodes"):
        replace(NVL, domains_by_whole=(0, 1, 0, 1))


def test_large_work_takes_the_smallest_domain_that_holds_it() -> None:
    """Laying work keeps the largest domain whole for work that needs it: 2 nodes go to
    "b" (2 whole), 1-node work breaks a node of the smallest domain, and work asking for a
    domain none holds is refused while work that does not ask spreads."""
    assert NVL.after([8]).domains_by_whole == (2, 0, 0, 1)
    assert NVL.after([4]).domains_by_whole == (1, 1, 0, 1)
    fits, left = NVL.lay([16, 8], [True, True])
    assert fits == [False, True] and left.domains_by_whole == (2, 0, 0, 1)
    fits, left = NVL.lay([16], [False])
    assert fits == [True] and left.whole == 1
    assert NVL.freed([8]).domains_by_whole == (1, 2, 1, 1)


def test_work_asking_for_one_domain_gets_one_and_brute_force_agrees() -> None:
    """Two 12-GPU jobs asking for one domain at a site with 7 whole nodes of 4, but only
    domain "a" holding 3 of them: one runs there, the other goes to the dear site, and an
    8-GPU job that does not ask takes whole nodes of the other domains. Counting whole
    nodes alone would put both at the cheap site. Optimal, by enumeration."""
    nodes = NodeShape.of_nodes(4, [4] * 7, ["a", "a", "a", "b", "b", "c", "c"])
    cheap = _site("cheap", 0.3, nodes)
    dear = _site("dear", 0.9, NodeShape.of_nodes(4, [4, 4, 4], ["x", "x", "x"]))
    work = (
        replace(_job("one", 12), one_domain=True),
        replace(_job("two", 12), one_domain=True),
        _job("any", 8),
    )
    problem = Problem(sites=(cheap, dear), workloads=work)
    plan = solve(problem, CONFIG)
    where = {a.workload_id: a.site_id for a in plan.assignments}
    assert where["any"] == "cheap"
    assert sorted((where["one"], where["two"])) == ["cheap", "dear"]
    optimum = shaped_brute_force(problem)
    assert plan.objective == pytest.approx(optimum, abs=tolerance(optimum))
    assert plan.bound <= optimum + tolerance(optimum)
    check_plan(problem, plan)
    # The single path says why the cheap site cannot take 16 in one domain.
    single = SiteArrays(problem).place(
        replace(_job("three", 16), one_domain=True),
        {("cheap", "H100"): nodes.free, ("dear", "H100"): 0},
        shapes={("cheap", "H100"): nodes},
    )
    assert not single.assignments
    assert "in one interconnect domain" in single.unplaced[0].reason
