"""The trace replay's report: each policy's totals, the hindsight bound and the ratios to the
optimizer."""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel

from netrouter.planning.arrivals import Arrivals

RATIO_KEYS = ("cost", "energy_kwh", "carbon_kg", "objective")
"""The totals each policy is compared on, as ratios to the optimizer's."""


class ClassWaits(BaseModel):
    """One deadline class's jobs under one policy: how long they waited, how many ended
    late."""

    jobs: int = 0
    p50_h: float = 0.0
    """Median hours a job of the class waited in the queue."""
    p95_h: float = 0.0
    deadline_misses: int = 0


class PolicyResult(BaseModel):
    """One policy over the whole replay."""

    cost: float = 0.0
    """元 paid: energy plus migrations."""
    energy_cost: float = 0.0
    migration_cost: float = 0.0
    energy_kwh: float = 0.0
    carbon_kg: float = 0.0
    slo_violations: int = 0
    """Job-steps on a site whose RTT from the job's origin exceeds its SLO."""
    capacity_violations: int = 0
    """(site, model, step) where running work exceeds the free devices."""
    unplaced: int = 0
    """Offers refused: times a job was offered and not placed (at arrival, at each later
    step while it waits, after an eviction). A job that waits 3 steps counts 3."""
    evicted: int = 0
    """Running jobs the policy took off their devices (they wait, then rerun in full)."""
    placed: int = 0
    """Runs started (a job evicted and restarted counts twice): placed − evicted + dropped
    is the number of jobs."""
    waited: int = 0
    """Jobs that waited in the queue at least one step."""
    wait_p50_h: float = 0.0
    """Median over all jobs of the hours each waited in the queue (arrival to start for a
    job that was not evicted; to the cap for one dropped)."""
    wait_p95_h: float = 0.0
    """95th percentile of the same."""
    dropped: int = 0
    """Jobs still waiting when the drain stopped at its cap (they never ran in full)."""
    deadline_misses: int = 0
    """Jobs whose run ended after their deadline (a late job still runs in full), and
    jobs with a deadline that were dropped (they never ended)."""
    waits_by_class: dict[str, ClassWaits] = {}
    """Waits and misses by deadline class (the pods' QoS class, ``inference``)."""
    migrations: int = 0
    penalty: float = 0.0
    """Each waiting job's unplaced penalty for every step it waits."""
    objective: float = 0.0
    """cost + penalty: what the hindsight bound bounds."""
    gap_to_bound: float = 0.0
    west_energy_share: float = 0.0
    utilisation: dict[str, float] = {}
    """Mean share of each site's free devices in use over the window's steps."""
    cost_per_step: list[float] = []
    """Energy cost of each step, the window's then the drain's."""
    decide_s: float = 0.0
    devices_in_use: float = 0.0
    """Mean share of all the replay's devices in use (after each step's decisions), over
    the window's steps (as are the next two)."""
    fragmented: float = 0.0
    """Mean share of all the replay's devices free on partly used nodes."""
    stranded: float = 0.0
    """Mean share of all the replay's devices free on partly used nodes with fewer free
    than the smallest device count (for that model) of any job waiting in the step."""
    shape_waited: int = 0
    """Jobs that waited while, at one of the steps they waited, a site within their SLO
    had their devices free but on no node (or not on enough whole nodes) that holds them."""
    large_waited: int = 0
    """Of those, the jobs needing whole nodes (at least a node's devices) that waited for
    them: the site had their device count free, not on enough whole free nodes."""
    node_misses: int = 0
    """Placements of the policy's own plan the nodes could not take (they wait)."""
    count_only_checked: int = 0
    """Placements of the count-only plans (the same decisions without node shapes) laid on
    the nodes as they were."""
    count_only_misfits: int = 0
    """Of those, the ones no node could take."""


class ReplayReport(BaseModel):
    """A whole replay: its settings, the arrivals, every policy and the hindsight bound."""

    trace: str
    hours: float
    period_min: float
    seed: int
    start: str
    load: float
    training_copies: int
    inference_scale: float
    jobs: dict[str, int]
    steps: int
    """Steps of the window (the jobs arrive in it)."""
    drain_steps: int = 0
    """Steps after the window until every job had finished in every policy (or the cap)."""
    max_drain_h: float = 0.0
    """The drain's cap: jobs still waiting then are dropped, runs are cut there."""
    nodes: str = ""
    """How the sites' devices sit on nodes ("": counted in devices, no shape)."""
    node_fit: str = "best"
    slack_h: dict[str, float | None] = {}
    """Hours of slack each deadline class had beyond its run (``None``: no deadline)."""
    optimizer_queue: str = "deadline"
    """How the optimizer offered its queue: ``deadline`` (earliest deadline first, work
    about to miss its deadline weighted up) or ``fifo`` (as the baselines)."""
    policies: dict[str, PolicyResult]
    hindsight_bound: float
    """Each step's relaxation over the jobs the trace has running in it, summed over the
    window and the drain: at most any policy's objective."""
    gap: float | None
    """(optimizer objective − bound) / optimizer objective."""
    ratios: dict[str, dict[str, float]]
    """Each policy's cost, energy, carbon and objective over the optimizer's."""
    bound_s: float
    wall_s: float


def job_kinds(arrivals: Arrivals) -> dict[str, int]:
    """How many jobs of each ``kind`` label the replay ran."""
    kinds: dict[str, int] = defaultdict(int)
    for j in arrivals.jobs:
        kinds[j.workload.labels.get("kind", "other")] += 1
    return dict(kinds)


def ratios_to(
    reference: PolicyResult | None, policies: dict[str, PolicyResult]
) -> dict[str, dict[str, float]]:
    """Each policy's :data:`RATIO_KEYS` over the reference's (none without a reference)."""
    if reference is None:
        return {}
    return {
        name: {
            key: (getattr(r, key) / getattr(reference, key)) if getattr(reference, key) else 0.0
            for key in RATIO_KEYS
        }
        for name, r in policies.items()
    }
