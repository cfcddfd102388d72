"""How to reach the MQTT broker: addresses and ``mqtt://`` URLs, the ``[broker]`` config
section, and the MQTT client factory. Shared by the router and the site agents."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from netrouter.contract.secrets import read_secret
from netrouter.contract.topics import DEFAULT_TOPIC_PREFIX, check_topic_prefix


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
