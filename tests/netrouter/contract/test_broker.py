"""Broker addresses from URLs and the [broker] section, command-line values first."""

from __future__ import annotations

from pathlib import Path

import pytest

from netrouter.contract.broker import BrokerSection, broker_address, parse_mqtt_url


@pytest.mark.parametrize(
    ("url", "host", "port", "tls"),
    [
        ("mqtt://broker.example:1884", "broker.example", 1884, False),
        ("broker.example", "broker.example", 1883, False),
        ("mqtts://broker.example", "broker.example", 8883, True),
        ("ssl://10.0.0.5:9883", "10.0.0.5", 9883, True),
    ],
)
def test_urls_give_host_port_and_tls_with_the_defaults(
    url: str, host: str, port: int, tls: bool
) -> None:
    """Scheme, host and port are read; a port left out is 1883, or 8883 with TLS."""
    address = parse_mqtt_url(url)
    assert (address.host, address.port, address.tls) == (host, port, tls)


def test_credentials_in_the_url_are_unquoted() -> None:
    """A percent-encoded user and password arrive decoded."""
    address = parse_mqtt_url("mqtt://site%2Da:p%40ss@h:1883")
    assert (address.username, address.password) == ("site-a", "p@ss")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://h:1883", "unsupported MQTT URL scheme"),
        ("mqtt://user:secret@h:", "no port after ':'"),
        ("mqtt://h:99999", "bad port"),
    ],
)
def test_a_bad_url_is_refused_saying_why(url: str, message: str) -> None:
    """Scheme, empty port and out-of-range port each get their own message."""
    with pytest.raises(ValueError, match=message) as info:
        parse_mqtt_url(url)
    assert "secret" not in str(info.value)  # never the password


def test_command_line_values_win_over_the_section(tmp_path: Path) -> None:
    """The flag's URL and password file are used; the section fills in the username."""
    flag_pw, section_pw = tmp_path / "flag", tmp_path / "section"
    flag_pw.write_text("from-flag", encoding="utf-8")
    section_pw.write_text("from-section", encoding="utf-8")
    section = BrokerSection(
        url="mqtt://config-host:1883", username="agent", password_file=str(section_pw)
    )
    address = broker_address(
        section, section_name="broker", url="mqtt://flag-host:1884", password_file=str(flag_pw)
    )
    assert (address.host, address.port) == ("flag-host", 1884)
    assert (address.username, address.password) == ("agent", "from-flag")


def test_the_environment_password_comes_before_the_sections_file(tmp_path: Path) -> None:
    """With no flag, the environment's password is used over the section's file."""
    section_pw = tmp_path / "section"
    section_pw.write_text("from-section", encoding="utf-8")
    section = BrokerSection(username="agent", password_file=str(section_pw))
    address = broker_address(section, section_name="broker", env_password="from-env")
    assert address.password == "from-env"


def test_a_password_without_a_username_is_refused_naming_both_places() -> None:
    """A password alone cannot log in: the error names the flag and the section key."""
    with pytest.raises(ValueError, match=r"--mqtt-username or \[site\] username"):
        broker_address(BrokerSection(), section_name="site", env_password="pw")
