"""The what-if plots: every scenario's figures drawn as real PNG files, named by scenario."""

from __future__ import annotations

from pathlib import Path

from netrouter.cli.plots import render, write_plots
from tests.helpers.factories import whatif_report

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_scenario_gets_its_figures_as_png_files(tmp_path: Path) -> None:
    first = whatif_report(moves=2, name="guian outage!")
    second = whatif_report(name="heat wave")
    report = first.model_copy(update={"scenarios": [*first.scenarios, *second.scenarios]})
    images = render(report)
    assert len(images) == 2
    stems = set(images[0])
    assert stems and set(images[1]) == stems
    assert "cost_energy" in stems
    folder = tmp_path / "made" / "here"
    written = write_plots(report, folder, images)
    assert len(written) == 2 * len(stems)
    names = sorted(p.name for p in written)
    assert names == sorted(
        [f"01-guian-outage-{s}.png" for s in stems] + [f"02-heat-wave-{s}.png" for s in stems]
    )
    for path in written:
        assert path.parent == folder
        data = path.read_bytes()
        assert data.startswith(PNG) and len(data) > 1_000
