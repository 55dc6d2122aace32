"""A broker that goes away under a connected client must not leave an unread error.

aiomqtt keeps the reason for an unexpected disconnect in a future that only its message
iterator and `publish` read. When neither is waiting at that moment (the sender's
`publish_now` failed first and its task group ended the iterator, `monitord doctor`
between two steps) the client's `__aexit__` returns early and the future is dropped
unread. Python then logs, at ERROR and at some later garbage collection, `Future
exception was never retrieved ... MqttCodeError('Unexpected disconnection')`: a line in
a clinic's journal that names no chair and no cause, at a time unrelated to the outage.
`V5Client` reads it on its way out.
Real mosquitto, stopped under the client.
"""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from monitord.mqttv5 import V5Client
from tests.servers import Mosquitto


async def test_a_broker_lost_under_an_idle_client_leaves_no_unread_error(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    client = V5Client(mosquitto.host, mosquitto.port, identifier="lost-reason", timeout=5)
    try:
        async with client:
            mosquitto.stop()
            for _ in range(200):  # paho notices the closed socket on its next read
                if client._disconnected.done():
                    break
                await asyncio.sleep(0.025)
            # Only done() here: reading the reason would mark it read for __aexit__.
            assert client._disconnected.done(), "the client never saw the broker go"
    finally:
        mosquitto.ensure_running()
    del client
    gc.collect()
    await asyncio.sleep(0)
    unread = [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]
    assert unread == []
