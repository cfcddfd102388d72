"""Field-by-name copying between twins: a flat protobuf message and its domain type, or two
domain types that spell the same fields."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from google.protobuf.message import Message


def same_named(message_type: type[Message], source: object, **given: Any) -> dict[str, Any]:
    """``source``'s value for each field of ``message_type``, read by the same name.

    The field list is written once (in the ``.proto``) instead of once per direction. A field
    that needs converting (a nested message, a repeated one, an absent value spelled ``0``)
    is passed in ``given``, which must name fields of the message. Domain fields the wire
    lacks keep their defaults on the way in.
    """
    names = [f.name for f in message_type.DESCRIPTOR.fields]
    unknown = set(given) - set(names)
    if unknown:
        raise TypeError(f"{message_type.__name__} has no field {', '.join(sorted(unknown))}")
    return {name: given[name] if name in given else getattr(source, name) for name in names}


def same_fields(dataclass_type: type, source: object, **given: Any) -> dict[str, Any]:
    """``source``'s value for each field of the dataclass ``dataclass_type``, read by the
    same name: for a domain type built from its twin (a config section, the solver's own, a
    message whose nested parts are passed in ``given``, which must name fields of the type)."""
    names = [f.name for f in fields(dataclass_type)]
    unknown = set(given) - set(names)
    if unknown:
        raise TypeError(f"{dataclass_type.__name__} has no field {', '.join(sorted(unknown))}")
    return {name: given[name] if name in given else getattr(source, name) for name in names}
