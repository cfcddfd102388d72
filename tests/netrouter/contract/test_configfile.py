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


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float


class _Sections(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pue: _Inner
    items: list[_Inner] = []
    by_name: dict[str, _Inner] = {}


@pytest.mark.parametrize(
    ("text", "fmt", "key", "line", "message"),
    [
        ("[peu]\nvalue = 1.2\n", "toml", "peu", 1, "unknown section (did you mean 'pue'?)"),
        ("peu.value = 1.2\n", "toml", "peu", 1, "unknown section (did you mean 'pue'?)"),
        ("[[peu]]\nvalue = 1.2\n", "toml", "peu", 1, "unknown section (did you mean 'pue'?)"),
        ("peu = 1.2\n", "toml", "peu", 1, "unknown key (did you mean 'pue'?)"),
        ("PUE:\n  value: 1.2\n", "yaml", "PUE", 1, "unknown section (did you mean 'pue'?)"),
        (
            "[pue]\nvalue = 1\n[[items]]\nvalue = 1\n[[items]]\nvalu = 2\n",
            "toml",
            "items[1].valu",
            6,
            "unknown key (did you mean 'value'?)",
        ),
        (
            "[pue]\nvalue = 1\n[by_name.a]\nvlaue = 2\n",
            "toml",
            "by_name.a.vlaue",
            4,
            "unknown key (did you mean 'value'?)",
        ),
        (
            "[pue]\nvalue = 1\n[zzz]\n",
            "toml",
            "zzz",
            3,
            "unknown section; known sections: pue, items, by_name",
        ),
    ],
)
def test_an_unknown_name_comes_first_with_the_one_meant(
    text: str, fmt: str, key: str, line: int, message: str
) -> None:
    """A misspelt section is reported as itself (not as the section it leaves missing), at
    its line, with the nearest known name or, when none is near, the known ones."""
    with pytest.raises(ConfigFileError) as info:
        parse_text(text, _Sections, source="c", fmt=fmt)
    assert (info.value.key, info.value.line, info.value.message) == (key, line, message)
