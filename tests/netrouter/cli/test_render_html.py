"""The what-if report as one HTML page."""

from __future__ import annotations

from pathlib import Path

from netrouter.cli.render_html import write_html
from tests.helpers.factories import whatif_report


def test_page_escapes_names_and_embeds_each_image(tmp_path: Path) -> None:
    """A scenario's name is HTML-escaped and each given PNG is embedded once."""
    report = whatif_report(name="<price> up")
    page = write_html(report, tmp_path / "out" / "r.html", [{"flows": b"\x89PNG"}])
    text = page.read_text(encoding="utf-8")
    assert "<h2>&lt;price&gt; up</h2>" in text
    assert text.count("data:image/png;base64,") == 1
    assert "<th>baseline</th>" in text
