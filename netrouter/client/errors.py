"""The router's errors: one root, shallow subclasses with the fields callers need.

Each class carries its gRPC status (``code``), so this module is the one table behind both
directions: the servicer answers :func:`status_of` an error, and the client turns a status
back into an error with :func:`error_for`.
"""

from __future__ import annotations

import grpc


class RouterError(Exception):
    """Root of every error the router raises on purpose."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    """The status the servicer answers with; a subclass's own code is its place in the table."""

    @classmethod
    def from_details(cls, details: str) -> RouterError:
        """The error a client raises for a status of this class with ``details``."""
        return cls(details)


class InvalidArgumentError(RouterError):
    """A request field is malformed; ``field`` names it."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    @classmethod
    def from_details(cls, details: str) -> InvalidArgumentError:
        """Split ``field: message`` as the servicer wrote it."""
        field, _, message = details.partition(": ")
        return cls(field, message)


class NotFoundError(RouterError):
    """A named entity (placement, site) does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(RouterError):
    """An entity with that id is already active."""

    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPreconditionError(RouterError):
    """The system is not in a state to serve the request (e.g. no site is up)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class OutOfRangeError(RouterError):
    """A position past what exists (a watch resuming after an event not yet committed)."""

    code = grpc.StatusCode.OUT_OF_RANGE


class ResourceExhaustedError(RouterError):
    """A size limit was exceeded."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnavailableError(RouterError):
    """A dependency (the store, the broker) cannot be used right now."""

    code = grpc.StatusCode.UNAVAILABLE


class UnauthenticatedError(RouterError):
    """The call carries no valid credentials (a missing, malformed or unknown token)."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(RouterError):
    """The caller is known but its role does not allow this call."""

    code = grpc.StatusCode.PERMISSION_DENIED


class RpcError(RouterError):
    """An RPC failed with a status that has no more specific error; ``code`` tells which."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code


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


ERROR_OF: dict[grpc.StatusCode, type[RouterError]] = {
    kind.code: kind for kind in RouterError.__subclasses__() if "code" in vars(kind)
}
"""The client's map, read off the classes: each status to the class that declares it.
Deeper subclasses share their parent's code (a ``ListenError`` is UNAVAILABLE) and stay
server-side detail; ``RpcError`` declares none: it holds whatever status had no class."""


def status_of(exc: RouterError) -> grpc.StatusCode:
    """The gRPC status the servicer answers ``exc`` with (INTERNAL for the bare root)."""
    return exc.code


def error_for(code: grpc.StatusCode, details: str) -> RouterError:
    """The typed error a client raises for a failed call's status and details."""
    kind = ERROR_OF.get(code)
    return kind.from_details(details) if kind else RpcError(code, details)
