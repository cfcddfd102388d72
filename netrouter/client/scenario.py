"""What-if scenarios: a named list of changes to the state of the network.

A scenario file is TOML (or YAML with the same keys); examples are in examples/scenarios/::

    name = "guizhou-outage"                 # default: the file name
    description = "Gui'an loses power for the evening peak"

    [[changes]]
    kind = "site_down"
    sites = ["gz-guian-1"]

    [[changes]]
    kind = "price"                          # sites, hubs, provinces, sides pick the sites;
    provinces = ["Guangdong"]               # none of them: every site
    multiplier = 1.3                        # or tariff = [24 prices by local clock hour]

Change kinds and their keys (``targets`` = any of sites, hubs, provinces, sides):

================  =====================================================================
``site_down``     ``sites``: these sites fail (their running work must move)
``site_up``       ``sites``: these sites are up (e.g. back from an outage)
``capacity``      ``site``, ``model``, and ``add`` (negative removes) or ``set``;
                  ``power_w`` for a model the site did not have
``price``         targets; ``multiplier`` or ``tariff`` (24 元/kWh by local clock hour)
``pue``           targets; ``set`` or ``add``: the PUE now and the sustained PUE (the
                  mean the hub's cap judges; a site over its cap stays over until it is
                  the router's hysteresis under it)
``pue_cap``       ``max_pue``; ``hubs`` (default: every hub): the policy cap per hub, where
                  it is tighter than the cap the hub's sites report
``latency``       targets; ``regions`` (default all); ``set_ms``, ``add_ms`` or ``multiplier``
``link_cut``      ``a``, ``b``: the backbone link and any measured latency between them go
``link``          ``a``, ``b``, ``latency_ms``, ``bandwidth_gbps``, ``yuan_per_gb``: add or
                  replace a backbone link
``slo``           workload selector; ``set_ms``, ``multiplier`` or ``remove = true``
``demand``        workload selector; ``scale`` (2.0 doubles matching work, 0.5 halves it)
``workloads``     a new batch: ``file`` (the ``netrouter place --file`` format) or inline
                  ``workloads = [...]`` entries
``carbon_price``  ``yuan_per_kg``: the price put on each kg of CO2
``add_site``      ``id``; ``like`` (copy an existing site's labels, tariff, PUE, carbon and
                  latencies) and any of ``hub``, ``province``, ``side``, ``pue``,
                  ``carbon_kg_per_kwh``, ``tariff``, ``latency_ms`` {region: ms},
                  ``accelerators`` {model: count}, ``power_w`` {model: W}
================  =====================================================================

The workload selector (``slo``, ``demand``): ``select`` (``any``, ``inference`` = has a
latency SLO, ``training`` = has none), ``origin_regions`` and ``labels`` (all must match).

Parsing checks every key and value and names the key and line of the first bad one;
applying checks the names (sites, hubs, models) against the state and names the change.
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
