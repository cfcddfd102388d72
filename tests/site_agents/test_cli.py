"""`netrouter-agent`'s module: the broker password's variable is the wire contract's."""

from __future__ import annotations

from dataclasses import replace

from netrouter.contract.secrets import PASSWORD_ENV
from site_agents import cli
from site_agents.collectors import Inventory


def test_password_variable_matches_the_wire_contract() -> None:
    """The name `run --help` shows is the one the agent and the router read."""
    assert cli.PASSWORD_ENV == PASSWORD_ENV


def test_check_shows_how_the_free_devices_sit_on_nodes() -> None:
    """A shaped model's line ends with its free nodes, as 'netrouter sites' shows them; a
    model without a shape says nothing more."""
    shaped = Inventory(
        model="H100", total=24, healthy=23, in_use_by_others=11, power_w=700.0,
        from_static_config=False, node_size=8, nodes_by_free=(1, 0, 0, 0, 0, 2, 0, 0, 0),
    )  # fmt: skip
    assert cli._shape_text(shaped) == "; free nodes: 0 whole of 8, 2×5"
    whole = replace(shaped, nodes_by_free=(0, 1, 0, 0, 0, 0, 0, 0, 2))
    assert cli._shape_text(whole) == "; free nodes: 2 whole of 8, 1×1"
    assert cli._shape_text(replace(shaped, node_size=0, nodes_by_free=())) == ""
