"""`netrouter demo`'s own options: a bad broker URL is refused before anything starts."""

from __future__ import annotations

from tests.helpers.factories import run_cli


def test_a_bad_mqtt_url_exits_2_naming_the_option() -> None:
    result = run_cli("netrouter", "demo", "--mqtt", "http://h:1883", "--json")
    assert result.returncode == 2
    assert "--mqtt" in result.stderr
    assert "unsupported MQTT URL scheme" in result.stderr
    assert result.stdout == ""
