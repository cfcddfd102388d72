"""The error family: each class carries its gRPC status, read both ways from one table."""

from __future__ import annotations

import grpc
import pytest

from netrouter.client.errors import (
    ERROR_OF,
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    ListenError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    ResourceExhaustedError,
    RouterError,
    RpcError,
    StoreLockedError,
    UnauthenticatedError,
    UnavailableError,
    error_for,
    status_of,
)

TYPED = (
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (FailedPreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (ResourceExhaustedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (OutOfRangeError, grpc.StatusCode.OUT_OF_RANGE),
    (UnavailableError, grpc.StatusCode.UNAVAILABLE),
    (UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
)


@pytest.mark.parametrize(("kind", "code"), TYPED)
def test_each_error_is_answered_with_its_status(
    kind: type[RouterError], code: grpc.StatusCode
) -> None:
    """The servicer's status for an error is the one its class carries."""
    assert status_of(kind("why")) == code


@pytest.mark.parametrize(("kind", "code"), TYPED)
def test_each_status_comes_back_as_its_error(
    kind: type[RouterError], code: grpc.StatusCode
) -> None:
    """The client turns a status into the class that carries it, details as the message."""
    error = error_for(code, "why")
    assert type(error) is kind
    assert str(error) == "why"


def test_an_invalid_argument_comes_back_naming_its_field() -> None:
    """INVALID_ARGUMENT's ``field: message`` details come back split into the two fields."""
    sent = InvalidArgumentError("workloads[1].id", "duplicate 'w'")
    error = error_for(status_of(sent), str(sent))
    assert isinstance(error, InvalidArgumentError)
    assert (error.field, error.message) == ("workloads[1].id", "duplicate 'w'")


def test_a_status_without_a_class_comes_back_as_an_rpc_error() -> None:
    """A status no class carries (a deadline) is an ``RpcError`` holding that status."""
    error = error_for(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
    assert type(error) is RpcError
    assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert str(error) == "DEADLINE_EXCEEDED: Deadline Exceeded"


def test_an_internal_status_comes_back_as_an_rpc_error() -> None:
    """INTERNAL (the root's own status) maps to no class: the client says which status."""
    assert type(error_for(grpc.StatusCode.INTERNAL, "boom")) is RpcError
    assert status_of(RouterError("unplanned")) == grpc.StatusCode.INTERNAL


def test_server_side_subclasses_share_their_parents_status() -> None:
    """A listen or store-lock failure is UNAVAILABLE, and the client sees ``UnavailableError``."""
    listen = ListenError("127.0.0.1:1", "address already in use")
    locked = StoreLockedError("db", "db.lock", pid=None, host="")
    assert status_of(listen) == status_of(locked) == grpc.StatusCode.UNAVAILABLE
    assert ERROR_OF[grpc.StatusCode.UNAVAILABLE] is UnavailableError


def test_every_status_the_table_holds_is_distinct_and_typed() -> None:
    """The table has one class per status, INVALID_ARGUMENT and the seven above."""
    expected = {code: kind for kind, code in TYPED}
    expected[grpc.StatusCode.INVALID_ARGUMENT] = InvalidArgumentError
    assert expected == ERROR_OF
