"""The router's errors: one root, shallow subclasses with the fields callers need."""

from __future__ import annotations


class RouterError(Exception):
    """Root of every error the router raises on purpose."""


class InvalidArgumentError(RouterError):
    """A request field is malformed; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFoundError(RouterError):
    """A named entity (placement, site) does not exist."""


class AlreadyExistsError(RouterError):
    """An entity with that id is already active."""


class FailedPreconditionError(RouterError):
    """The system is not in a state to serve the request (e.g. no site is up)."""


class ResourceExhaustedError(RouterError):
    """A size limit was exceeded."""


class UnavailableError(RouterError):
    """A dependency (the store, the broker) cannot be used right now."""


class UnauthenticatedError(RouterError):
    """The call carries no valid credentials (a missing, malformed or unknown token)."""


class PermissionDeniedError(RouterError):
    """The caller is known but its role does not allow this call."""
