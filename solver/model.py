"""Plain, validated model types for the placement problem.

Everything here is data: sites with free capacity per accelerator model, workloads with
their alternative demands, and the plan a solve returns. No I/O, no globals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from solver.capacity import NodeShape
from solver.errors import InvalidProblemError

HOURS_PER_DAY = 24


MAX_PRIORITY = 1_000

PUE_CAP_TOLERANCE = 1e-9
"""A PUE within this of its limit counts as at the limit (see :func:`within_pue_cap`)."""


def _check_finite(
    name: str, value: float, *, low: float, high: float = math.inf, owner: str = ""
) -> None:
    if not math.isfinite(value) or value < low or value > high:
        raise InvalidProblemError(
            name, f"must be a finite number in [{low}, {high}], got {value}", owner=owner
        )


def _all_finite_from_zero(values: Iterable[float]) -> bool:
    """Whether every value is finite and >= 0 (the quick check before naming a bad one)."""
    return all(0.0 <= v < math.inf for v in values)  # NaN fails both comparisons


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """A data center as the solver sees it at one instant.

    ``hourly_price`` holds the energy price (元/kWh) for 24 consecutive hours starting with the
    current one; it repeats for longer runs. ``free`` is the number of devices of each model
    the solve may use; ``power_w`` the board power of each model there.

    Energy is priced at ``pue`` (the PUE now). The hub's PUE cap is a policy on the site's
    ``sustained_pue`` (a mean over days; ``None``: judged on ``pue``), with hysteresis: a site
    its owner counts as over its cap stays over until it is ``pue_cap_margin`` under it
    (see :meth:`Problem.hub_pue_ok`). A ``drained`` site takes no work (its operator is
    emptying it): running work there may stay only in a plan that leaves it out.

    ``shape`` gives, for the models whose site reports it, how the free devices sit on
    nodes (:class:`~solver.capacity.NodeShape`, its free devices equal to ``free``): work
    must then fit on one node, or on whole free nodes when it needs more than one holds.
    A model without a shape is counted in devices only.
    """

    id: str
    pue: float
    hourly_price: tuple[float, ...]
    carbon_kg_per_kwh: float
    latency_ms: Mapping[str, float]
    free: Mapping[str, int]
    power_w: Mapping[str, float]
    side: str = ""
    hub: str = ""
    province: str = ""
    up: bool = True
    transfer_yuan_per_gb: Mapping[str, float] = field(default_factory=dict)
    sustained_pue: float | None = None
    pue_cap_margin: float = 0.0
    drained: bool = False
    shape: Mapping[str, NodeShape] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            raise InvalidProblemError("id", "must not be empty", owner="site")
        owner = f"site {self.id!r}"
        _check_finite("pue", self.pue, low=1.0, owner=owner)
        if self.sustained_pue is not None:
            _check_finite("sustained_pue", self.sustained_pue, low=1.0, owner=owner)
        _check_finite("pue_cap_margin", self.pue_cap_margin, low=0.0, high=1.0, owner=owner)
        if len(self.hourly_price) != HOURS_PER_DAY:
            raise InvalidProblemError("hourly_price", f"needs {HOURS_PER_DAY} values", owner=owner)
        if not _all_finite_from_zero(self.hourly_price):
            for price in self.hourly_price:
                _check_finite("hourly_price", price, low=0.0, owner=owner)
        _check_finite("carbon_kg_per_kwh", self.carbon_kg_per_kwh, low=0.0, owner=owner)
        if not _all_finite_from_zero(self.latency_ms.values()):
            for region, rtt in self.latency_ms.items():
                _check_finite(f"latency_ms.{region}", rtt, low=0.0, owner=owner)
        for model, count in self.free.items():
            if count < 0:
                raise InvalidProblemError(f"free.{model}", "must be >= 0", owner=owner)
            if model not in self.power_w:
                raise InvalidProblemError(f"power_w.{model}", "missing", owner=owner)
        for model, watts in self.power_w.items():
            _check_finite(f"power_w.{model}", watts, low=0.0, owner=owner)
        for model, shape in self.shape.items():
            if shape.free != self.free.get(model, 0):
                raise InvalidProblemError(
                    f"shape.{model}",
                    f"holds {shape.free} free devices, free.{model} is {self.free.get(model, 0)}",
                    owner=owner,
                )
        if not _all_finite_from_zero(self.transfer_yuan_per_gb.values()):
            for region, price in self.transfer_yuan_per_gb.items():
                _check_finite(f"transfer_yuan_per_gb.{region}", price, low=0.0, owner=owner)

    @property
    def capped_pue(self) -> float:
        """The PUE the hub's cap is judged on: the sustained PUE, else the PUE now."""
        return self.pue if self.sustained_pue is None else self.sustained_pue


RESIDENCY_FIELDS = (
    "allowed_sites",
    "allowed_hubs",
    "allowed_provinces",
    "forbidden_sites",
    "forbidden_hubs",
    "forbidden_provinces",
)
"""The workload fields that say where its data may go (data residency)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """A unit of GPU work to place whole on one site.

    ``demands`` maps each accelerator model the workload can use to the device count it needs
    on that model (e.g. 8 H100 or 16 Ascend910B). ``power_w_per_device`` of ``None`` means the
    site's reported board power for the model. ``latency_slo_ms`` of ``None`` means no SLO.

    Data residency: a non-empty ``allowed_*`` set admits only the sites, hubs or provinces it
    names; ``forbidden_*`` excludes those it names. ``data_gb`` is moved from the origin region
    to a new site (priced by the site's ``transfer_yuan_per_gb``). ``current_site`` marks work
    already running there: staying costs no transfer, moving costs the transfer plus
    ``migration_cost_yuan``. ``one_domain``: work larger than a node needs its whole nodes
    in one fast-interconnect domain (NVLink or HCCS island) where a site knows its domains
    (:attr:`NodeShape.domains_by_whole`); elsewhere it takes whole nodes wherever they are.
    """

    id: str
    origin_region: str
    demands: Mapping[str, int]
    duration_h: float
    power_w_per_device: float | None = None
    latency_slo_ms: float | None = None
    max_pue: float | None = None
    priority: int = 0  # 0..MAX_PRIORITY; higher-priority work is placed first
    labels: Mapping[str, str] = field(default_factory=dict)
    allowed_sites: frozenset[str] = frozenset()
    allowed_hubs: frozenset[str] = frozenset()
    allowed_provinces: frozenset[str] = frozenset()
    forbidden_sites: frozenset[str] = frozenset()
    forbidden_hubs: frozenset[str] = frozenset()
    forbidden_provinces: frozenset[str] = frozenset()
    data_gb: float = 0.0
    current_site: str | None = None
    migration_cost_yuan: float = 0.0
    one_domain: bool = False
    earliest_start: float = 0.0
    """When it may start, seconds since the Unix epoch (0: now). The plan here is for work
    that starts now: the router queues work not yet due."""
    deadline: float = 0.0
    """By when it must be done, seconds since the Unix epoch (0: none)."""
    preemptible: bool = False
    restart_h: float = 0.0
    """Hours of work lost when it is stopped and restarted elsewhere (0: the caller's
    default)."""

    def __post_init__(self) -> None:
        if not self.id:
            raise InvalidProblemError("id", "must not be empty", owner="workload")
        owner = f"workload {self.id!r}"
        if not self.origin_region:
            raise InvalidProblemError("origin_region", "must not be empty", owner=owner)
        if not self.demands:
            raise InvalidProblemError("demands", "needs at least one model", owner=owner)
        for model, count in self.demands.items():
            if not model:
                raise InvalidProblemError("demands", "empty model name", owner=owner)
            if count < 1:
                raise InvalidProblemError(f"demands.{model}", "must be >= 1", owner=owner)
        _check_finite("duration_h", self.duration_h, low=1e-6, high=1e5, owner=owner)
        if self.power_w_per_device is not None:
            _check_finite(
                "power_w_per_device", self.power_w_per_device, low=1.0, high=10_000.0, owner=owner
            )
        if self.latency_slo_ms is not None:
            _check_finite("latency_slo_ms", self.latency_slo_ms, low=0.001, owner=owner)
        if self.max_pue is not None:
            _check_finite("max_pue", self.max_pue, low=1.0, owner=owner)
        if not 0 <= self.priority <= MAX_PRIORITY:
            raise InvalidProblemError("priority", f"must be in [0, {MAX_PRIORITY}]", owner=owner)
        _check_finite("data_gb", self.data_gb, low=0.0, high=1e9, owner=owner)
        _check_finite("migration_cost_yuan", self.migration_cost_yuan, low=0.0, owner=owner)
        _check_finite("earliest_start", self.earliest_start, low=0.0, owner=owner)
        _check_finite("deadline", self.deadline, low=0.0, owner=owner)
        _check_finite("restart_h", self.restart_h, low=0.0, high=1e5, owner=owner)
        if self.current_site == "":
            raise InvalidProblemError("current_site", "must not be empty", owner=owner)

    def admits(self, site: Site) -> bool:
        """Whether data residency lets this workload run on ``site``."""
        checks = (
            (self.allowed_sites, self.forbidden_sites, site.id),
            (self.allowed_hubs, self.forbidden_hubs, site.hub),
            (self.allowed_provinces, self.forbidden_provinces, site.province),
        )
        return all(
            (not allowed or key in allowed) and key not in forbidden
            for allowed, forbidden, key in checks
        )


def unoffered_reason(w: Workload, offered: Iterable[str]) -> str | None:
    """Why ``w`` runs nowhere when no site has any model it can use ("no site offers H800
    (the sites offer A100, H100)"); ``None`` when some site has one. ``offered``: every
    model some site has."""
    have = set(offered)
    if any(model in have for model in w.demands):
        return None
    wanted = sorted(w.demands)
    names = wanted[0] if len(wanted) == 1 else ", ".join(wanted[:-1]) + " or " + wanted[-1]
    listed = ", ".join(sorted(have)) if have else "no accelerators"
    return f"no site offers {names} (the sites offer {listed})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One placement batch: the sites as they are now and the workloads to place.

    ``hour_elapsed`` is the fraction (0–1) of the current hour already gone, so a run's energy
    is priced against the right stretch of each site's hourly tariff.

    The objective is the cost of the placed work (energy, transfer, migration and
    ``carbon_yuan_per_kg`` × CO2) plus a penalty for each workload left out:
    (1 + priority) × ``unplaced_yuan_per_kwh`` × the least IT energy it could run on. When
    ``unplaced_yuan_per_kwh`` is ``None`` it is twice the dearest facility cost per IT kWh of
    any site, so work is left out only when capacity is short (or moving it costs more than
    that), and per kWh higher-priority work displaces lower. ``hub_max_pue`` is the policy
    PUE cap of each hub: a site above its hub's cap takes no work (running work there
    included: it may stay only in a plan that leaves it out, see :meth:`hub_pue_ok`).

    ``running_held``: each running workload's devices are already counted as used at its
    ``current_site`` (out of the site's ``free`` and its ``shape``: the sites as they are,
    with the running work on its nodes). Staying there then takes no capacity; moving takes
    the capacity it needs at its new site, and the devices it leaves are free only for the
    next decision, not for this one. When false (the default), running work is placed like
    new work: the caller counts its devices back into ``free``.
    """

    sites: tuple[Site, ...]
    workloads: tuple[Workload, ...]
    hour_elapsed: float = 0.0
    carbon_yuan_per_kg: float = 0.0
    hub_max_pue: Mapping[str, float] = field(default_factory=dict)
    unplaced_yuan_per_kwh: float | None = None
    running_held: bool = False

    def __post_init__(self) -> None:
        _check_finite("hour_elapsed", self.hour_elapsed, low=0.0, high=1.0, owner="problem")
        _check_finite("carbon_yuan_per_kg", self.carbon_yuan_per_kg, low=0.0, owner="problem")
        for hub, cap in self.hub_max_pue.items():
            _check_finite(f"hub_max_pue.{hub}", cap, low=1.0, owner="problem")
        if self.unplaced_yuan_per_kwh is not None:
            _check_finite(
                "unplaced_yuan_per_kwh", self.unplaced_yuan_per_kwh, low=0.0, owner="problem"
            )
        _unique("site", [s.id for s in self.sites])
        _unique("workload", [w.id for w in self.workloads])

    def hub_pue_ok(self, site: Site) -> bool:
        """Whether ``site`` may take work under its hub's PUE cap: its sustained PUE is at
        most the cap, less its ``pue_cap_margin`` (the hysteresis of a site over its cap)."""
        cap = self.hub_max_pue.get(site.hub)
        return cap is None or within_pue_cap(site.capped_pue, cap, site.pue_cap_margin)

    def hub_pue_reason(self, site: Site) -> str:
        """Why the hub's cap keeps work off ``site`` (see :meth:`hub_pue_ok`)."""
        cap = self.hub_max_pue.get(site.hub, 0.0)
        pue = site.capped_pue
        what = f"PUE {pue:.2f}" if site.sustained_pue is None else f"sustained PUE {pue:.2f}"
        if within_pue_cap(pue, cap):
            return (
                f"{what} still over hub {site.hub}'s cap {cap:.2f} "
                f"until back to {cap - site.pue_cap_margin:.2f}"
            )
        return f"{what} above hub {site.hub}'s cap {cap:.2f}"


def within_pue_cap(pue: float, cap: float, margin: float = 0.0) -> bool:
    """Whether ``pue`` is at most ``cap`` − ``margin`` (to a hair, so a reading equal to
    the limit is under it whatever the rounding of the subtraction)."""
    return pue <= cap - margin + PUE_CAP_TOLERANCE


def _unique(kind: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise InvalidProblemError("id", f"duplicate id {item!r}", owner=kind)
        seen.add(item)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alternative:
    """A site (and accelerator model there) cheaper than what a workload got, and what kept
    the workload off it.

    ``reason_kind`` is one of :data:`REASON_KINDS`.
    """

    site_id: str
    model: str
    cost_yuan: float
    reason_kind: str
    reason: str


REASON_KINDS = (
    "down",
    "accelerator",
    "residency",
    "hub-pue",
    "pue",
    "latency",
    "capacity",
    "not-worth-it",
    "taken",
    "displaced-by-priority",
    "drained",
    "node-shape",
)
"""Why a workload is not on a site: the site is down; it has none of the workload's
accelerators; data residency; the hub's policy PUE cap; the workload's PUE cap; the latency
SLO; too few free devices before this batch; running there costs more than leaving the work
out; its free devices went to other work of this batch; they went to higher-priority
work of this batch; the site is drained (its operator is emptying it); or enough devices
are free but no node (or not enough whole nodes) holds the workload."""


SITE_REASON_KINDS = frozenset({"down", "drained", "residency", "hub-pue", "pue", "latency"})
"""The reasons that rule a site out for every model (the rest are one model's)."""


def reason_detail(
    problem: Problem,
    kind: str,
    site: Site,
    w: Workload,
    model: str,
    room: int,
    shape: NodeShape | None = None,
) -> str:
    """The words for why ``w`` is not on ``model`` at ``site`` for reason ``kind`` (one of
    :data:`REASON_KINDS`); ``room``: the devices of ``model`` free there (left, for
    ``taken`` and ``displaced-by-priority``); ``shape``: how they sit on nodes (default:
    the site's own)."""
    need = w.demands.get(model, 0)
    shape = shape or site.shape.get(model)
    match kind:
        case "latency":
            rtt = site.latency_ms.get(w.origin_region, math.inf)
            return f"latency {rtt:.1f} ms above SLO {w.latency_slo_ms or 0.0:.1f} ms"
        case "pue":
            return f"PUE {site.pue:.2f} above the workload's cap {w.max_pue or 0.0:.2f}"
        case "hub-pue":
            return problem.hub_pue_reason(site)
        case "capacity":
            return f"{room} {model} free, {need} needed"
        case "node-shape":
            if shape is None:
                return f"{room} {model} free"
            return shape.shortfall(need, model, w.one_domain)
        case "taken" | "displaced-by-priority":
            after = "cheaper-to-place" if kind == "taken" else "higher-priority"
            if shape is not None:
                nodes = shape.nodes_for(need)
                where = "one node" if need <= shape.node_size else f"{nodes} whole nodes"
                return f"no room for {need} {model} on {where} left after {after} work"
            return f"{room} {model} left after {after} work, {need} needed"
        case "accelerator":
            return f"no {model}"
        case "down":
            return "down"
        case "drained":
            return "drained: takes no new work"
        case "residency":
            return "excluded by data residency"
        case "not-worth-it":
            return "costs more than leaving the work out"
    raise ValueError(f"unknown reason kind {kind!r}")


def ruled_out(reasons: Iterable[tuple[str, str]], *, limit: int = 3, unlisted: int = 0) -> str:
    """``(site_id, reason)`` pairs, cheapest first, in words: each reason once with the sites
    it holds at, each site once per reason ("latency 15.0 ms above SLO 12.0 ms at guian;
    no H800 at wuhu, yrd"), at most ``limit`` reasons, then how many more (with
    ``unlisted`` (site, model) pairs not passed in)."""
    sites: dict[str, list[str]] = {}
    for site_id, reason in reasons:
        where = sites.setdefault(reason, [])
        if site_id not in where:
            where.append(site_id)
    shown = [f"{reason} at {', '.join(where)}" for reason, where in list(sites.items())[:limit]]
    rest = max(0, len(sites) - limit) + unlisted
    return "; ".join(shown) + (f" (+{rest} more)" if rest else "")


def explanation(alternatives: Sequence[Alternative], unlisted: int = 0) -> str:
    """Why a workload went where it did: the cheaper (site, model)s it did not get, each
    reason once (see :func:`ruled_out`)."""
    if not alternatives:
        return "cheapest site meeting every constraint"
    reasons = [(a.site_id, a.reason) for a in alternatives]
    return f"cheaper sites ruled out: {ruled_out(reasons, unlisted=unlisted)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """Where one workload runs and what it costs there (元 over the expected run)."""

    workload_id: str
    site_id: str
    model: str
    devices: int
    energy_kwh: float
    energy_cost_yuan: float
    transfer_cost_yuan: float = 0.0
    migration_cost_yuan: float = 0.0
    carbon_cost_yuan: float = 0.0
    cost_per_hour_yuan: float
    carbon_kg: float
    latency_ms: float | None
    moved: bool = False
    explanation: str = ""
    alternatives: tuple[Alternative, ...] = ()

    @property
    def cost_yuan(self) -> float:
        """Everything this placement costs: energy, transfer, migration and carbon."""
        return (
            self.energy_cost_yuan
            + self.transfer_cost_yuan
            + self.migration_cost_yuan
            + self.carbon_cost_yuan
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Unplaced:
    """A workload the plan leaves out, why, and what leaving it out costs."""

    workload_id: str
    reason: str
    penalty_yuan: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A solve's result with its quality certificate.

    ``objective`` = ``cost_yuan`` (everything the placed work costs) + ``penalty_yuan`` (the
    penalties of the work left out, see :class:`Problem`). ``bound`` is a proven lower bound
    on the objective of any plan; ``gap`` = (objective − bound) / objective. ``status`` is
    ``OPTIMAL`` when the gap is closed (to the solver's tolerance), else ``FEASIBLE``.
    """

    assignments: tuple[Assignment, ...]
    unplaced: tuple[Unplaced, ...]
    objective: float
    bound: float
    gap: float
    status: str
    wall_s: float
    method: str

    @property
    def cost_yuan(self) -> float:
        """What the placed work costs over its expected run."""
        return sum(a.cost_yuan for a in self.assignments)

    @property
    def penalty_yuan(self) -> float:
        """The penalties of the work left out."""
        return sum(u.penalty_yuan for u in self.unplaced)

    @property
    def energy_cost_yuan(self) -> float:
        """Total energy cost of the placed work over its expected run."""
        return sum(a.energy_cost_yuan for a in self.assignments)

    @property
    def cost_per_hour_yuan(self) -> float:
        """Sum of the placed workloads' average cost per hour."""
        return sum(a.cost_per_hour_yuan for a in self.assignments)

    @property
    def energy_kwh(self) -> float:
        """Total facility energy (IT × PUE) of the placed work."""
        return sum(a.energy_kwh for a in self.assignments)

    @property
    def carbon_kg(self) -> float:
        """Total CO2 of the placed work."""
        return sum(a.carbon_kg for a in self.assignments)
