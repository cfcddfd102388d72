"""A what-if report as one self-contained HTML page: its tables and embedded PNGs."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING

from netrouter.cli.render import summary_rows

if TYPE_CHECKING:
    from netrouter.cli.plots import Images
    from netrouter.client.whatif_report import WhatIfReport


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_html(report: WhatIfReport, path: str | Path, images: Images | None = None) -> Path:
    """One self-contained page (tables and embedded PNGs) for the whole report.
    ``images``: already rendered by :func:`.plots.render`."""
    path = Path(path)
    if images is None:
        from netrouter.cli.plots import render

        images = render(report)
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
    for scenario, pngs in zip(report.scenarios, images, strict=True):
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
