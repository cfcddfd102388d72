"""Pictures of a what-if report and of a replay (matplotlib PNGs).

Per scenario, against the baseline: cost and energy by site, utilisation by site, the
latency CDF, and the flows of moved work drawn between the sites at their coordinates
(longitude/latitude from the site labels: east at the right, as on a map of China).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from netrouter.client.whatif_report import Result, ScenarioResult, WhatIfReport

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
    for ax, key, label in (
        (cost_ax, "cost_yuan", "cost, CNY (remaining runs)"),
        (energy_ax, "energy_kwh", "energy, kWh"),
    ):
        _bars(
            ax, sites, _by_site(base, key, sites), _by_site(scen, key, sites), label, scenario.name
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


# -- trace replay ------------------------------------------------------------------------

POLICY_COLOURS = {
    "optimizer": "#d9534f",
    "nearest": "#5b8bd0",
    "cheapest-first": "#7f8c9b",
    "spread": "#e0a030",
}


def replay_figures(report: Any) -> dict[str, Figure]:
    """A replay report (:class:`netrouter.planning.replay_report.ReplayReport`) as figures:
    cost per step (the window's, then the drain's), totals against the optimizer, and
    utilisation by site."""
    names = list(report.policies)
    colour = [POLICY_COLOURS.get(n, "#444444") for n in names]
    figs: dict[str, Figure] = {}

    fig, ax = plt.subplots(figsize=(8, 4))
    step_h = report.period_min / 60.0
    for name, c in zip(names, colour, strict=True):
        series = report.policies[name].cost_per_step
        ax.step([i * step_h for i in range(len(series))], series, where="post", label=name, c=c)
    if report.drain_steps:
        ax.axvline(
            report.hours, color="black", lw=0.8, ls="--", label="end of window (drain after)"
        )
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
