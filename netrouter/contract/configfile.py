"""Load a TOML (or YAML) file into a pydantic model, with errors that name the key and the line.

Used by the router's and the site agent's entry points; library code receives the parsed,
frozen settings and never reads files or the environment itself.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)


class NestedValueError(ValueError):
    """Raised by a validator about a key inside the value it checks (a region key of a
    table): ``keys`` extend the error's location, so the error names that key and its line."""

    def __init__(self, keys: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.keys = tuple(keys)
        self.message = message


class ConfigFileError(ValueError):
    """A configuration file is unreadable or invalid."""

    def __init__(self, path: str, key: str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        self.path = path
        self.key = key
        self.line = line
        self.message = message


def load_toml(path: str | Path, model: type[M]) -> M:
    """Parse ``path`` and validate it as ``model``; raise :class:`ConfigFileError` if bad."""
    return load_file(path, model, fmt="toml")


def load_file(path: str | Path, model: type[M], *, fmt: str | None = None) -> M:
    """Parse ``path`` as TOML or YAML (by ``fmt``, else its suffix: .yaml/.yml are YAML,
    anything else TOML) and validate it as ``model``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(str(path), "", None, f"cannot read: {exc.strerror}") from exc
    if fmt is None:
        fmt = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "toml"
    return parse_text(text, model, source=str(path), fmt=fmt)


def parse_text(text: str, model: type[M], *, source: str, fmt: str = "toml") -> M:
    """Validate ``text`` (TOML or YAML) as ``model``; errors name ``source``, key and line."""
    data: Any
    if fmt == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = getattr(exc, "lineno", None)
            if line is None:  # before Python 3.14 only the message has it
                found = re.search(r"line (\d+)", str(exc))
                line = int(found.group(1)) if found else None
            if line is None:  # "(at end of document)": the last line
                line = text.count("\n") + 1
            raise ConfigFileError(source, "", line, f"not valid TOML: {exc}") from exc
        locate = locate_key
    elif fmt == "yaml":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            position = getattr(exc, "position", None)  # a character the reader refuses
            if line is None and isinstance(position, int):
                line = text.count("\n", 0, position) + 1
            raise ConfigFileError(source, "", line, f"not valid YAML: {exc}") from exc
        if data is None:
            data = {}
        locate = locate_yaml_key
    else:
        raise ValueError(f"unknown format {fmt!r}: 'toml' or 'yaml'")
    if not isinstance(data, dict):
        raise ConfigFileError(source, "", 1, "expected a table of keys at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = _first_error(exc.errors())
        loc = _without_tags(data, tuple(first["loc"]))
        message = first["msg"].removeprefix("Value error, ")
        nested = first.get("ctx", {}).get("error")
        if isinstance(nested, NestedValueError):
            loc, message = (*loc, *nested.keys), nested.message
        elif first["type"] == "extra_forbidden":
            message = _unknown_key(model, data, tuple(first["loc"]), loc)
        elif first["type"] == "union_tag_invalid":
            ctx = first.get("ctx", {})
            message += _did_you_mean(
                str(ctx.get("tag", "")), re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
            )
        # An empty key (``"" = 1``) is shown quoted, so the error still names it.
        key = ".".join(f"[{part}]" if isinstance(part, int) else str(part) or '""' for part in loc)
        key = key.replace(".[", "[")
        raise ConfigFileError(source, key, locate(text, loc), message) from exc


def _first_error(errors: list[ErrorDetails]) -> ErrorDetails:
    """The error to report: an unknown key before all else, since a misspelt section or key
    also makes the one meant look missing (``[peu]`` is why ``pue`` is "Field required")."""
    return next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])


def _unknown_key(
    model: type[BaseModel], data: Any, raw_loc: tuple[str | int, ...], loc: tuple[str | int, ...]
) -> str:
    """What to say of the unknown key at ``loc``: a section (a table) at the top level, else
    a key; with the nearest known name, or the known names when none is near."""
    value = _value_at(data, loc)
    is_table = isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
    )
    what = "section" if len(loc) == 1 and is_table else "key"
    known = _known_keys(model, raw_loc[:-1])
    if not known:
        return f"unknown {what}"
    hint = _did_you_mean(str(loc[-1]), known)
    if hint:
        return f"unknown {what}{hint}"
    return f"unknown {what}; known {what}s: {', '.join(known)}"


def unknown_name(what: str, name: str, known: Sequence[str]) -> str:
    """ "unknown site 'guan' (did you mean 'guian'?)", or the known names when none is near."""
    hint = _did_you_mean(name, known)
    if hint:
        return f"unknown {what} {name!r}{hint}"
    return f"unknown {what} {name!r}; known {what}s: {', '.join(known) or 'none'}"


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name nearest to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if not close:
        close = [k for k in known if k.lower() == name.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _value_at(data: Any, loc: tuple[str | int, ...]) -> Any:
    node = data
    for part in loc:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


def _known_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys the model allows at ``loc`` (pydantic's location, union tags included), in
    the model's order; empty where it cannot tell."""
    node: Any = model
    for part in loc:
        node = _step(node, part)
        if node is None:
            return []
    models = [m for m in _members(node) if isinstance(m, type) and issubclass(m, BaseModel)]
    keys: list[str] = []
    for m in models:
        keys += [k for k in m.model_fields if k not in keys]
    return keys


def _members(tp: Any) -> list[Any]:
    """``tp`` without ``Annotated`` and ``None``, a union as its members."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _members(arg) if m is not type(None)]
    return [tp]


def _step(tp: Any, part: str | int) -> Any:
    """The type one part of a location further into ``tp``, or None."""
    members = _members(tp)
    for m in members:  # a union tag (a discriminated union's ``kind``) names its member
        if isinstance(m, type) and issubclass(m, BaseModel) and "kind" in m.model_fields:
            kind = m.model_fields["kind"].annotation
            if typing.get_origin(kind) is Literal and part in typing.get_args(kind):
                return m
    for m in members:
        if isinstance(m, type) and issubclass(m, BaseModel):
            if isinstance(part, str) and part in m.model_fields:
                return m.model_fields[part].annotation
            continue
        origin = typing.get_origin(m)
        args = typing.get_args(m)
        if isinstance(origin, type) and issubclass(origin, Mapping) and len(args) == 2:
            return args[1]
        if isinstance(origin, type) and issubclass(origin, Sequence) and args:
            return args[0]
    return None


def _without_tags(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """``loc`` less the union tags pydantic puts in it (e.g. ``changes.0.price.x``, where
    ``price`` is the entry's ``kind``): the path of keys as written in the file."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("kind") == part:
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def locate_yaml_key(text: str, loc: Sequence[str | int]) -> int | None:
    """The 1-based line of ``loc`` in a YAML document (or of the deepest part of it that
    exists: a missing key points at its mapping)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(part)), None)
            key_node = next((k for k, _ in node.value if k.value == str(part)), None)
            if found is None or key_node is None:
                return line
            line, node = key_node.start_mark.line + 1, found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


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
            if len(table) < len(target) < len(full) and full[: len(target)] == target:
                return number  # a dotted key inside it: ``peu.value = 1.2`` for ``peu``
    for cut in range(len(target), 0, -1):
        if target[:cut] in headers:
            return headers[target[:cut]]
        # An array of tables: ``[[peu]]`` for ``peu``, its first header.
        lines = [n for h, n in headers.items() if h[:cut] == target[:cut]]
        if lines:
            return min(lines)
    return None
