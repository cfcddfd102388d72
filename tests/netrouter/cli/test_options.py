"""The shared options: the broker password's variable is the wire contract's."""

from __future__ import annotations

from netrouter.cli.options import MQTT_PASSWORD_ENV
from netrouter.contract.wire import PASSWORD_ENV


def test_password_variable_matches_the_wire_contract() -> None:
    """The name --help shows is the one the router reads."""
    assert MQTT_PASSWORD_ENV == PASSWORD_ENV
