"""The docs stand on their own: every scenario they show, and every example scenario, applies
to the 10 national clusters; the files and folders they name exist in a clone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netrouter.client.scenario import apply, load_scenario, parse_scenario
from netrouter.client.world import World
from site_agents.config import load_site_configs
from tests.helpers.factories import report_of

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("examples/**/*.md")])


def _national_world() -> World:
    reports = {r.site_id: r for r in map(report_of, load_site_configs(ROOT / "examples/sites"))}
    return World(
        at=max(r.timestamp for r in reports.values()),
        reports=reports,
        up=set(reports),
        links=[],
        workloads=[],
    )


def _blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


SCENARIO_BLOCKS = [
    pytest.param(text, fmt, id=f"{fmt}-{i}")
    for fmt in ("toml", "yaml")
    for i, text in enumerate(_blocks(ROOT / "docs" / "scenarios.md", fmt))
    if "changes" in text
]


def test_the_scenario_docs_show_every_kind() -> None:
    from netrouter.client.changes import KINDS

    text = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert all(f"`{kind}`" in text for kind in KINDS)
    assert len(SCENARIO_BLOCKS) >= 10


@pytest.mark.parametrize(("text", "fmt"), SCENARIO_BLOCKS)
def test_every_scenario_in_the_docs_applies_to_the_national_clusters(text: str, fmt: str) -> None:
    scenario = parse_scenario(text, source="docs/scenarios.md", fmt=fmt)
    assert scenario.changes
    apply(scenario, _national_world())


@pytest.mark.parametrize(
    "path", sorted((ROOT / "examples" / "scenarios").iterdir()), ids=lambda p: p.name
)
def test_every_example_scenario_applies_to_the_national_clusters(path: Path) -> None:
    apply(load_scenario(path), _national_world())


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_paths_the_docs_name_exist(doc: Path) -> None:
    """Every `examples/...`, `docs/...`, `data/...` or `tests/...` path named exists, and no
    document leans on one the project does not have."""
    text = doc.read_text(encoding="utf-8")
    assert "DESIGN.md" not in text and "../shared" not in text
    base = ROOT if doc.parent in (ROOT, ROOT / "docs") else doc.parent
    for name in re.findall(r"`((?:examples|docs|tests|netrouter|site_agents)/[^`\s*]+)`", text):
        if name.startswith("netrouter/v1/sites"):
            continue  # an MQTT topic
        assert (ROOT / name.rstrip("/")).exists() or (base / name).exists(), f"{doc}: {name}"
