"""Pictures of a what-if report (matplotlib PNGs) and a self-contained HTML page.

Per scenario, against the baseline: cost and energy by site, utilisation by site, the
latency CDF, and the flows of moved work drawn between the sites at their coordinates
(longitude/latitude from the site labels: east at the right, as on a map of China).
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from netrouter.client.whatif_report import Result, ScenarioResult, WhatIfReport, west_share

BASE, SCEN = "#7f8c9b", "#d9534f"


def _bars(
    ax: Any, sites: list[str], base: list[float], scen: list[float], label: str, name: str
) -> None:
    xs = range(len(sites))
    ax.bar([x - 0.2 for x in xs], base, width=0.4, color=BASE, label="baseline")
    ax.bar([x + 0.2 for x in xs], scen, width=0.4, color=SCEN, label=name)
    ax.set_xticks(list(xs), sites, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(label)
    ax.legend(fontsize=8)


def _by_site(result: Result, key: str, sites: list[str]) -> list[float]:
    rows = {r.site_id: r for r in result.sites}
    return [float(getattr(rows[s], key)) if s in rows else 0.0 for s in sites]


def figures(base: Result, scenario: ScenarioResult) -> dict[str, Figure]:
    """The four figures of one scenario, by file stem."""
    scen = scenario.result
    sites = sorted({r.site_id for r in base.sites} | {r.site_id for r in scen.sites})
    out: dict[str, Figure] = {}

    fig, (cost_ax, energy_ax) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    _bars(
        cost_ax,
        sites,
        _by_site(base, "cost_yuan", sites),
        _by_site(scen, "cost_yuan", sites),
        "cost, CNY (remaining runs)",
        scenario.name,
    )
    _bars(
        energy_ax,
        sites,
        _by_site(base, "energy_kwh", sites),
        _by_site(scen, "energy_kwh", sites),
        "energy, kWh",
        scenario.name,
    )
    fig.suptitle(f"Cost and energy by site: baseline vs {scenario.name}")
    out["cost_energy"] = fig

    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    _bars(
        ax,
        sites,
        [100 * u for u in _by_site(base, "utilisation", sites)],
        [100 * u for u in _by_site(scen, "utilisation", sites)],
        "devices used, % of free capacity",
        scenario.name,
    )
    ax.set_title(f"Utilisation by site: baseline vs {scenario.name}")
    out["utilisation"] = fig

    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for result, color, label in ((base, BASE, "baseline"), (scen, SCEN, scenario.name)):
        lat = result.latencies_ms
        if lat:
            ax.step(lat, [(i + 1) / len(lat) for i in range(len(lat))], where="post", color=color)
            ax.plot([], [], color=color, label=f"{label} ({len(lat)} workloads)")
    ax.set_xlabel("latency from the users' region, ms")
    ax.set_ylabel("share of placed work")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Latency CDF")
    out["latency_cdf"] = fig

    out["flows"] = _flow_map(base, scenario)
    return out


def _flow_map(base: Result, scenario: ScenarioResult) -> Figure:
    rows = {r.site_id: r for r in base.sites} | {r.site_id: r for r in scenario.result.sites}
    fig, ax = plt.subplots(figsize=(7, 5.5), layout="constrained")
    placed = {r.site_id: r for r in scenario.result.sites}
    for sid, r in rows.items():
        if not (r.latitude or r.longitude):
            continue
        color = "#2a7ab0" if r.side == "west" else "#c0392b"
        size = 40 + 2 * placed[sid].devices if sid in placed else 40
        marker = "o" if (sid in placed and placed[sid].up) else "x"
        ax.scatter(r.longitude, r.latitude, s=size, color=color, marker=marker, zorder=3)
        ax.annotate(sid, (r.longitude, r.latitude), textcoords="offset points", xytext=(5, 5))
    top = max((f.workloads for f in scenario.diff.flows), default=1)
    for f in scenario.diff.flows:
        a, b = rows.get(f.from_site), rows.get(f.to_site)
        if a is None or b is None or not (a.latitude and b.latitude):
            continue
        ax.annotate(
            "",
            xy=(b.longitude, b.latitude),
            xytext=(a.longitude, a.latitude),
            arrowprops={
                "arrowstyle": "->",
                "color": "#555",
                "lw": 0.8 + 4.0 * f.workloads / top,
                "connectionstyle": "arc3,rad=0.15",
            },
            zorder=2,
        )
    ax.set_xlabel("longitude °E")
    ax.set_ylabel("latitude °N")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    moved = scenario.diff.moved
    ax.set_title(
        f"{scenario.name}: {moved} workloads move (red: east, blue: west; x: down)", fontsize=10
    )
    return fig


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "scenario"


Images = list[dict[str, bytes]]
"""Per scenario (in report order), each figure's PNG by file stem."""


def render(report: WhatIfReport) -> Images:
    """Every scenario's figures as PNG bytes (drawn once for both files and the page)."""
    images: Images = []
    for scenario in report.scenarios:
        pngs = {}
        for stem, fig in figures(report.baseline, scenario).items():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110)
            plt.close(fig)
            pngs[stem] = buf.getvalue()
        images.append(pngs)
    return images


def write_plots(
    report: WhatIfReport, folder: str | Path, images: Images | None = None
) -> list[Path]:
    """Every scenario's figures as PNGs in ``folder`` (made if missing); the paths.
    ``images``: already rendered by :func:`render`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    rendered = render(report) if images is None else images
    for i, (scenario, pngs) in enumerate(zip(report.scenarios, rendered, strict=True), start=1):
        for stem, png in pngs.items():
            path = folder / f"{i:02d}-{_slug(scenario.name)}-{stem}.png"
            path.write_bytes(png)
            written.append(path)
    return written


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def summary_rows(report: WhatIfReport) -> tuple[list[str], list[list[str]]]:
    """The side-by-side totals: one column per state, one row per figure."""
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


def write_html(report: WhatIfReport, path: str | Path, images: Images | None = None) -> Path:
    """One self-contained page (tables and embedded PNGs) for the whole report.
    ``images``: already rendered by :func:`render`."""
    path = Path(path)
    rendered = render(report) if images is None else images
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>netrouter what-if</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:3px 8px;text-align:right}td:first-child{text-align:left}"
        "img{max-width:100%}</style></head><body>",
        "<h1>What-if report</h1>",
        f"<p>State at unix time {report.at:.0f}; {len(report.scenarios)} scenario(s).</p>",
    ]
    headers, rows = summary_rows(report)
    parts.append(_table(headers, rows))
    for scenario, pngs in zip(report.scenarios, rendered, strict=True):
        d = scenario.diff
        parts.append(f"<h2>{html.escape(scenario.name)}</h2>")
        if scenario.description:
            parts.append(f"<p>{html.escape(scenario.description)}</p>")
        parts.append(
            f"<p>{d.moved} workloads move; cost per day {d.cost_per_day_yuan:+,.2f} 元; "
            f"{d.unplaced:+d} unplaced; {d.added} added, {d.removed} removed.</p>"
        )
        flows = [[f.from_site or "(left out)", f.to_site or "(left out)", str(f.workloads)]
                 for f in d.flows]  # fmt: skip
        if flows:
            parts.append(_table(["from", "to", "workloads"], flows))
        moves = [[m.workload_id, m.from_site or "-", m.to_site or "-", m.reason]
                 for m in d.moves[:200]]  # fmt: skip
        if moves:
            parts.append(_table(["workload", "from", "to", "why"], moves))
            if len(d.moves) > 200:
                parts.append(f"<p>… and {len(d.moves) - 200} more moves.</p>")
        for stem, png in pngs.items():
            data = base64.b64encode(png).decode("ascii")
            parts.append(f"<img alt='{html.escape(stem)}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


# -- trace replay ------------------------------------------------------------------------

POLICY_COLOURS = {
    "optimizer": "#d9534f",
    "nearest": "#5b8bd0",
    "cheapest-first": "#7f8c9b",
    "spread": "#e0a030",
}


def replay_figures(report: Any) -> dict[str, Figure]:
    """A replay report (:class:`netrouter.planning.replay_report.ReplayReport`) as figures:
    cost per step, totals against the optimizer, and utilisation by site."""
    names = list(report.policies)
    colour = [POLICY_COLOURS.get(n, "#444444") for n in names]
    figs: dict[str, Figure] = {}

    fig, ax = plt.subplots(figsize=(8, 4))
    step_h = report.period_min / 60.0
    for name, c in zip(names, colour, strict=True):
        series = report.policies[name].cost_per_step
        ax.step([i * step_h for i in range(len(series))], series, where="post", label=name, c=c)
    ax.set_xlabel("hours into the replay")
    ax.set_ylabel("energy cost per step (CNY)")
    ax.set_title("Energy cost over the replay")
    ax.legend()
    fig.tight_layout()
    figs["cost-over-time"] = fig

    fig, ax = plt.subplots(figsize=(8, 4))
    keys = [
        ("cost", "cost"),
        ("energy_kwh", "energy"),
        ("carbon_kg", "carbon"),
        ("objective", "cost + penalties"),
    ]
    width = 0.8 / max(1, len(names))
    for k, (name, c) in enumerate(zip(names, colour, strict=True)):
        ref = report.policies.get("optimizer", report.policies[names[0]])
        vals = [
            getattr(report.policies[name], key) / getattr(ref, key) if getattr(ref, key) else 0.0
            for key, _ in keys
        ]
        ax.bar([i + k * width for i in range(len(keys))], vals, width, label=name, color=c)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))], [label for _, label in keys])
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_ylabel("relative to the optimizer")
    ax.set_title("Totals over the replay")
    ax.legend()
    fig.tight_layout()
    figs["totals"] = fig

    sites = sorted({s for r in report.policies.values() for s in r.utilisation})
    fig, ax = plt.subplots(figsize=(10, 4))
    for k, (name, c) in enumerate(zip(names, colour, strict=True)):
        util = [100 * report.policies[name].utilisation.get(s, 0.0) for s in sites]
        ax.bar([i + k * width for i in range(len(sites))], util, width, label=name, color=c)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(sites))], sites, rotation=30)
    ax.set_ylabel("mean utilisation of free devices (%)")
    ax.set_title("Utilisation by site")
    ax.legend()
    fig.tight_layout()
    figs["utilisation"] = fig
    return figs


def write_replay_plots(report: Any, folder: str | Path) -> list[Path]:
    """The replay's figures as PNGs in ``folder`` (made if missing); the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, fig in replay_figures(report).items():
        path = folder / f"replay-{stem}.png"
        fig.savefig(path, format="png", dpi=110)
        plt.close(fig)
        written.append(path)
    return written
