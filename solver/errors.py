"""Errors raised by the solver package."""

from __future__ import annotations


class SolverError(Exception):
    """Root of every error the solver raises."""


class InvalidProblemError(SolverError):
    """A model value breaks an invariant.

    ``field`` names the offending field relative to its object (``duration_h``,
    ``demands.H100``); ``owner`` says which object (``workload 'job-1'``).
    """

    def __init__(self, field: str, message: str, *, owner: str = "") -> None:
        super().__init__(f"{owner + ': ' if owner else ''}{field}: {message}")
        self.field = field
        self.message = message
        self.owner = owner
