"""The MQTT side of the wire contract: topic names and broker addresses.

Shared by the router and the site agents (with the generated messages in
:mod:`netrouter.v1`); it imports nothing else of ours.
"""

from __future__ import annotations

import random
import re
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt

TOPIC_ROOT = "netrouter/v1/sites"
REPORT_FILTER = f"{TOPIC_ROOT}/+/report"
STATUS_FILTER = f"{TOPIC_ROOT}/+/status"
STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"
SITE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def report_topic(site_id: str) -> str:
    """The retained topic carrying a site's serialized ``SiteReport``."""
    return f"{TOPIC_ROOT}/{site_id}/report"


def status_topic(site_id: str) -> str:
    """The retained topic carrying ``online`` / ``offline`` (the last will)."""
    return f"{TOPIC_ROOT}/{site_id}/status"


def parse_topic(topic: str) -> tuple[str, str] | None:
    """(site id, kind) of a site topic, kind being ``report`` or ``status``; else ``None``."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != TOPIC_ROOT or parts[4] not in {"report", "status"}:
        return None
    return parts[3], parts[4]


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
    """Parse ``mqtt://host:port`` (or ``mqtts://`` for TLS); raises ``ValueError`` if malformed."""
    if "://" not in url:
        url = f"mqtt://{url}"
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"}:
        raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r} (use mqtt:// or mqtts://)")
    tls = parts.scheme in {"mqtts", "ssl"}
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise ValueError(f"bad port in MQTT URL {url!r}") from exc
    return BrokerAddress(
        host=parts.hostname or "",
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


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
    """Exponential reconnect delays with jitter (each wait is 0.5–1.5× the current delay)."""

    def __init__(self, initial_s: float = 0.2, max_s: float = 10.0) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self._delay = initial_s

    def reset(self) -> None:
        """Start again from the initial delay (after a successful connection)."""
        self._delay = self._initial_s

    def next_wait(self) -> float:
        """The next wait in seconds; the delay behind it doubles up to the maximum."""
        wait = self._delay * (0.5 + random.random())
        self._delay = min(self._delay * 2, self._max_s)
        return wait


WATCH_POSITION_KEY = "netrouter-watch-after"
"""gRPC initial metadata of WatchPlacements: the event id the stream starts after."""
