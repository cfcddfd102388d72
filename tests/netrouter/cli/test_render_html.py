"""The what-if report as one HTML page."""

from __future__ import annotations

from pathlib import Path

from netrouter.cli.render_html import write_html
from netrouter.client.whatif_report import Diff, Result, ScenarioResult, SolveRow, WhatIfReport


def _result() -> Result:
    return Result(
        cost_yuan=4.0,
        cost_per_hour_yuan=1.0,
        cost_per_day_yuan=24.0,
        energy_kwh=1.0,
        energy_per_day_kwh=6.0,
        carbon_kg=0.5,
        placed=1,
        unplaced=0,
        slo_violations=0,
        sides={},
        sites=[],
        latencies_ms=[],
        where={},
        unplaced_work=[],
        solve=SolveRow(
            objective=1.0, bound=1.0, gap=0.0, status="OPTIMAL", method="cp-sat", wall_s=0.1
        ),
    )


def test_page_escapes_names_and_embeds_each_image(tmp_path: Path) -> None:
    """A scenario's name is HTML-escaped and each given PNG is embedded once."""
    diff = Diff(
        cost_yuan=0.0,
        cost_per_hour_yuan=0.0,
        cost_per_day_yuan=0.0,
        energy_kwh=0.0,
        carbon_kg=0.0,
        placed=0,
        unplaced=0,
        slo_violations=0,
        west_share_delta=0.0,
        moved=0,
        moves=[],
        flows=[],
        added=0,
        removed=0,
    )
    scenario = ScenarioResult(name="<price> up", result=_result(), diff=diff)
    report = WhatIfReport(taken_at=0.0, at=0.0, baseline=_result(), scenarios=[scenario])
    page = write_html(report, tmp_path / "out" / "r.html", [{"flows": b"\x89PNG"}])
    text = page.read_text(encoding="utf-8")
    assert "<h2>&lt;price&gt; up</h2>" in text
    assert text.count("data:image/png;base64,") == 1
    assert "<th>baseline</th>" in text
