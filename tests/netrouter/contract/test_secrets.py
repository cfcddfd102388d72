"""Secrets kept in files: read without surrounding whitespace, or refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from netrouter.contract.secrets import read_secret


def test_a_secret_file_is_read_without_its_newline(tmp_path: Path) -> None:
    """The trailing newline an editor adds is not part of the password."""
    path = tmp_path / "pw"
    path.write_text("  s3cret\n", encoding="utf-8")
    assert read_secret(str(path), "password file") == "s3cret"


@pytest.mark.parametrize(("content", "message"), [(None, "cannot read"), ("  \n", "is empty")])
def test_a_missing_or_empty_secret_file_is_refused_naming_what_and_where(
    tmp_path: Path, content: str | None, message: str
) -> None:
    """The error names the kind of file (its key or flag), the path and what is wrong."""
    path = tmp_path / "pw"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        read_secret(str(path), "password file (--mqtt-password-file)")
    assert "--mqtt-password-file" in str(info.value) and str(path) in str(info.value)
