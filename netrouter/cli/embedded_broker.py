"""An embedded MQTT broker (amqtt, pure Python) for the demo and for tests without Mosquitto."""

from __future__ import annotations

import logging
import socket

from amqtt.broker import Broker

from netrouter.contract.broker import BrokerAddress

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """An in-process MQTT 3.1.1 broker on loopback; ``async with`` starts and stops it."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.address = BrokerAddress(host=host, port=port or free_port(host))
        self._broker: Broker | None = None

    async def __aenter__(self) -> EmbeddedBroker:
        config = {
            "listeners": {
                "default": {"type": "tcp", "bind": f"{self.address.host}:{self.address.port}"}
            },
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        self._broker = Broker(config)
        await self._broker.start()
        log.info("embedded MQTT broker on %s", self.address.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
