"""The MQTT topics under a prefix, and the agent status messages on them."""

from __future__ import annotations

import pytest

from netrouter.contract.broker import BrokerSection
from netrouter.contract.topics import (
    DEFAULT_TOPICS,
    STATUS_OFFLINE,
    STATUS_ONLINE,
    AgentStatus,
    Topics,
)


def test_topics_under_a_prefix_parse_back_and_ignore_other_prefixes() -> None:
    """A site's topics under one prefix parse to (site, kind); another prefix's do not."""
    demo = Topics("netrouter-demo/ab12/v1")
    assert demo.report("guian") == "netrouter-demo/ab12/v1/sites/guian/report"
    assert demo.parse(demo.status("guian")) == ("guian", "status")
    assert demo.parse(DEFAULT_TOPICS.report("guian")) is None
    assert DEFAULT_TOPICS.parse(demo.report("guian")) is None
    assert DEFAULT_TOPICS.report_filter == "netrouter/v1/sites/+/report"
    assert DEFAULT_TOPICS.parse("netrouter/v1/sites/guian/report/extra") is None


@pytest.mark.parametrize("prefix", ["", "/netrouter", "netrouter/", "a//b", "a/+/b", "a/#"])
def test_a_bad_topic_prefix_is_refused_with_the_reason(prefix: str) -> None:
    """Empty, slash-edged, empty-level or wildcard prefixes cannot root the topics."""
    with pytest.raises(ValueError, match="topic prefix"):
        Topics(prefix)
    with pytest.raises(ValueError, match="topic prefix"):
        BrokerSection(topic_prefix=prefix)


def test_status_messages_carry_the_boot_id_and_a_bare_one_speaks_for_all() -> None:
    """'offline BOOT' round-trips; a bare 'offline' has no boot id; junk is refused."""
    status = AgentStatus(STATUS_OFFLINE, "3f2a9c")
    assert status.payload == "offline 3f2a9c"
    assert AgentStatus.parse(status.payload.encode()) == status
    assert AgentStatus.parse(b"online") == AgentStatus(STATUS_ONLINE, "")
    for junk in (b"maybe", b"offline a b", b"", "offline " + "x" * 65):
        with pytest.raises(ValueError):
            AgentStatus.parse(junk)
