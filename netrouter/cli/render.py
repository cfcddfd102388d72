"""Tables and text for the CLI's results (their JSON is in :mod:`.render_json`).

Printing lives only here and in the command modules; the types are imported for the
annotations only, so that ``netrouter --help`` does not load them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from netrouter.cli.demo import DemoReport
    from netrouter.client.types import (
        AcceleratorCapacity,
        DrainResult,
        Placement,
        PlacementEvent,
        PlaceResult,
        RebalanceResult,
        SiteView,
        SolveInfo,
        Unplaced,
    )
    from netrouter.client.whatif_report import Result, WhatIfReport
    from netrouter.planning.replay_report import ReplayReport


def _table(
    title: str,
    columns: Sequence[str],
    *,
    right: Collection[str] = (),
    fold: Collection[str] = (),
) -> Table:
    """A titled table of ``columns``, those in ``right`` right-aligned (figures), those in
    ``fold`` wrapped rather than cut (free text)."""
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(
            col,
            justify="right" if col in right else "left",
            overflow="fold" if col in fold else "ellipsis",
        )
    return table


def _solve_text(s: SolveInfo, *, objective: bool = False) -> str:
    """How a solve went: its method, status, (objective,) gap and time."""
    value = f"objective {s.objective:,.2f} 元, " if objective else ""
    return f"{s.method} {s.status}, {value}gap {s.gap:.4%}, {s.wall_s:.2f} s"


def sites_table(sites: Sequence[SiteView]) -> Table:
    table = _table(
        "Sites",
        (
            "site",
            "hub",
            "side",
            "up",
            "age s",
            "PUE (mean) / hub cap",
            "元/kWh now",
            "free / healthy (nodes)",
        ),
        right=("age s", "元/kWh now"),
        fold=("up", "free / healthy (nodes)"),
    )
    for s in sites:
        capacity = ", ".join(capacity_cell(a) for a in s.accelerators)
        table.add_row(
            s.site_id,
            f"{s.labels.hub_name or s.labels.hub}",
            s.labels.side,
            ("[green]up[/]" if s.up else f"[red]down[/] ({s.down_reason})")
            + (f" [yellow]drained[/]{_drain_why(s)}" if s.drained else "")
            + (f" [yellow]duplicate agent ({len(s.agents)})[/]" if len(s.agents) > 1 else "")
            + _work_flags(s),
            f"{s.report_age_s:.1f}",
            pue_cell(s),
            f"{s.price_now_yuan_per_kwh:.4f}",
            capacity,
        )
    return table


def _work_flags(s: SiteView) -> str:
    """Where the site shows our running work: placements it does not show and ids it runs
    that the router does not know (``2 placed, not running: 3f2a…, 9c1b…``)."""
    flags = ""
    for words, ids in (
        ("placed, not running", s.not_running),
        ("running, unknown to the router", s.unknown_running),
    ):
        if ids:
            shown = ", ".join(i[:12] for i in ids[:3]) + (" …" if len(ids) > 3 else "")
            flags += f"\n[yellow]{len(ids)} {words}: {shown}[/]"
    return flags


def capacity_cell(a: AcceleratorCapacity) -> str:
    """A model's free and healthy devices and, where the site reports it, how the free ones
    sit on nodes: ``H100 19/32 (2 whole of 8, 1×3)`` (two whole free 8-GPU nodes, one with
    3 free), and in interconnect domains where the site reports them."""
    from netrouter.contract.site_report import free_nodes_text

    text = f"{a.model} {a.free}/{a.healthy}"
    if not a.node_size:
        return text
    return f"{text} ({free_nodes_text(a.node_size, a.nodes_by_free, a.domains_by_whole)})"


def pue_cell(s: SiteView) -> str:
    """PUE now, the sustained mean the hub's cap judges, the cap, and a breach:
    ``1.28 (mean 1.27) / 1.25 over cap``."""
    text = f"{s.pue:.2f}"
    if s.pue_mean:
        text += f" (mean {s.pue_mean:.2f})"
    if s.labels.pue_cap:
        text += f" / {s.labels.pue_cap:.2f}"
    if s.over_pue_cap:
        text += "  [bold red]over cap[/]"
    return text


def placements_table(placements: Sequence[Placement], title: str = "Placements") -> Table:
    table = _table(
        title,
        ("placement", "workload", "site", "devices", "元/h", "kWh", "RTT ms", "state", "why"),
        right=("devices", "元/h", "kWh", "RTT ms"),
        fold=("why",),
    )
    for p in placements:
        table.add_row(
            p.placement_id[:12] or "-",
            p.workload.id,
            p.site_id,
            f"{p.devices} {p.accelerator_model}",
            f"{p.cost_per_hour_yuan:.2f}",
            f"{p.energy_kwh:.1f}",
            "-" if p.latency_ms is None else f"{p.latency_ms:.1f}",
            p.state,
            f"{p.end_reason} (was: {p.explanation})"
            if p.end_reason not in ("", p.state)
            else p.explanation,
        )
    return table


def event_line(e: PlacementEvent) -> str:
    """One placement event as one line: id, time, kind, workload, where, why."""
    from netrouter.client.types import QUEUED

    p = e.placement
    at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at))
    head = f"#{e.event_id} {at} {e.kind:<8} {p.placement_id[:12]} {p.workload.id}"
    if p.state == QUEUED:  # no site yet: what it needs, and why it waits
        was = f" (was @ {e.from_site_id})" if e.from_site_id else ""
        return f"{head} needs {_needs(p)}{was}  {e.reason or p.explanation}"
    where = f"{e.from_site_id} → {p.site_id}" if e.from_site_id else p.site_id
    why = f"  {e.reason}" if e.reason else ""
    return f"{head} {p.devices} {p.accelerator_model} @ {where}{why}"


def _needs(p: Placement) -> str:
    """The devices a workload needs, per model it can use: ``8 H100 or 16 Ascend910B``."""
    return " or ".join(f"{n} {m}" for m, n in p.workload.demands.items())


def unplaced_table(unplaced: Sequence[Unplaced]) -> Table:
    """The workloads a placement left out, each with the reason."""
    table = _table(
        "Unplaced", ("workload", "penalty 元", "reason"), right=("penalty 元",), fold=("reason",)
    )
    for u in unplaced:
        table.add_row(u.workload_id, f"{u.penalty_yuan:,.2f}", u.reason)
    return table


def place_summary(result: PlaceResult) -> str:
    head = "DRY RUN: nothing committed. " if result.dry_run else ""
    waits = f", {len(result.queued)} queued" if result.queued else ""
    return (
        f"{head}{len(result.placements)} placed{waits}, {len(result.unplaced)} unplaced; "
        f"{_solve_text(result.solve, objective=True)}"
    )


def queue_table(queued: Sequence[Placement], now: float, title: str = "Queue") -> Table:
    """Queued work in the order it starts, with how long each has waited and why."""
    table = _table(
        title,
        ("#", "placement", "workload", "priority", "needs", "waiting", "why"),
        right=("#", "priority", "waiting"),
        fold=("why",),
    )
    for i, p in enumerate(queued, 1):
        table.add_row(
            str(i),
            p.placement_id[:12],
            p.workload.id,
            str(p.workload.priority),
            _needs(p),
            _waited(now - p.submitted),
            p.explanation,
        )
    return table


def _waited(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7_200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3_600:.1f} h"


def moves_table(result: RebalanceResult) -> Table:
    title = "Moves" if result.committed else "Moves (proposed)"
    table = _table(
        title,
        ("placement", "workload", "from", "to", "saves 元", "why"),
        right=("saves 元",),
        fold=("why",),
    )
    for m in result.moves:
        table.add_row(
            m.placement_id[:12],
            m.placement.workload.id,
            m.from_site_id,
            m.to_site_id,
            f"{m.saving_yuan:.2f}",
            m.reason,
        )
    return table


def rebalance_summary(result: RebalanceResult) -> str:
    head = "" if result.committed else "DRY RUN: nothing moved (--commit to move). "
    n = len(result.moves)
    verb = "made" if result.committed else "proposed"
    rest = result.candidates - n
    left = (
        f" ({rest} more would save money but not more than the move costs plus the minimum, "
        "or exceed --max-moves, or find no room)"
        if rest > 0
        else ""
    )
    return (
        f"{head}{n} move{'' if n == 1 else 's'} {verb}, saving {result.saving_yuan:,.2f} 元"
        f"{left}; {_solve_text(result.solve)}"
    )


def print_demo(out: Console, report: DemoReport) -> None:
    """The demo's placement by site, its two policies side by side, and a summary line."""
    table = _table(
        "Placement by site (optimizer)",
        ("site", "side", "PUE", "元/kWh now", "GPUs used", "workloads", "元/h", "kWh"),
        right=("PUE", "元/kWh now", "workloads", "元/h", "kWh"),
    )
    for r in report.rows:
        gpus = ", ".join(f"{n} {m}" for m, n in sorted(r.devices.items())) or "-"
        table.add_row(
            r.site_id,
            r.side,
            f"{r.pue:.2f}",
            f"{r.price_now:.4f}",
            gpus,
            str(r.workloads),
            f"{r.cost_per_hour_yuan:,.2f}",
            f"{r.energy_kwh:,.0f}",
        )
    out.print(table)
    figures = ("placed", "unplaced", "energy cost 元", "元/h", "energy kWh", "CO2 kg", "west share")
    cmp = _table("Same batch, two policies", ("policy", *figures), right=figures)
    for name, t in (("netrouter optimizer", report.optimizer), ("nearest site", report.nearest)):
        cmp.add_row(
            name,
            str(t.placed),
            str(t.unplaced),
            f"{t.energy_cost_yuan:,.2f}",
            f"{t.cost_per_hour_yuan:,.2f}",
            f"{t.energy_kwh:,.0f}",
            f"{t.carbon_kg:,.0f}",
            f"{t.west_share:.0%}",
        )
    out.print(cmp)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.workloads.items()))
    out.print(
        f"Workloads: {kinds}. Optimizer saves {report.saving:.1%} of the nearest-site energy cost "
        f"(solve {report.solve_status}, gap {report.solve_gap:.4%}, {report.solve_wall_s:.2f} s); "
        f"demo took {report.elapsed_s:.1f} s."
    )


def print_replay(out: Console, report: ReplayReport) -> None:
    """A replay's header, its policies on the same arrivals, and the hindsight bound."""
    jobs = ", ".join(f"{n:,} {kind}" for kind, n in sorted(report.jobs.items()))
    out.print(
        f"[bold]Replay[/] of {report.trace} over {report.hours:g} h from {report.start} "
        f"({report.steps} steps of {report.period_min:g} min): {jobs}; batch pods ×"
        f"{report.training_copies}, inference tokens ×{report.inference_scale:.0f} (load "
        f"{report.load:g})",
        highlight=False,
    )
    figures = (
        "cost 元",
        "energy kWh",
        "carbon kg",
        "SLO viol.",
        "moves",
        "penalty 元",
        "cost+penalty",
        "vs optimizer",
        "gap to bound",
        "west energy",
    )
    table = _table("Policies on the same arrivals", ("policy", *figures), right=figures)
    for name, r in report.policies.items():
        ratio = report.ratios.get(name, {}).get("objective")
        table.add_row(
            name,
            f"{r.cost:,.0f}",
            f"{r.energy_kwh:,.0f}",
            f"{r.carbon_kg:,.0f}",
            f"{r.slo_violations:,}",
            f"{r.migrations:,}",
            f"{r.penalty:,.0f}",
            f"{r.objective:,.0f}",
            "-" if ratio is None else f"{ratio:.3f}×",
            f"{100 * r.gap_to_bound:.2f}%",
            f"{100 * r.west_energy_share:.0f}%",
        )
    out.print(table)
    _print_queue(out, report)
    if report.nodes:
        _print_nodes(out, report)
    gap = "" if report.gap is None else f"; the optimizer is within {100 * report.gap:.2f}% of it"
    out.print(
        f"Hindsight lower bound (each step's relaxation, window and drain, migrations free): "
        f"{report.hindsight_bound:,.0f} 元{gap}. {report.wall_s:.1f} s.",
        highlight=False,
    )


def _print_queue(out: Console, report: ReplayReport) -> None:
    """Each policy's queue: the jobs that waited, how long, those never run, those late,
    and how busy the sites were; then the waits and misses by deadline class."""
    drain = report.drain_steps * report.period_min / 60.0
    figures = (
        "waited",
        "evicted",
        "wait p50 h",
        "wait p95 h",
        "dropped",
        "deadline misses",
        "site use",
        "offers refused",
    )
    table = _table(
        f"The queue (drained {drain:g} h past the window, cap {report.max_drain_h:g} h; "
        f"optimizer queue by {report.optimizer_queue})",
        ("policy", *figures),
        right=figures,
    )
    for name, r in report.policies.items():
        use = sum(r.utilisation.values()) / len(r.utilisation) if r.utilisation else 0.0
        table.add_row(
            name,
            f"{r.waited:,}",
            f"{r.evicted:,}",
            f"{r.wait_p50_h:.2f}",
            f"{r.wait_p95_h:.2f}",
            f"{r.dropped:,}",
            f"{r.deadline_misses:,}",
            f"{100 * use:.0f}%",
            f"{r.unplaced:,}",
        )
    out.print(table)
    _print_classes(out, report)


def _slack_cell(hours: float | None) -> str:
    """A class's slack (``None``: no deadline, or a class without one)."""
    return "none" if hours is None else f"{hours:g}"


def _print_classes(out: Console, report: ReplayReport) -> None:
    """Each policy's waits and deadline misses by deadline class, with the class's slack."""
    figures = ("jobs", "slack h", "wait p50 h", "wait p95 h", "deadline misses")
    table = _table(
        "Waits by deadline class (deadline: arrival + run + slack)",
        ("policy", "class", *figures),
        right=figures,
    )
    for name, r in report.policies.items():
        for k, (cls, w) in enumerate(sorted(r.waits_by_class.items())):
            table.add_row(
                name if k == 0 else "",
                cls,
                f"{w.jobs:,}",
                _slack_cell(report.slack_h.get(cls)),
                f"{w.p50_h:.2f}",
                f"{w.p95_h:.2f}",
                f"{w.deadline_misses:,}",
                end_section=k == len(r.waits_by_class) - 1,
            )
    out.print(table)


def _print_nodes(out: Console, report: ReplayReport) -> None:
    """Each policy on the nodes: devices in use, in fragments, stranded, work that waited
    for shape, and the count-only plans checked against the nodes."""
    figures = (
        "devices in use",
        "fragmented",
        "stranded",
        "waited for shape",
        "of them large",
        "node misses",
        "count-only misfits",
    )
    table = _table(
        f"On the nodes ({report.nodes}; {report.node_fit} fit)", ("policy", *figures), right=figures
    )
    for name, r in report.policies.items():
        table.add_row(
            name,
            f"{100 * r.devices_in_use:.1f}%",
            f"{100 * r.fragmented:.2f}%",
            f"{100 * r.stranded:.2f}%",
            f"{r.shape_waited:,}",
            f"{r.large_waited:,}",
            f"{r.node_misses:,}",
            f"{r.count_only_misfits:,} of {r.count_only_checked:,}",
        )
    out.print(table)


def summary_rows(report: WhatIfReport) -> tuple[list[str], list[list[str]]]:
    """The side-by-side totals: one column per state, one row per figure."""
    from netrouter.client.whatif_report import west_share

    states = [("baseline", report.baseline)] + [(s.name, s.result) for s in report.scenarios]
    headers = ["", *(name for name, _ in states)]
    figures_: list[tuple[str, Callable[[Result], str]]] = [
        ("cost / hour, 元", lambda r: f"{r.cost_per_hour_yuan:,.2f}"),
        ("cost / day, 元", lambda r: f"{r.cost_per_day_yuan:,.2f}"),
        ("cost of remaining runs, 元", lambda r: f"{r.cost_yuan:,.2f}"),
        ("energy, kWh", lambda r: f"{r.energy_kwh:,.1f}"),
        ("energy / day, kWh", lambda r: f"{r.energy_per_day_kwh:,.1f}"),
        ("carbon, kg CO2", lambda r: f"{r.carbon_kg:,.1f}"),
        ("west share of devices", lambda r: f"{100 * west_share(r):.1f}%"),
        ("placed", lambda r: str(r.placed)),
        ("unplaced", lambda r: str(r.unplaced)),
        ("SLO violations where it runs", lambda r: str(r.slo_violations)),
        ("solve gap", lambda r: f"{100 * r.solve.gap:.3f}%"),
    ]
    rows = [[label, *(fmt(r) for _, r in states)] for label, fmt in figures_]
    return headers, rows


def print_whatif(out: Console, report: WhatIfReport, show_moves: int) -> None:
    """The side-by-side totals, then per scenario its changes, flows and first moves."""
    headers, rows = summary_rows(report)
    table = _table("Baseline and scenarios, side by side", headers, right=headers[1:])
    for row in rows:
        table.add_row(*row)
    out.print(table)
    for s in report.scenarios:
        d = s.diff
        title = f"{s.name}: {s.description}" if s.description else s.name
        out.print(
            f"[bold]{title}[/]: cost/day {d.cost_per_day_yuan:+,.2f} 元, "
            f"energy {d.energy_kwh:+,.1f} kWh, carbon {d.carbon_kg:+,.1f} kg, "
            f"west share {100 * d.west_share_delta:+.1f} pts, {d.moved} moved, "
            f"{d.unplaced:+d} unplaced, {d.added} added, {d.removed} removed",
            highlight=False,
        )
        if d.flows:
            flows = Table(show_header=True, box=None, padding=(0, 2))
            for col in ("from", "to", "workloads"):
                flows.add_column(col, justify="right" if col == "workloads" else "left")
            for f in d.flows:
                flows.add_row(
                    f.from_site or "(left out)", f.to_site or "(left out)", str(f.workloads)
                )
            out.print(flows)
        if d.moves and show_moves:
            moves = Table(show_header=True, box=None, padding=(0, 2))
            for col in ("workload", "from", "to", "why"):
                moves.add_column(col)
            for m in d.moves[:show_moves]:
                moves.add_row(m.workload_id, m.from_site or "-", m.to_site or "-", m.reason)
            out.print(moves)
            if len(d.moves) > show_moves:
                out.print(f"  … {len(d.moves) - show_moves} more (--show-moves, --json)")


def _utc(at: float) -> str:
    """Unix seconds as ``2026-12-07 21:30:00 UTC`` ("-" for 0: not set)."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else "-"


def print_placement(out: Console, p: Placement) -> None:
    """One placement: its table row, then its workload, costs, state, times and the
    cheaper sites it did not get."""
    out.print(placements_table([p], title=f"Placement {p.placement_id}"))
    w = p.workload
    demands = " or ".join(f"{n} {m}" for m, n in w.demands.items())
    rows = [
        ("state", p.state + (f" ({p.end_reason})" if p.end_reason not in ("", p.state) else "")),
        ("created", _utc(p.created_at)),
        ("updated", _utc(p.updated_at)),
        ("workload", f"{w.id} from {w.origin_region}: {demands}, {w.duration_h:g} h"),
        ("priority", str(w.priority)),
        ("latency SLO", "none" if w.latency_slo_ms is None else f"{w.latency_slo_ms:g} ms"),
        ("max PUE", "none" if w.max_pue is None else f"{w.max_pue:g}"),
        ("labels", ", ".join(f"{k}={v}" for k, v in sorted(w.labels.items())) or "none"),
        ("energy", f"{p.energy_kwh:,.1f} kWh, {p.energy_cost_yuan:,.2f} 元"),
        ("transfer", f"{p.transfer_cost_yuan:,.2f} 元"),
        ("migration", f"{p.migration_cost_yuan:,.2f} 元"),
        ("carbon", f"{p.carbon_kg:,.1f} kg, {p.carbon_cost_yuan:,.2f} 元"),
        ("total", f"{p.total_cost_yuan:,.2f} 元 ({p.cost_per_hour_yuan:,.2f} 元/h)"),
    ]
    details = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    details.add_column(style="bold")
    details.add_column(overflow="fold")
    for name, value in rows:
        details.add_row(name, value)
    out.print(details)
    if p.alternatives:
        table = _table(
            "Cheaper sites it did not get",
            ("site", "model", "cost 元", "why"),
            right=("cost 元",),
            fold=("why",),
        )
        for a in p.alternatives:
            table.add_row(a.site_id, a.model, f"{a.cost_yuan:,.2f}", a.reason)
        out.print(table)


def _drain_why(s: SiteView) -> str:
    """`` since 2026-12-07 21:30:00 UTC (maintenance)``: when a site was drained, and why."""
    return f" since {_utc(s.drained_at)}" + (f" ({s.drain_reason})" if s.drain_reason else "")


def print_drain(out: Console, result: DrainResult, *, moving: bool) -> None:
    """A drain: the work moved off the site, the work that stays, and a summary line."""
    site = result.site.site_id
    if result.moved:
        table = _table(
            f"Moved off {site}",
            ("placement", "workload", "to", "saves 元", "why"),
            right=("saves 元",),
            fold=("why",),
        )
        for m in result.moved:
            table.add_row(
                m.placement_id[:12],
                m.placement.workload.id,
                m.to_site_id,
                f"{m.saving_yuan:.2f}",
                m.reason,
            )
        out.print(table)
    if result.stayed:
        out.print(_stayed_table(result))
    held = sum(a.placed for a in result.site.accelerators)
    line = f"site {site} drained{_drain_why(result.site)}: it takes no new work"
    if moving:
        line += f"; {len(result.moved)} placements moved off it, {len(result.stayed)} stay"
    elif held:
        line += (
            f"; its running work ({held} devices) stays: 'sites drain {site} --move' "
            "or 'rebalance --commit' moves it"
        )
    out.print(line)


def _stayed_table(result: DrainResult) -> Table:
    table = _table(f"Staying on {result.site.site_id}", ("workload", "reason"), fold=("reason",))
    for u in result.stayed:
        table.add_row(u.workload_id, u.reason)
    return table
