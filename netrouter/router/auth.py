"""Who may reach the gRPC API, and what they may do.

- **TLS**: the server presents ``cert_file``/``key_file``; with ``client_ca`` every client
  must present a certificate that CA signed (mTLS), or the handshake fails.
- **Bearer tokens**: each call carries ``authorization: Bearer TOKEN`` metadata. A tokens
  file names each token and gives it a role: ``read-only`` may call everything that changes
  nothing; ``read-write`` may also call ``Place``, ``Release``, ``Rebalance``, ``RemoveSite``,
  ``DrainSite`` and ``UndrainSite``. The health
  and reflection services stay open, so balancers and ``grpcurl list`` need no token.

A tokens file (TOML; keep it readable by the router's user only)::

    [[tokens]]
    name = "planner-ci"                 # shown in the router's log, never the token
    role = "read-write"
    token = "4f9c...: at least 16 characters, e.g. `openssl rand -hex 32`"

A missing, malformed or unknown token answers UNAUTHENTICATED; a read-only token on a
write call answers PERMISSION_DENIED. Both messages say what is missing.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import grpc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from netrouter.client.errors import (
    PermissionDeniedError,
    RouterError,
    UnauthenticatedError,
    status_of,
)
from netrouter.contract.configfile import load_toml
from netrouter.router.service import SERVICE_NAME

log = logging.getLogger(__name__)

Role = Literal["read-only", "read-write"]
READ_WRITE: Role = "read-write"

WRITE_METHODS = frozenset(
    f"/{SERVICE_NAME}/{name}"
    for name in ("Place", "Release", "Rebalance", "RemoveSite", "DrainSite", "UndrainSite")
)
"""Calls that change placements or sites: they need a ``read-write`` token."""

OPEN_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
"""Method prefixes that need no token: health checks and reflection."""

MIN_TOKEN_CHARS = 16
AUTHORIZATION_KEY = "authorization"


# --- TLS ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerTls:
    """The server's certificate chain and key (PEM), and the CA its clients' certificates
    must chain to (``client_ca``; ``None``: no client certificate asked for)."""

    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None

    def credentials(self) -> grpc.ServerCredentials:
        """gRPC server credentials; a client certificate is required when ``client_ca`` is set."""
        return grpc.ssl_server_credentials(
            [(self.private_key, self.cert_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


def load_server_tls(
    *, cert_file: str, key_file: str, client_ca_file: str | None, names: Mapping[str, str]
) -> ServerTls:
    """Read and check the server's TLS files; ``names`` maps ``cert``, ``key`` and
    ``client_ca`` to the config key or flag that gave each, for the error message.

    Raises ``ValueError`` naming the key and file when one is missing, unreadable, not PEM,
    or when the key does not belong to the certificate.
    """
    cert = _read_pem(cert_file, names["cert"])
    key = _read_pem(key_file, names["key"])
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        raise ValueError(
            f"{names['cert']} {cert_file} and {names['key']} {key_file}: not a certificate "
            f"and its private key ({exc.reason or exc})"
        ) from exc
    client_ca = None
    if client_ca_file:
        client_ca = _read_pem(client_ca_file, names["client_ca"])
        try:
            ssl.create_default_context(cafile=client_ca_file)
        except ssl.SSLError as exc:
            raise ValueError(
                f"{names['client_ca']} {client_ca_file}: not a CA certificate ({exc.reason or exc})"
            ) from exc
    return ServerTls(cert_chain=cert, private_key=key, client_ca=client_ca)


def _read_pem(path: str, name: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{name}: cannot read {path}: {exc.strerror}") from exc
    if b"-----BEGIN " not in data:
        raise ValueError(f"{name}: {path} is not a PEM file")
    return data


# --- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who a token belongs to: its name in the tokens file and its role."""

    name: str
    role: Role


class _TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    role: Role
    token: str = Field(min_length=MIN_TOKEN_CHARS, max_length=4096, pattern=r"^[\x21-\x7e]+$")


class _TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: list[_TokenEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> _TokensFile:
        names = [t.name for t in self.tokens]
        if len(set(names)) != len(names):
            raise ValueError("each token name may appear once")
        if len({t.token for t in self.tokens}) != len(self.tokens):
            raise ValueError("each token may appear once")
        return self


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenTable:
    """Known tokens by their SHA-256 digest (the tokens themselves are not kept)."""

    principals: Mapping[bytes, Principal]

    @classmethod
    def of(cls, tokens: Mapping[str, tuple[str, Role]]) -> TokenTable:
        """A table from ``{token: (name, role)}``."""
        return cls(
            principals=MappingProxyType(
                {_digest(t): Principal(name=n, role=r) for t, (n, r) in tokens.items()}
            )
        )

    def lookup(self, token: str) -> Principal | None:
        """Whose ``token`` this is, or ``None``."""
        return self.principals.get(_digest(token))


def load_tokens(path: str | Path) -> TokenTable:
    """Read a tokens file; raises :class:`~netrouter.contract.configfile.ConfigFileError` naming the
    key and line of a bad entry."""
    parsed = load_toml(path, _TokensFile)
    mode = Path(path).stat().st_mode
    if mode & 0o077:
        log.warning("tokens file %s is readable by other users (mode %o)", path, mode & 0o777)
    return TokenTable.of({t.token: (t.name, t.role) for t in parsed.tokens})


def authorise(method: str, metadata: Sequence[tuple[str, Any]], tokens: TokenTable) -> Principal:
    """The principal allowed to call ``method`` with this metadata.

    Raises :class:`UnauthenticatedError` (no, malformed or unknown token) or
    :class:`PermissionDeniedError` (a read-only token on a write call).
    """
    values = [value for key, value in metadata if key == AUTHORIZATION_KEY]
    if not values:
        raise UnauthenticatedError(
            f"{method} needs a bearer token: send metadata 'authorization: Bearer TOKEN'"
        )
    value = values[0] if isinstance(values[0], str) else ""
    scheme, _, token = value.partition(" ")
    if len(values) > 1 or scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError("the authorization metadata must be one 'Bearer TOKEN'")
    principal = tokens.lookup(token.strip())
    if principal is None:
        raise UnauthenticatedError("unknown bearer token")
    if method in WRITE_METHODS and principal.role != READ_WRITE:
        raise PermissionDeniedError(
            f"{method.rsplit('/', 1)[-1]} needs a read-write token; "
            f"token {principal.name!r} is {principal.role}"
        )
    return principal


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Checks every call's bearer token against ``tokens`` before it reaches a servicer
    (health and reflection excepted); a refused call never runs."""

    def __init__(self, tokens: TokenTable) -> None:
        self._tokens = tokens

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(OPEN_SERVICES):
            return handler
        try:
            principal = authorise(method, details.invocation_metadata or (), self._tokens)
        except RouterError as exc:
            return _refusal(handler, method, status_of(exc), str(exc))
        log.debug("%s by %s (%s)", method, principal.name, principal.role)
        return handler


def _refusal(
    handler: grpc.RpcMethodHandler, method: str, code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that only aborts with ``code``."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        log.warning("%s from %s refused: %s: %s", method, context.peer(), code.name, message)
        await context.abort(code, message)

    async def refuse_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await refuse(request, context)
        yield  # unreachable: abort raises; the yield makes this a stream handler

    deserialize, serialize = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(refuse, deserialize, serialize)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(refuse_stream, deserialize, serialize)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(refuse, deserialize, serialize)
    return grpc.stream_stream_rpc_method_handler(refuse_stream, deserialize, serialize)
