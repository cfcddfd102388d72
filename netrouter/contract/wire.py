"""The MQTT side of the wire contract: topic names and broker addresses.

Shared by the router and the site agents (with the generated messages in
:mod:`netrouter.v1`); it imports nothing else of ours.
"""

from __future__ import annotations

import random
import re
import ssl
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

DEFAULT_TOPIC_PREFIX = "netrouter/v1"
STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"
SITE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
BOOT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TOPIC_PREFIX = 200


def check_topic_prefix(prefix: str) -> str:
    """``prefix`` if it can root the site topics; raises ``ValueError`` saying why not."""
    if not prefix:
        raise ValueError("topic prefix must not be empty (the default is netrouter/v1)")
    if len(prefix) > MAX_TOPIC_PREFIX:
        raise ValueError(f"topic prefix is {len(prefix)} characters, at most {MAX_TOPIC_PREFIX}")
    if any(c in prefix for c in "+#\0"):
        raise ValueError(f"topic prefix {prefix!r} must not contain the wildcards + or #")
    if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        raise ValueError(f"topic prefix {prefix!r} must not start or end with '/' nor hold '//'")
    return prefix


@dataclass(frozen=True, slots=True)
class Topics:
    """The site topics under one prefix (``netrouter/v1`` unless a deployment sets
    ``topic_prefix``): ``{prefix}/sites/{site_id}/report`` and ``.../status``.

    Router and agents of one deployment share a prefix; a demo or a test uses its own, so
    it never touches a deployment's sites on the same broker.
    """

    prefix: str = DEFAULT_TOPIC_PREFIX

    def __post_init__(self) -> None:
        check_topic_prefix(self.prefix)

    def report(self, site_id: str) -> str:
        """The retained topic carrying a site's serialized ``SiteReport``."""
        return f"{self.prefix}/sites/{site_id}/report"

    def status(self, site_id: str) -> str:
        """The retained topic carrying ``online BOOT`` / ``offline BOOT`` (the last will)."""
        return f"{self.prefix}/sites/{site_id}/status"

    @property
    def report_filter(self) -> str:
        """The subscription that matches every site's report topic."""
        return f"{self.prefix}/sites/+/report"

    @property
    def status_filter(self) -> str:
        """The subscription that matches every site's status topic."""
        return f"{self.prefix}/sites/+/status"

    def parse(self, topic: str) -> tuple[str, str] | None:
        """(site id, kind) of a site topic, kind being ``report`` or ``status``; else ``None``."""
        head = f"{self.prefix}/sites/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) != 2 or parts[1] not in {"report", "status"}:
            return None
        return parts[0], parts[1]


DEFAULT_TOPICS = Topics()


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """A status message: ``online`` or ``offline``, and the boot id of the agent it speaks
    for (``""``: every agent of the site, as an operator's bare ``offline`` does)."""

    state: str
    boot_id: str = ""

    def __post_init__(self) -> None:
        if self.state not in (STATUS_ONLINE, STATUS_OFFLINE):
            raise ValueError(f"status {self.state[:32]!r} is neither online nor offline")
        if self.boot_id and not BOOT_ID_PATTERN.match(self.boot_id):
            raise ValueError(f"boot id {self.boot_id[:32]!r} is not 1-64 letters, digits, - or _")

    @property
    def payload(self) -> str:
        """The text published on the status topic."""
        return f"{self.state} {self.boot_id}" if self.boot_id else self.state

    @classmethod
    def parse(cls, payload: bytes | str) -> AgentStatus:
        """The status in a message; raises ``ValueError`` for anything else."""
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
        state, _, boot_id = text.strip().partition(" ")
        return cls(state, boot_id.strip())


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerAddress:
    """Where the MQTT broker is, from a ``mqtt://[user:pass@]host:port`` URL.

    With ``tls`` (``mqtts://``) the server is checked against the system's CAs, or against
    ``ca_file``; ``cert_file`` and ``key_file`` add a client certificate.
    """

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("broker host must not be empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"broker port must be in 1..65535, got {self.port}")
        if not self.tls and (self.ca_file or self.cert_file):
            raise ValueError("a CA or client certificate needs TLS: use an mqtts:// URL")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("a client certificate's cert_file and key_file go together")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for this broker (None without TLS); raises OSError on bad files."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    @property
    def url(self) -> str:
        """The address as a URL, without the password."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> BrokerAddress:
    """Parse ``mqtt://host:port`` (or ``mqtts://`` for TLS); raises ``ValueError`` if malformed.

    Without a port (no ``:``) it is 1883, or 8883 with TLS; ``host:`` is an error.
    """
    if "://" not in url:
        url = f"mqtt://{url}"
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"}:
        raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r} (use mqtt:// or mqtts://)")
    tls = parts.scheme in {"mqtts", "ssl"}
    default_port = 8883 if tls else 1883
    if parts.netloc.endswith(":"):
        # Left out, the port has a default; written as nothing, it is a mistake.
        where = parts.netloc.rpartition("@")[2]  # never the password
        raise ValueError(
            f"no port after ':' in MQTT URL {parts.scheme}://{where} (give HOST:PORT, "
            f"or leave out the ':' for the default {default_port})"
        )
    try:
        port = parts.port if parts.port is not None else default_port
    except ValueError as exc:
        raise ValueError(f"bad port in MQTT URL {url!r}") from exc
    return BrokerAddress(
        host=parts.hostname or "",
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


PASSWORD_ENV = "NETROUTER_MQTT_PASSWORD"
"""The environment variable an entry point may read the broker password from."""


class BrokerSection(BaseModel):
    """How to reach the MQTT broker, as a config file section (``[broker]`` in a site
    config, ``[mqtt]`` in the router's); command-line options override it.

    ``url`` is ``mqtt://HOST:PORT`` or ``mqtts://HOST:PORT`` (TLS). The password is read
    from ``password_file`` (or the NETROUTER_MQTT_PASSWORD environment variable), never
    written in the config file. ``ca_file`` trusts a private CA; ``cert_file``/``key_file``
    give a client certificate. ``topic_prefix`` roots the site topics
    (``{prefix}/sites/{id}/report``); router and agents of one deployment share it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "mqtt://127.0.0.1:1883"
    username: str = ""
    password_file: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    topic_prefix: str = DEFAULT_TOPIC_PREFIX

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return check_topic_prefix(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_mqtt_url(value)
        return value

    @model_validator(mode="after")
    def _tls_files(self) -> BrokerSection:
        # BrokerAddress holds the rules: a CA or certificate needs TLS, cert and key go together.
        replace(
            parse_mqtt_url(self.url),
            ca_file=self.ca_file or None,
            cert_file=self.cert_file or None,
            key_file=self.key_file or None,
        )
        return self


def broker_address(
    section: BrokerSection,
    *,
    section_name: str,
    url: str | None = None,
    username: str | None = None,
    password_file: str | None = None,
    env_password: str | None = None,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
) -> BrokerAddress:
    """The broker to use: command-line values over the config file's ``section``.

    The password comes from the URL, else ``password_file`` given on the command line, else
    ``env_password`` (the entry point reads :data:`PASSWORD_ENV`), else the section's
    ``password_file``. The TLS files are loaded once to catch bad ones before connecting.
    Raises ``ValueError`` naming what is wrong (``section_name`` names the config section).
    """
    address = parse_mqtt_url(url or section.url)
    user = address.username or username or section.username or None
    password = address.password
    if password is None and password_file:
        password = read_secret(password_file, "password file (--mqtt-password-file)")
    if password is None:
        password = env_password
    if password is None and section.password_file:
        password = read_secret(
            section.password_file, f"password file ([{section_name}] password_file)"
        )
    if password and not user:
        raise ValueError(
            f"a password needs a username (--mqtt-username or [{section_name}] username)"
        )
    address = replace(
        address,
        username=user,
        password=password,
        ca_file=ca_file or section.ca_file or None,
        cert_file=cert_file or section.cert_file or None,
        key_file=key_file or section.key_file or None,
    )
    try:
        address.ssl_context()
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"TLS files: {exc}") from exc
    return address


def read_secret(path: str, what: str) -> str:
    """A password or token kept in a file (surrounding whitespace dropped).

    Raises ``ValueError`` naming ``what`` (the kind of file and its key or flag) and the path
    when the file cannot be read or is empty.
    """
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {path}: {exc.strerror}") from exc
    if not secret:
        raise ValueError(f"{what}: {path} is empty")
    return secret


def mqtt_client(broker: BrokerAddress, **options: Any) -> aiomqtt.Client:
    """An aiomqtt client for ``broker`` (TLS for ``mqtts://``)."""
    return aiomqtt.Client(
        hostname=broker.host,
        port=broker.port,
        username=broker.username,
        password=broker.password,
        tls_context=broker.ssl_context(),
        **options,
    )


class Backoff:
    """Exponential reconnect delays with jitter (each wait is 0.5–1.5× the current delay,
    at most ``max_s``)."""

    def __init__(self, initial_s: float = 0.2, max_s: float = 10.0) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self._delay = initial_s

    def reset(self) -> None:
        """Start again from the initial delay (after a successful connection)."""
        self._delay = self._initial_s

    def next_wait(self) -> float:
        """The next wait in seconds, never above the maximum; the delay behind it doubles
        up to the maximum."""
        wait = min(self._max_s, self._delay * (0.5 + random.random()))
        self._delay = min(self._delay * 2, self._max_s)
        return wait


WATCH_POSITION_KEY = "netrouter-watch-after"
"""gRPC initial metadata of WatchPlacements: the event id the stream starts after."""
