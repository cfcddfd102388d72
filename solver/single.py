"""The exact placement of one workload, in time linear in the number of sites.

With every other workload fixed, placing one workload is a choice among its usable
(site, model) pools: the cheapest pool with room is optimal, and so is leaving it out when
every pool costs at least its penalty. No relaxation or search is needed, so the answer
carries ``bound == objective`` and status ``OPTIMAL``.

:class:`SiteArrays` turns the sites into arrays once (their prices integrated by a cumulative
sum, so a run of any length is priced by two lookups); :meth:`SiteArrays.place` then prices
one workload against the current free capacity. The cost terms are those of
:mod:`solver.table` (a test checks both agree with :func:`solver.solve`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import numpy as np

from solver.arrays import FloatArray
from solver.capacity import NodeShape
from solver.model import (
    HOURS_PER_DAY,
    SITE_REASON_KINDS,
    Alternative,
    Assignment,
    Plan,
    Problem,
    Unplaced,
    Workload,
    explanation,
    reason_detail,
    ruled_out,
    unoffered_reason,
)
from solver.table import DEFAULT_KW_PER_DEVICE, has_residency, unplaced_price

METHOD = "single"

_LATENCY, _PUE, _HUB_PUE, _RESIDENCY, _DOWN, _DRAINED = 1, 2, 3, 4, 5, 6
_KINDS = ("", "latency", "pue", "hub-pue", "residency", "down", "drained")
"""Site-level reason codes (0: none) and their names in :data:`solver.model.REASON_KINDS`."""


class SiteArrays:
    """The sites of a problem (its workloads are ignored) as arrays, for one-at-a-time placing.

    Build it again when the sites' prices, PUE, power or latency change; free capacity is
    passed to :meth:`place` on every call instead.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        sites = problem.sites
        self.site_ids = tuple(s.id for s in sites)
        self.index = {s.id: i for i, s in enumerate(sites)}
        self.models = tuple(sorted({m for s in sites for m in s.power_w}))
        self.model_index = {m: i for i, m in enumerate(self.models)}
        n_s, n_m = len(sites), len(self.models)
        self.pue = np.array([s.pue for s in sites], dtype=np.float64)
        self.carbon = np.array([s.carbon_kg_per_kwh for s in sites], dtype=np.float64)
        self.up = np.array([s.up for s in sites], dtype=bool)
        self.drained = np.array([s.drained for s in sites], dtype=bool)
        self.hub_ok = np.array([problem.hub_pue_ok(s) for s in sites], dtype=bool)
        self.power = np.full((n_s, n_m), np.nan)
        for si, s in enumerate(sites):
            for m, watts in s.power_w.items():
                self.power[si, self.model_index[m]] = watts
        prices = np.array([s.hourly_price for s in sites], dtype=np.float64).reshape(
            n_s, HOURS_PER_DAY
        )
        # cum[:, k] = ∫ price over hours [0, k) of a two-day window; a run from now never
        # needs more than one wrap after whole days are taken out.
        self._cum = np.concatenate(
            (np.zeros((n_s, 1)), np.cumsum(np.tile(prices, 2), axis=1)), axis=1
        )
        self._day = prices.sum(axis=1)
        self._start = self._at(problem.hour_elapsed)
        self._latency: dict[str, FloatArray] = {}
        self._transfer: dict[str, FloatArray] = {}
        self._min_kw = {
            m: float(np.nanmin(self.power[:, i])) / 1000
            for m, i in self.model_index.items()
            if np.any(~np.isnan(self.power[:, i]))
        }
        self.unplaced_price = unplaced_price(problem, self.pue, prices, self.carbon)

    def _at(self, hours: float) -> FloatArray:
        """∫ price over [0, hours) of the two-day window, per site (0 ≤ hours ≤ 48)."""
        k = min(int(hours), 2 * HOURS_PER_DAY - 1)
        frac = hours - k
        at: FloatArray = self._cum[:, k] + frac * (self._cum[:, k + 1] - self._cum[:, k])
        return at

    def _integral(self, duration_h: float) -> FloatArray:
        days = math.floor(duration_h / HOURS_PER_DAY)
        rest = duration_h - days * HOURS_PER_DAY
        end = self._at(self.problem.hour_elapsed + rest)
        integral: FloatArray = days * self._day + end - self._start
        return integral

    def _per_region(self, cache: dict[str, FloatArray], region: str, kind: str) -> FloatArray:
        row = cache.get(region)
        if row is None:
            if kind == "latency":
                values = [s.latency_ms.get(region, math.inf) for s in self.problem.sites]
            else:
                values = [s.transfer_yuan_per_gb.get(region, 0.0) for s in self.problem.sites]
            row = cache[region] = np.array(values, dtype=np.float64)
        return row

    def penalty(self, w: Workload) -> float:
        """What leaving ``w`` out costs: (1 + priority) × unplaced price × least IT energy."""
        own = None if w.power_w_per_device is None else w.power_w_per_device / 1000
        ref_kw = min(
            d * (own if own is not None else self._min_kw.get(m, DEFAULT_KW_PER_DEVICE))
            for m, d in w.demands.items()
        )
        return (1 + w.priority) * self.unplaced_price * ref_kw * w.duration_h

    def place(
        self,
        w: Workload,
        free: Mapping[tuple[str, str], int],
        *,
        shapes: Mapping[tuple[str, str], NodeShape] | None = None,
        max_alternatives: int | None = None,
    ) -> Plan:
        """The optimal plan for ``w`` alone, given the free devices per (site, model) and,
        where a site reports it, their shape on its nodes (``shapes``: the workload must fit
        on one node, or on whole free nodes when it needs more than a node).

        Every cheaper (site, model) it did not get is an alternative with its reason; with
        ``max_alternatives`` only the cheapest that many are kept (the explanation still
        counts them all).
        """
        started = time.perf_counter()
        n_s = len(self.site_ids)
        integral = self._integral(w.duration_h)
        latency = self._per_region(self._latency, w.origin_region, "latency")
        transfer_price = self._per_region(self._transfer, w.origin_region, "transfer")
        current = -1 if w.current_site is None else self.index.get(w.current_site, -2)
        penalty = self.penalty(w)
        # Site-level reasons in solver.table's order: a later check overrides an earlier one.
        reason = np.zeros(n_s, dtype=np.int8)
        if w.latency_slo_ms is not None:
            reason[w.latency_slo_ms < latency] = _LATENCY
        if w.max_pue is not None:
            reason[self.pue > w.max_pue] = _PUE
        reason[~self.hub_ok] = _HUB_PUE
        if has_residency(w):
            reason[[not w.admits(s) for s in self.problem.sites]] = _RESIDENCY
        reason[self.drained] = _DRAINED
        reason[~self.up] = _DOWN
        moving = current != -1
        # Every (site, model) the workload could use, cheapest first.
        costs, sites_of, models_of = [], [], []
        for model in w.demands:
            mi = self.model_index.get(model)
            if mi is None:
                continue
            have = np.flatnonzero(~np.isnan(self.power[:, mi]))
            costs.append(self._totals(w, mi, integral, transfer_price, current)[have])
            sites_of.append(have)
            models_of.append(np.full(have.shape[0], mi))
        chosen: tuple[float, int, str, int] | None = None
        skipped: list[Alternative] = []
        # (site, model, kind, room, shape) passed over
        causes: list[tuple[int, str, str, int, NodeShape | None]] = []
        more = 0
        if costs:
            cost_arr = np.concatenate(costs)
            site_arr = np.concatenate(sites_of)
            model_arr = np.concatenate(models_of)
            order = np.lexsort((model_arr, site_arr, cost_arr))
            for k in order.tolist():
                cost, si = float(cost_arr[k]), int(site_arr[k])
                model = self.models[int(model_arr[k])]
                d = w.demands[model]
                kind = _KINDS[reason[si]]
                room = free.get((self.site_ids[si], model), 0)
                shape = shapes.get((self.site_ids[si], model)) if shapes else None
                if not kind and room < d:
                    kind = "capacity"
                if not kind and shape is not None and not shape.fits(d, w.one_domain):
                    kind = "node-shape"
                if not kind and cost >= penalty:
                    kind = "not-worth-it"
                if not kind:
                    chosen = (cost, si, model, d)
                    break
                causes.append((si, model, kind, room, shape))
                if max_alternatives is None or len(skipped) < max_alternatives:
                    skipped.append(self._alternative(w, si, model, cost, kind, room, shape))
                else:
                    more += 1
        wall = time.perf_counter() - started
        if chosen is None:
            return self._plan(
                (),
                (
                    Unplaced(
                        workload_id=w.id,
                        reason=unoffered_reason(w, self.models) or self._unplaced(w, causes),
                        penalty_yuan=penalty,
                    ),
                ),
                penalty,
                wall,
            )
        cost, si, model, d = chosen
        mi = self.model_index[model]
        kw = (self.power[si, mi] if w.power_w_per_device is None else w.power_w_per_device) / 1000
        facility_kw = d * kw * float(self.pue[si])
        energy_kwh = facility_kw * w.duration_h
        carbon_kg = energy_kwh * float(self.carbon[si])
        site = self.problem.sites[si]
        alternatives = tuple(a for a in skipped if a.site_id != site.id)
        more += sum(1 for a in skipped if a.site_id == site.id)
        assignment = Assignment(
            workload_id=w.id,
            site_id=site.id,
            model=model,
            devices=d,
            energy_kwh=energy_kwh,
            energy_cost_yuan=facility_kw * float(integral[si]),
            transfer_cost_yuan=0.0 if si == current else w.data_gb * float(transfer_price[si]),
            migration_cost_yuan=w.migration_cost_yuan if moving and si != current else 0.0,
            carbon_cost_yuan=carbon_kg * self.problem.carbon_yuan_per_kg,
            cost_per_hour_yuan=cost / w.duration_h,
            carbon_kg=carbon_kg,
            latency_ms=site.latency_ms.get(w.origin_region),
            moved=w.current_site is not None and w.current_site != site.id,
            explanation=explanation(alternatives, more),
            alternatives=alternatives,
        )
        return self._plan((assignment,), (), cost, wall)

    def _totals(
        self,
        w: Workload,
        mi: int,
        integral: FloatArray,
        transfer_price: FloatArray,
        current: int,
    ) -> FloatArray:
        """Total cost of ``w`` on model ``mi`` at every site (NaN where the site has none)."""
        board = self.power[:, mi]
        kw = (board if w.power_w_per_device is None else w.power_w_per_device) / 1000
        facility_kw = w.demands[self.models[mi]] * kw * self.pue
        energy_kwh = facility_kw * w.duration_h
        staying = np.arange(len(self.site_ids)) == current
        total: FloatArray = (
            facility_kw * integral
            + energy_kwh * self.carbon * self.problem.carbon_yuan_per_kg
            + np.where(staying, 0.0, w.data_gb * transfer_price)
            + np.where((current != -1) & ~staying, w.migration_cost_yuan, 0.0)
        )
        return total

    def cost_at(self, w: Workload, site_id: str, model: str) -> float:
        """What ``w`` costs on ``model`` at ``site_id`` (capacity and constraints aside)."""
        si, mi = self.index[site_id], self.model_index[model]
        current = -1 if w.current_site is None else self.index.get(w.current_site, -2)
        totals = self._totals(
            w,
            mi,
            self._integral(w.duration_h),
            self._per_region(self._transfer, w.origin_region, "transfer"),
            current,
        )
        return float(totals[si])

    def _alternative(
        self,
        w: Workload,
        si: int,
        model: str,
        cost: float,
        kind: str,
        room: int,
        shape: NodeShape | None,
    ) -> Alternative:
        site = self.problem.sites[si]
        detail = reason_detail(self.problem, kind, site, w, model, room, shape)
        return Alternative(
            site_id=site.id, model=model, cost_yuan=cost, reason_kind=kind, reason=detail
        )

    def _unplaced(
        self, w: Workload, causes: list[tuple[int, str, str, int, NodeShape | None]]
    ) -> str:
        """Why ``w`` runs nowhere: what rules out each (site, model), cheapest first, then
        the sites that have none of a model it wants."""
        sites = self.problem.sites
        reasons = [
            (self.site_ids[si], reason_detail(self.problem, kind, sites[si], w, m, r, shape))
            for si, m, kind, r, shape in causes
        ]
        # A site out for every model is not also said to lack one.
        named = {self.site_ids[si] for si, _, kind, *_ in causes if kind in SITE_REASON_KINDS}
        for model in w.demands:
            mi = self.model_index.get(model)
            lacking = (
                np.arange(len(self.site_ids))
                if mi is None
                else np.flatnonzero(np.isnan(self.power[:, mi]))
            )
            reasons += [
                (self.site_ids[si], f"no {model}")
                for si in lacking.tolist()
                if self.site_ids[si] not in named
            ]
        return "no feasible site: " + ruled_out(reasons, limit=4)

    def _plan(
        self,
        assignments: tuple[Assignment, ...],
        unplaced: tuple[Unplaced, ...],
        objective: float,
        wall_s: float,
    ) -> Plan:
        return Plan(
            assignments=assignments,
            unplaced=unplaced,
            objective=objective,
            bound=objective,
            gap=0.0,
            status="OPTIMAL",
            wall_s=wall_s,
            method=METHOD,
        )
