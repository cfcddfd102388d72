"""`netrouter-agent`'s module: the broker password's variable is the wire contract's."""

from __future__ import annotations

from netrouter.contract.secrets import PASSWORD_ENV
from site_agents import cli


def test_password_variable_matches_the_wire_contract() -> None:
    """The name `run --help` shows is the one the agent and the router read."""
    assert cli.PASSWORD_ENV == PASSWORD_ENV
