"""Options that several commands share: the router's address and --json."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

DEFAULT_TARGET = "127.0.0.1:50051"
TARGET_ENV = "NETROUTER_TARGET"

TargetOpt = Annotated[
    str,
    typer.Option("--target", "-t", help="Router gRPC address HOST:PORT.", envvar=TARGET_ENV),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")
]


class PlacementState(StrEnum):
    """The states ``placements --state`` lists (the client's ``STATES``, and ``all``)."""

    active = "active"
    queued = "queued"
    released = "released"
    evicted = "evicted"
    all = "all"
