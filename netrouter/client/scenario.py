"""What-if scenarios: a named list of changes to the state of the network.

A scenario file is TOML (or YAML with the same keys); examples are in examples/scenarios/::

    name = "guizhou-outage"                 # default: the file name
    description = "Gui'an loses power for the evening peak"

    [[changes]]
    kind = "site_down"
    sites = ["guian"]

    [[changes]]
    kind = "price"                          # sites, hubs, provinces, sides pick the sites;
    provinces = ["Guangdong"]               # none of them: every site
    multiplier = 1.3                        # or tariff = [24 prices by local clock hour]

Every change kind and its keys are in docs/scenarios.md; each kind is one model in
:mod:`netrouter.client.changes`, with its own ``apply``. Parsing checks every key and value
and names the key and line of the first bad one; applying checks the names (sites, hubs,
models) against the state and names the change.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from netrouter.client.changes import Change, NewWorkloads
from netrouter.client.errors import InvalidArgumentError
from netrouter.client.selectors import StrictModel
from netrouter.client.workload_file import WorkloadEntry, workload_to_dict
from netrouter.client.world import ScenarioError, World
from netrouter.contract.configfile import ConfigFileError, load_file, parse_text

MAX_CHANGES = 1_000
"""The most changes one scenario may make."""


class Scenario(StrictModel):
    """A named set of changes, applied in order."""

    name: str = ""
    description: str = ""
    changes: list[Change] = Field(default_factory=list, max_length=MAX_CHANGES)


def load_scenario(path: str | Path) -> Scenario:
    """Read a TOML (or .yaml/.yml) scenario file; relative workload files are resolved
    against its folder. Raises :class:`ConfigFileError` naming the key and line."""
    path = Path(path)
    scenario = load_file(path, Scenario)
    return _finish(scenario, path.stem, path.parent)


def parse_scenario(
    text: str, *, source: str = "<scenario>", fmt: str | None = None, allow_files: bool = True
) -> Scenario:
    """A scenario from text: TOML, YAML, or (``fmt`` None) TOML unless it is a JSON object.
    Workload files are resolved from the current folder; ``allow_files=False`` (requests
    from the network) refuses them."""
    if fmt is None:
        fmt = "yaml" if text.lstrip().startswith("{") else "toml"  # JSON is YAML
    scenario = _finish(parse_text(text, Scenario, source=source, fmt=fmt), "scenario", None)
    if not allow_files:
        for i, c in enumerate(scenario.changes):
            if isinstance(c, NewWorkloads) and c.file is not None:
                raise ConfigFileError(
                    source, f"changes[{i}].file", None, "not allowed here: give workloads inline"
                )
    return scenario


def inline_files(scenario: Scenario) -> Scenario:
    """The scenario with every workload file read into inline workloads (to send it)."""
    changes = []
    for i, c in enumerate(scenario.changes):
        if isinstance(c, NewWorkloads) and c.file is not None:
            batch = c.batch(f"{scenario.name}: changes[{i}]")
            entries = [WorkloadEntry.model_validate(workload_to_dict(w)) for w in batch]
            c = NewWorkloads(kind="workloads", workloads=entries)
        changes.append(c)
    return scenario.model_copy(update={"changes": changes})


def scenario_text(scenario: Scenario) -> str:
    """The scenario as one JSON object (what :func:`parse_scenario` reads back)."""
    return inline_files(scenario).model_dump_json(exclude_none=True)


def _finish(scenario: Scenario, default_name: str, folder: Path | None) -> Scenario:
    changes = []
    for c in scenario.changes:
        if isinstance(c, NewWorkloads) and c.file is not None and folder is not None:
            file = Path(c.file)
            c = c.model_copy(update={"file": str(file if file.is_absolute() else folder / file)})
        changes.append(c)
    return scenario.model_copy(update={"name": scenario.name or default_name, "changes": changes})


def apply(scenario: Scenario, world: World) -> World:
    """``world`` changed by every change of ``scenario`` in order (``world`` is untouched)."""
    out = world.copy()
    for i, change in enumerate(scenario.changes):
        where = f"{scenario.name}: changes[{i}] ({change.kind})"
        try:
            change.apply(out, where)
        except InvalidArgumentError as exc:
            # A value in range on its own can still make a workload or link the solver
            # refuses (an SLO scaled below its floor, a link from a node to itself).
            raise ScenarioError(f"{where}: {exc}") from exc
    return out


__all__ = [
    "Scenario",
    "apply",
    "inline_files",
    "load_scenario",
    "parse_scenario",
    "scenario_text",
]
