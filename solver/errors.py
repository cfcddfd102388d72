"""Errors raised by the solver package."""

from __future__ import annotations


class SolverError(Exception):
    """Root of every error the solver raises."""


class InvalidProblemError(SolverError):
    """A model value breaks an invariant; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
