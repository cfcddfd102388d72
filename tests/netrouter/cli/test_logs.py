"""Log lines of `serve` and `demo`: one JSON object a line when asked."""

from __future__ import annotations

import json
import logging

from netrouter.cli.logs import JsonLines


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("netrouter.test", logging.WARNING, __file__, 1, message, args, None)


def test_json_lines_hold_level_logger_and_message() -> None:
    """A record becomes one JSON object with its level, logger and formatted message."""
    line = json.loads(JsonLines().format(_record("site %s is down", "guian")))
    assert line["level"] == "WARNING"
    assert line["logger"] == "netrouter.test"
    assert line["msg"] == "site guian is down"
    assert "exc" not in line


def test_json_lines_keep_non_ascii() -> None:
    """Chinese text stays readable in the line, not escaped."""
    assert "东数西算" in JsonLines().format(_record("东数西算"))
