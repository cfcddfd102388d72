"""Turn a :class:`Problem` into plain cost tables, pruning infeasible pairs with reasons.

For workload ``w`` on site ``s`` with accelerator model ``m``:

    energy_kwh  = devices[w, m] × kW[w, s, m] × duration[w] × PUE[s]
    energy_cost = devices[w, m] × kW[w, s, m] × PUE[s] × ∫ price[s](t) dt over the run

where the price integral walks the site's 24-hour tariff from the current moment.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from solver.model import HOURS_PER_DAY, Problem, Site, Workload


def price_integral(hourly: tuple[float, ...], start_h: float, length_h: float) -> float:
    """∫ price dt (元/kWh × h) over ``length_h`` hours from ``start_h`` into the schedule."""
    full_days = math.floor(length_h / HOURS_PER_DAY)
    total = full_days * sum(hourly)
    t = start_h
    remaining = length_h - full_days * HOURS_PER_DAY
    while remaining > 1e-12:
        hour = math.floor(t)
        step = min(hour + 1 - t, remaining)
        total += hourly[hour % HOURS_PER_DAY] * step
        t += step
        remaining -= step
    return total


@dataclass(frozen=True, slots=True, kw_only=True)
class PairCost:
    """The cost of running one workload on one accelerator pool of one site."""

    workload_index: int
    site_index: int
    model: str
    devices: int
    energy_kwh: float
    energy_cost_yuan: float
    cost_per_hour_yuan: float
    carbon_kg: float
    latency_ms: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteOption:
    """A workload's cheapest way to run on a site, and why it cannot, if it cannot."""

    site_index: int
    cheapest: PairCost | None
    reason: str | None
    reason_kind: str | None = None  # "accelerator", "pue", "latency" or "capacity"


@dataclass(frozen=True, slots=True, kw_only=True)
class CostTable:
    """Feasible pairs and, for every workload, each site's option with its reason."""

    problem: Problem
    pairs: tuple[PairCost, ...]
    options: tuple[tuple[SiteOption, ...], ...]
    weights: tuple[int, ...]

    def pairs_of(self, workload_index: int) -> list[PairCost]:
        """The feasible pairs of one workload."""
        return [p for p in self.pairs if p.workload_index == workload_index]


def _pair_cost(w: Workload, wi: int, s: Site, si: int, model: str, hour_elapsed: float) -> PairCost:
    devices = w.demands[model]
    watts = w.power_w_per_device if w.power_w_per_device is not None else s.power_w[model]
    facility_kw = devices * watts / 1000.0 * s.pue
    energy_kwh = facility_kw * w.duration_h
    energy_cost = facility_kw * price_integral(s.hourly_price, hour_elapsed, w.duration_h)
    return PairCost(
        workload_index=wi,
        site_index=si,
        model=model,
        devices=devices,
        energy_kwh=energy_kwh,
        energy_cost_yuan=energy_cost,
        cost_per_hour_yuan=energy_cost / w.duration_h,
        carbon_kg=energy_kwh * s.carbon_kg_per_kwh,
        latency_ms=s.latency_ms.get(w.origin_region),
    )


def _infeasibility(w: Workload, s: Site, models: list[str]) -> tuple[str, str] | None:
    """Why ``w`` cannot run on ``s`` at all (ignoring other workloads of the batch)."""
    if not models:
        return "accelerator", f"no {'/'.join(sorted(w.demands))} accelerators"
    if w.max_pue is not None and s.pue > w.max_pue:
        return "pue", f"PUE {s.pue:.2f} above the workload's cap {w.max_pue:.2f}"
    if w.latency_slo_ms is not None:
        rtt = s.latency_ms.get(w.origin_region)
        if rtt is None:
            return "latency", f"no latency known from region {w.origin_region}"
        if rtt > w.latency_slo_ms:
            return "latency", f"latency {rtt:.1f} ms above SLO {w.latency_slo_ms:.1f} ms"
    if all(s.free.get(m, 0) < w.demands[m] for m in models):
        return "capacity", "capacity: " + ", ".join(
            f"{s.free.get(m, 0)} {m} free of {w.demands[m]} needed" for m in models
        )
    return None


def build_cost_table(problem: Problem) -> CostTable:
    """Price every (workload, site, model) pair and keep only the feasible ones."""
    pairs: list[PairCost] = []
    options: list[tuple[SiteOption, ...]] = []
    for wi, w in enumerate(problem.workloads):
        per_site: list[SiteOption] = []
        for si, s in enumerate(problem.sites):
            models = [m for m in w.demands if m in s.power_w]
            priced = [_pair_cost(w, wi, s, si, m, problem.hour_elapsed) for m in models]
            cheapest = min(priced, key=lambda p: p.energy_cost_yuan, default=None)
            why = _infeasibility(w, s, models)
            if why is None:
                pairs.extend(p for p in priced if s.free.get(p.model, 0) >= p.devices)
            per_site.append(
                SiteOption(
                    site_index=si,
                    cheapest=cheapest,
                    reason=why[1] if why else None,
                    reason_kind=why[0] if why else None,
                )
            )
        options.append(tuple(per_site))
    weights = tuple(1 + w.priority for w in problem.workloads)
    return CostTable(problem=problem, pairs=tuple(pairs), options=tuple(options), weights=weights)


def explain_assignment(table: CostTable, pair: PairCost) -> str:
    """Why this site: the cheaper sites the workload did not get, and what stopped each."""
    cheaper = [
        o
        for o in table.options[pair.workload_index]
        if o.cheapest is not None
        and o.site_index != pair.site_index
        and o.cheapest.energy_cost_yuan < pair.energy_cost_yuan - 1e-9
    ]
    if not cheaper:
        return "cheapest site meeting every constraint"
    cheaper.sort(key=lambda o: o.cheapest.energy_cost_yuan if o.cheapest else 0.0)
    sites = table.problem.sites
    parts = [
        f"{sites[o.site_index].id}: {o.reason or 'capacity taken by other work in this batch'}"
        for o in cheaper[:3]
    ]
    more = f" (+{len(cheaper) - 3} more)" if len(cheaper) > 3 else ""
    return "cheaper sites ruled out — " + "; ".join(parts) + more


def explain_unplaced(table: CostTable, workload_index: int) -> str:
    """Why a workload was left out of the plan."""
    if not table.problem.sites:
        return "no site is up"
    opts = table.options[workload_index]
    if any(o.reason is None for o in opts):
        return "capacity taken by higher-priority or cheaper-to-place work in this batch"
    kinds = Counter(o.reason_kind for o in opts)
    summary = ", ".join(f"{kind} at {n} site(s)" for kind, n in kinds.most_common())
    return f"no feasible site: {summary}; e.g. {table.problem.sites[0].id}: {opts[0].reason}"
