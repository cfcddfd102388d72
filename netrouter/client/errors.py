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


class ListenError(UnavailableError):
    """The gRPC server cannot listen on ``address`` (``reason`` says why, e.g. in use)."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"cannot listen on {address}: {reason}")
        self.address = address
        self.reason = reason


class StoreLockedError(UnavailableError):
    """Another process holds the placement store at ``path`` (one router per store).

    ``pid`` and ``host`` name the holder as it wrote itself into ``lock_path``; they are
    ``None`` and ``""`` if it has not written them yet.
    """

    def __init__(self, path: str, lock_path: str, *, pid: int | None, host: str) -> None:
        who = f"pid {pid} on {host or 'an unknown host'}" if pid is not None else "another process"
        super().__init__(
            f"placement store {path} is in use by {who} (lock file {lock_path}); "
            "one router per store"
        )
        self.path = path
        self.lock_path = lock_path
        self.pid = pid
        self.host = host
