"""The embedded broker: a real MQTT round trip, retained messages, and a clean stop."""

from __future__ import annotations

import socket

import pytest

from netrouter.cli.embedded_broker import EmbeddedBroker, free_port
from netrouter.contract.broker import mqtt_client

pytestmark = pytest.mark.mqtt


def test_a_free_port_can_be_bound() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


async def test_a_retained_message_reaches_a_later_subscriber_then_the_port_closes() -> None:
    async with EmbeddedBroker() as broker:
        address = broker.address
        assert address.host == "127.0.0.1" and address.port > 0
        async with mqtt_client(address) as publisher:
            await publisher.publish("t/retained", b"hello", qos=1, retain=True)
        async with mqtt_client(address) as subscriber:
            await subscriber.subscribe("t/#", qos=1)
            async for message in subscriber.messages:
                assert str(message.topic) == "t/retained"
                assert message.payload == b"hello"
                break
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", address.port)) != 0
