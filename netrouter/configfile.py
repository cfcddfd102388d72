"""Load a TOML file into a pydantic model, with errors that name the key and the line.

Used by the router's and the site agent's entry points; library code receives the parsed,
frozen settings and never reads files or the environment itself.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(ValueError):
    """A configuration file is unreadable or invalid."""

    def __init__(self, path: str, key: str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        self.path = path
        self.key = key
        self.line = line


def load_toml(path: str | Path, model: type[M]) -> M:
    """Parse ``path`` and validate it as ``model``; raise :class:`ConfigFileError` if bad."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(str(path), "", None, f"cannot read: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigFileError(str(path), "", line, f"not valid TOML: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        key = ".".join(f"[{part}]" if isinstance(part, int) else str(part) for part in loc)
        key = key.replace(".[", "[")
        raise ConfigFileError(str(path), key, locate_key(text, loc), first["msg"]) from exc


def locate_key(text: str, loc: Sequence[str | int]) -> int | None:
    """The 1-based line defining ``loc`` (or, if the key is missing, its table's header)."""
    table: list[str | int] = []
    headers: dict[tuple[str | int, ...], int] = {}
    array_counts: dict[str, int] = {}
    target = tuple(loc)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[["):
            name = line[2:].split("]]", 1)[0].strip()
            index = array_counts[name] = array_counts.get(name, -1) + 1
            table = [*name.split("."), index]
            headers[tuple(table)] = number
        elif line.startswith("["):
            name = line[1:].split("]", 1)[0].strip()
            table = list(name.split("."))
            headers[tuple(table)] = number
        elif "=" in line:
            key = line.split("=", 1)[0].strip().strip('"')
            full = (*table, *key.split("."))
            if full == target[: len(full)] and len(full) >= len(target) - 1:
                return number
    for cut in range(len(target), 0, -1):
        if target[:cut] in headers:
            return headers[target[:cut]]
    return None
