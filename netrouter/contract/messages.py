"""Field-by-name copying between twins: a flat protobuf message and its domain type, or two
domain types that spell the same fields."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from google.protobuf.message import Message


def same_named(message_type: type[Message], source: object) -> dict[str, Any]:
    """``source``'s value for each field of ``message_type``, read by the same name.

    For messages of scalars whose domain type spells every field as the wire does, so the
    field list is written once (in the ``.proto``) instead of once per direction. Domain
    fields the wire lacks keep their defaults on the way in.
    """
    return {f.name: getattr(source, f.name) for f in message_type.DESCRIPTOR.fields}


def same_fields(dataclass_type: type, source: object) -> dict[str, Any]:
    """``source``'s value for each field of the dataclass ``dataclass_type``, read by the
    same name: for a domain type built from its twin (a config section, the solver's own)."""
    return {f.name: getattr(source, f.name) for f in fields(dataclass_type)}
