"""The replay on nodes: nodes drawn from a node list, placements laid best, first or worst
fit, and the figures of a hand-made case (2 sites, 2 nodes each) worked out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from netrouter.planning.arrivals import Arrivals, Job
from netrouter.planning.replay import POLICIES, replay
from netrouter.planning.replay_network import Network
from netrouter.planning.replay_nodes import Nodes, draw_layout, misfits, read_node_sizes
from netrouter.planning.traces import EXAMPLES, read_pods
from site_agents.config import SiteConfig, load_site_config
from solver import NodeShape, SolverConfig, Workload

SITES = EXAMPLES / "sites"
START = dt.datetime.fromisoformat("2023-11-16T00:00:00+08:00").timestamp()
FAST = SolverConfig(time_limit_s=1.0, relative_gap_limit=1e-3, explain_max_workloads=0)


def test_nodes_are_drawn_from_the_list_to_cover_the_free_devices() -> None:
    """Every (site, model) gets nodes whose free devices add up to its own; the last one
    is trimmed; the same seed draws the same nodes."""
    free = {("a", "H100"): 20, ("b", "A100"): 3, ("c", "H100"): 0}
    layout = draw_layout(free, [8, 2, 4], seed=1)
    for key, n in free.items():
        assert sum(f for _, f in layout[key]) == n
        assert all(size in (8, 2, 4) and 0 < f <= size for size, f in layout[key])
        assert all(f == size for size, f in layout[key][:-1])
    assert layout[("c", "H100")] == ()
    assert draw_layout(free, [8, 2, 4], seed=1) == layout
    sizes = read_node_sizes(EXAMPLES / "traces" / "alibaba_openb_gpu_nodes_sample.csv")
    assert len(sizes) == 300 and set(sizes) <= {1, 2, 4, 8}


def test_a_placement_takes_the_node_its_fit_chooses() -> None:
    """Free devices (3, 8, 5): 2 devices go to the node with 3 (best), the first (first),
    the one with 8 (worst); 6 go to the whole node whatever the fit; 16 need two whole
    8-GPU nodes, and a 2-GPU node that is whole does not count as one."""
    for fit, node in (("best", 0), ("first", 0), ("worst", 1)):
        nodes = Nodes.of([(8, 3), (8, 8), (8, 5)])
        assert nodes.place(2, fit) == ((node, 2),)
        assert nodes.place(6, fit) == ((1, 6),)
    best = Nodes.of([(8, 5), (8, 3)])
    assert best.place(3, "best") == ((1, 3),)
    assert best.place(3, "first") == ((0, 3),)
    whole = Nodes.of([(8, 8), (2, 2), (8, 8), (8, 7)])
    assert whole.shape() == NodeShape(node_size=8, nodes_by_free=(0, 0, 1, 0, 0, 0, 0, 1, 2))
    assert whole.place(16, "best") == ((0, 8), (2, 8))
    assert whole.place(9, "best") is None
    assert whole.fragmented() == 7  # the 2-GPU node is whole, the 8-GPU one with 7 is not
    assert whole.stranded(8) == 7 and whole.stranded(7) == 0
    whole.release(((0, 8),))
    assert whole.free.tolist() == [8, 2, 0, 7]
    assert misfits(Nodes.of([(8, 4), (8, 4)]), [8, 4]) == 1


def _site(name: str, model: str) -> SiteConfig:
    """A site with one model only, 16 free devices."""
    config = load_site_config(SITES / f"{name}.toml")
    acc = next(a for a in config.accelerators if a.model == model)
    only = acc.model_copy(update={"total": 16, "healthy": 16, "in_use_by_others": 0})
    return config.model_copy(update={"accelerators": [only]})


def _job(wid: str, model: str, devices: int, start: float) -> Job:
    work = Workload(id=wid, origin_region="cy", demands={model: devices}, duration_h=1.0 - start)
    return Job(workload=work, start_h=start, end_h=1.0)


def _two_sites() -> tuple[Network, Arrivals]:
    """Gui'an with two 8-GPU H100 nodes, Horinger with two 8-GPU A100 nodes. At 0: a and
    b (4 H100 each), c (2 A100); at 0.25 h: d (8 H100). All run to 1 h."""
    network = Network.from_configs(
        [_site("guian", "H100"), _site("horinger", "A100")], START, 1
    ).with_layout(
        {
            ("guian", "H100"): ((8, 8), (8, 8)),
            ("horinger", "A100"): ((8, 8), (8, 8)),
        }
    )
    jobs = (
        _job("a", "H100", 4, 0.0),
        _job("b", "H100", 4, 0.0),
        _job("c", "A100", 2, 0.0),
        _job("d", "H100", 8, 0.25),
    )
    return network, Arrivals(jobs=jobs, training_copies=1, inference_scale=0.0)


def test_best_fit_keeps_a_whole_node_for_the_large_job() -> None:
    """Best fit puts b beside a, so d finds a whole node: 10 then 18 of 32 devices in use;
    c leaves 6 free A100 on a partly used node; nothing waits, so nothing stranded; the
    4 placements of the count-only plans all fit."""
    network, jobs = _two_sites()
    report = replay(network, jobs, trace="t", hours=0.5, solver=FAST, node_fit="best", nodes="x")
    assert report.nodes == "x" and report.node_fit == "best"
    assert set(report.policies) == set(POLICIES)
    for name, r in report.policies.items():
        assert r.unplaced == 0 and r.placed == 4 and r.waited == 0, name
        assert r.devices_in_use == pytest.approx((10 + 18) / 2 / 32), name
        assert r.fragmented == pytest.approx(6 / 32), name
        assert r.stranded == 0.0 and r.shape_waited == 0 and r.node_misses == 0, name
        assert (r.count_only_misfits, r.count_only_checked) == (0, 4), name


def test_worst_fit_strands_two_halves_and_makes_the_large_job_wait() -> None:
    """Worst fit puts a and b on a node each: 8 H100 are free, but 4 and 4, so d (8) waits
    for shape until they end at 1 h (offered at 0.25, 0.5 and 0.75 h, in the drain after
    0.5 h); those 8 are stranded in the window's step 2 (8 of 32 devices, half the
    window's steps); the count-only plan would have put d there each time and not fit.
    The optimizer plans on the nodes as they are, its running work held on them, so its
    plan misses no node either."""
    network, jobs = _two_sites()
    report = replay(network, jobs, trace="t", hours=0.5, solver=FAST, node_fit="worst")
    assert report.drain_steps == 5  # d waits to 1 h, then runs its 0.75 h
    for name, r in report.policies.items():
        assert r.unplaced == 3 and r.placed == 4 and r.waited == 1, name
        assert r.wait_p95_h == pytest.approx(0.85 * 0.75), name  # waits 0, 0, 0, 0.75 h
        assert r.devices_in_use == pytest.approx(10 / 32), name
        assert r.fragmented == pytest.approx((4 + 4 + 6) / 32), name
        assert r.stranded == pytest.approx(8 / 32 / 2), name
        assert (r.shape_waited, r.large_waited) == (1, 1), name  # d needs a whole node
        assert (r.count_only_misfits, r.count_only_checked) == (3, 7), name
        assert r.node_misses == 0, name


def test_without_nodes_the_replay_counts_devices_only() -> None:
    """No layout: d is placed (8 H100 free in devices), and no node figure is measured."""
    network, jobs = _two_sites()
    bare = Network.from_configs(list(network.configs), START, 1)
    report = replay(bare, jobs, trace="t", hours=0.5, solver=FAST, node_fit="worst")
    assert report.nodes == ""
    for r in report.policies.values():
        assert r.waited == 0 and r.fragmented == 0.0 and r.count_only_checked == 0


def test_a_layout_must_hold_the_free_devices() -> None:
    network, _ = _two_sites()
    with pytest.raises(ValueError, match="do not hold"):
        network.with_layout({("guian", "H100"): ((8, 8),)})


def test_the_multi_gpu_pod_list_takes_its_times_from_the_default_list(tmp_path: Path) -> None:
    """A pod of the default list keeps its row; an added pod (no times) gets a default GPU
    pod's creation time and the lifetime and QoS of a default pod with its request."""
    head = "name,cpu_milli,memory_mib,num_gpu,gpu_milli"
    (tmp_path / "openb_pod_list_default.csv").write_text(
        f"{head},gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
        "p0,1000,100,1,500,,BE,Running,100,200,100\n"
        "p1,8000,800,8,1000,,LS,Running,300,3900,300\n"
        "p2,1000,100,0,0,,BE,Running,50,60,50\n"
    )
    multi = tmp_path / "openb_pod_list_multigpu50.csv"
    multi.write_text(f"{head}\np0,1000,100,1,500\np1,8000,800,8,1000\np2,1000,100,0,0\n")
    multi.write_text(multi.read_text() + "p3,8000,800,8,1000\n")
    pods = read_pods(multi)
    assert [p["name"] for p in pods] == ["p0", "p1", "p3"]
    assert pods[0]["creation_time"] == "100" and pods[0]["qos"] == "BE"
    added = pods[2]
    assert added["qos"] == "LS"  # as p1, the only default pod with its request
    assert added["creation_time"] in ("100", "300")  # a default GPU pod's
    assert int(added["deletion_time"]) - int(added["creation_time"]) == 3600
    assert read_pods(multi) == pods  # seeded
