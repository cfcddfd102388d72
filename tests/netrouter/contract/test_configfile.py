"""Config and scenario text parsing: every syntax error names a line."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from netrouter.contract.configfile import ConfigFileError, parse_text


class _Doc(BaseModel):
    name: str = ""


@pytest.mark.parametrize(
    ("text", "fmt", "line"),
    [
        ("name", "toml", 1),  # "Expected '=' ... (at end of document)"
        ('name = "x"\nother', "toml", 2),
        ("name: x\nbad: \x07\n", "yaml", 2),  # a character the YAML reader refuses
        ("\x9f", "yaml", 1),
    ],
)
def test_syntax_errors_name_a_line(text: str, fmt: str, line: int) -> None:
    """Errors the parsers report without a position still name the line they are on."""
    with pytest.raises(ConfigFileError) as info:
        parse_text(text, _Doc, source="c", fmt=fmt)
    assert info.value.line == line
    assert str(info.value).startswith(f"c:{line}: ")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""


@pytest.mark.parametrize(("text", "fmt"), [('name = "x"\n"" = 1\n', "toml"), ('"": 1\n', "yaml")])
def test_an_empty_unknown_key_is_named_quoted(text: str, fmt: str) -> None:
    """An extra key spelled as the empty string is reported as "" with its line."""
    with pytest.raises(ConfigFileError) as info:
        parse_text(text, _Strict, source="c", fmt=fmt)
    assert info.value.key == '""'
    assert info.value.line == text.count("\n")
