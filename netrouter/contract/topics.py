"""The MQTT topics of the wire contract and the agent status on them.

``{prefix}/sites/{site_id}/report`` carries a site report, ``.../status`` the agent's
``online BOOT`` / ``offline BOOT`` (its last will). Shared by the router and the site agents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
