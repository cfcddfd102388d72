"""Tables and JSON for the CLI (printing lives only here and in the CLI)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from netrouter.client.types import Placement, PlaceResult, RebalanceResult, SiteView


def to_jsonable(value: Any) -> Any:
    """Dataclasses (nested) to plain dicts/lists for ``json.dumps``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(to_jsonable(v) for v in value)
    return value


def print_json(console: Console, value: Any) -> None:
    """Machine-readable output: one JSON document on stdout."""
    console.print_json(json.dumps(to_jsonable(value), ensure_ascii=False))


def sites_table(sites: Sequence[SiteView]) -> Table:
    table = Table(title="Sites", title_justify="left")
    for col, kw in (
        ("site", {}),
        ("hub", {}),
        ("side", {}),
        ("up", {}),
        ("age s", {"justify": "right"}),
        ("PUE (mean) / hub cap", {}),
        ("元/kWh now", {"justify": "right"}),
        ("free / healthy by model", {}),
    ):
        table.add_column(col, **kw)  # type: ignore[arg-type]
    for s in sites:
        capacity = ", ".join(f"{a.model} {a.free}/{a.healthy}" for a in s.accelerators)
        table.add_row(
            s.site_id,
            f"{s.labels.hub_name or s.labels.hub}",
            s.labels.side,
            ("[green]up[/]" if s.up else f"[red]down[/] ({s.down_reason})")
            + (f" [yellow]duplicate agent ({len(s.agents)})[/]" if len(s.agents) > 1 else ""),
            f"{s.report_age_s:.1f}",
            pue_cell(s),
            f"{s.price_now_yuan_per_kwh:.4f}",
            capacity,
        )
    return table


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
    table = Table(title=title, title_justify="left")
    for col, kw in (
        ("placement", {}),
        ("workload", {}),
        ("site", {}),
        ("devices", {"justify": "right"}),
        ("元/h", {"justify": "right"}),
        ("kWh", {"justify": "right"}),
        ("RTT ms", {"justify": "right"}),
        ("state", {}),
        ("why", {"overflow": "fold"}),
    ):
        table.add_column(col, **kw)  # type: ignore[arg-type]
    for p in placements:
        table.add_row(
            p.placement_id[:12],
            p.workload.id,
            p.site_id,
            f"{p.devices} {p.accelerator_model}",
            f"{p.cost_per_hour_yuan:.2f}",
            f"{p.energy_kwh:.1f}",
            "-" if p.latency_ms is None else f"{p.latency_ms:.1f}",
            p.state,
            p.explanation,
        )
    return table


def place_summary(result: PlaceResult) -> str:
    s = result.solve
    head = "DRY RUN: nothing committed. " if result.dry_run else ""
    return (
        f"{head}{len(result.placements)} placed, {len(result.unplaced)} unplaced; "
        f"{s.method} {s.status}, objective {s.objective:,.2f} 元, gap {s.gap:.4%}, {s.wall_s:.2f} s"
    )


def moves_table(result: RebalanceResult) -> Table:
    title = "Moves" if result.committed else "Moves (proposed)"
    table = Table(title=title, title_justify="left")
    for col, kw in (
        ("placement", {}),
        ("workload", {}),
        ("from", {}),
        ("to", {}),
        ("saves 元", {"justify": "right"}),
        ("why", {"overflow": "fold"}),
    ):
        table.add_column(col, **kw)  # type: ignore[arg-type]
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
    s = result.solve
    head = "" if result.committed else "DRY RUN: nothing moved (--commit to move). "
    return (
        f"{head}{len(result.moves)} moves of {result.candidates} proposed, saving "
        f"{result.saving_yuan:,.2f} 元; {s.method} {s.status}, gap {s.gap:.4%}, {s.wall_s:.2f} s"
    )
