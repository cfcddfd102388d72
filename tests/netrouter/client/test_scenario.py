"""Scenario documents: every key parsed from TOML, YAML and JSON, and bad ones refused
naming the key and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from netrouter.client.changes import KINDS
from netrouter.client.scenario import load_scenario, parse_scenario, scenario_text
from netrouter.contract.configfile import ConfigFileError
from tests.helpers.factories import EVERY_CHANGE_KIND

OUTAGE = '[[changes]]\nkind = "site_down"\nsites = ["west"]\n'


def test_every_change_kind_parses_from_toml_and_yaml(tmp_path: Path) -> None:
    """The example with one change of each kind parses; YAML with the same keys too."""
    scenario = parse_scenario(EVERY_CHANGE_KIND.read_text(encoding="utf-8"))
    assert [c.kind for c in scenario.changes] == [
        "site_down", "site_up", "capacity", "price", "price", "pue", "pue_cap", "latency",
        "link", "link_cut", "slo", "demand", "workloads", "carbon_price", "add_site",
    ]  # fmt: skip
    assert set(KINDS) == {c.kind for c in scenario.changes}
    # The same scenario as JSON (what the client sends) and as a YAML file.
    assert parse_scenario(scenario_text(scenario)) == scenario
    yaml_file = tmp_path / "s.yaml"
    yaml_file.write_text(
        "description: pricier east\nchanges:\n  - kind: price\n    sides: [east]\n"
        "    multiplier: 1.2\n",
        encoding="utf-8",
    )
    loaded = load_scenario(yaml_file)
    assert loaded.name == "s" and loaded.changes[0].kind == "price"


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ('[[changes]]\nkind = "price"\nsides = ["east"]\nmultiplyer = 2\n', "multiplyer", 4),
        ('[[changes]]\nkind = "price"\nsides = ["east"]\n', "changes[0]", 1),
        ('[[changes]]\nkind = "price"\nmultiplier = -1\n', "multiplier", 3),
        ('[[changes]]\nkind = "price"\ntariff = [0.5, 0.5]\n', "tariff", 3),
        ('[[changes]]\nkind = "explode"\n', "changes[0]", 1),
        ('[[changes]]\nkind = "pue"\nset = 0.5\n', "set", 3),
        ('[[changes]]\nkind = "capacity"\nsite = "x"\nmodel = "H100"\n', "changes[0]", 1),
        ('[[changes]]\nkind = "latency"\nset_ms = 3\nadd_ms = 1\n', "changes[0]", 1),
        ('[[changes]]\nkind = "demand"\nscale = "lots"\n', "scale", 3),
        (
            '[[changes]]\nkind = "add_site"\nid = "n"\naccelerators = { H100 = 8 }\n',
            "changes[0]",
            1,
        ),
        ('name = "x"\n[[changes]\n', "", 2),
    ],
)
def test_bad_scenarios_name_the_key_and_line(text: str, key: str, line: int) -> None:
    """An unknown key, a missing or clashing one, or a value out of range names key and line."""
    with pytest.raises(ConfigFileError) as info:
        parse_scenario(text, source="s.toml")
    assert key in info.value.key or (not key and "TOML" in str(info.value))
    assert info.value.line == line
    assert str(info.value).startswith(f"s.toml:{line}")


@pytest.mark.parametrize(
    ("text", "fmt", "line", "message"),
    [
        (
            'name = "x"\n\n[[chagnes]]\nkind = "price"\nmultiplier = 2\n',
            "toml",
            3,
            "chagnes: unknown section (did you mean 'changes'?)",
        ),
        (
            '[[changes]]\nkind = "price"\nmultipler = 2\n',
            "toml",
            3,
            "changes[0].multipler: unknown key (did you mean 'multiplier'?)",
        ),
        (
            "changes:\n  - kind: pue_cap\n    max_pue: 1.2\n    hbus: [gz]\n",
            "yaml",
            4,
            "changes[0].hbus: unknown key (did you mean 'hubs'?)",
        ),
        ('[[changes]]\nkind = "prize"\n', "toml", 1, "(did you mean 'price'?)"),
    ],
)
def test_misspelt_names_are_named_with_the_one_meant(
    text: str, fmt: str, line: int, message: str
) -> None:
    """As in site and router configs: the unknown name at its line, and the one meant."""
    with pytest.raises(ConfigFileError) as info:
        parse_scenario(text, source="s", fmt=fmt)
    assert info.value.line == line
    assert str(info.value).startswith(f"s:{line}: ") and message in str(info.value)


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    """A bad value in a YAML file names its key and line too."""
    bad = tmp_path / "bad.yml"
    bad.write_text("changes:\n  - kind: pue\n    sites: [a]\n    set: 9\n", encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        load_scenario(bad)
    assert info.value.key.endswith("set") and info.value.line == 4


def test_scenario_is_a_frozen_model() -> None:
    """A parsed scenario and its changes cannot be changed in place."""
    scenario = parse_scenario(OUTAGE)
    with pytest.raises(ValidationError, match="frozen"):
        scenario.name = "other"
    with pytest.raises(ValidationError, match="frozen"):
        scenario.changes[0].kind = "site_up"
    assert scenario.name == "scenario" and scenario.changes[0].kind == "site_down"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[[changes]]\nkind = "demand"\nscale = 1e7\n', "scale"),
        ('[[changes]]\nkind = "price"\nmultiplier = 1e308\n', "multiplier"),
        ('[[changes]]\nkind = "latency"\nadd_ms = 1.7e308\n', "add_ms"),
        ('[[changes]]\nkind = "slo"\nmultiplier = 1e308\n', "multiplier"),
        ('[[changes]]\nkind = "carbon_price"\nyuan_per_kg = 1e308\n', "yuan_per_kg"),
        ('[[changes]]\nkind = "capacity"\nsite = "east"\nmodel = "H100"\nadd = 10000000000\n', "add"),
        ('[[changes]]\nkind = "link"\na = "csj"\nb = "csj"\nlatency_ms = 3\n', "changes[0]"),
        ('[[changes]]\nkind = "link"\na = "csj"\nb = "east"\nlatency_ms = 3\nyuan_per_gb = 1e300\n',
         "yuan_per_gb"),
        ('[[changes]]\nkind = "add_site"\nid = "n-2"\nlike = "west"\naccelerators = {H100 = 1e20}\n',
         "accelerators"),
        ('[[changes]]\nkind = "add_site"\nid = "Bad Id"\nlike = "west"\naccelerators = {H100 = 8}\n',
         "id"),
        ('[[changes]]\nkind = "add_site"\nid = "n-2"\nlike = "west"\naccelerators = {B200 = 8}\n'
         "power_w = {B200 = 1e6}\n", "power_w"),
        ('[[changes]]\nkind = "workloads"\nworkloads = [{id = "n", origin_region = "csj",'
         ' demands = {H100 = 8}, duration_h = 1e9}]\n', "duration_h"),
        ('[[changes]]\nkind = "workloads"\nworkloads = [{id = "n", origin_region = "csj",'
         ' demands = {H100 = 8}, duration_h = 1, priority = -1}]\n', "priority"),
    ],
)  # fmt: skip
def test_out_of_range_values_are_refused_naming_the_key(text: str, key: str) -> None:
    """Numbers that would hang the what-if or overflow the solver are refused when parsed."""
    with pytest.raises(ConfigFileError) as info:
        parse_scenario(text, source="s.toml")
    assert key in info.value.key and info.value.line is not None
