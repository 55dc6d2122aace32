"""A stop that comes in the loop turn the broker's answer does must end the MQTT wait.

aiomqtt waits for every answer (CONNACK, PUBACK, DISCONNECT) with asyncio.wait_for, which
in Python 3.11 swallows such a cancellation (gh-86296, monitord/aio.py): the chair's
connection task went on serving, and whoever stopped it (the daemon's TaskGroup on
SIGTERM, the station, a test's `gather`) waited forever. Seen as a CI hang of
test_mqtt_takeover's broker-restart test, whose two sinks reconnect every 2 s when it
cancels them. `V5Client._wait_for` now waits with `monitord.aio.within`.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Callable, Coroutine
from typing import Any

from monitord.mqttv5 import V5Client
from tests.kit import stop_racing
from tests.servers import Mosquitto


async def test_a_stop_racing_the_connack_ends_the_wait() -> None:
    """The form of `__aenter__`'s wait: the CONNACK resolves a future."""
    client = V5Client("127.0.0.1", 1, identifier="stop-race")  # never connects
    futs: list[asyncio.Future[None]] = []

    def start() -> Coroutine[Any, Any, None]:
        futs.append(asyncio.get_running_loop().create_future())
        return client._wait_for(futs[-1], timeout=None)

    await stop_racing(start, lambda: futs[-1].set_result(None), park_turns=1)


async def test_a_stop_racing_a_real_puback_ends_the_wait(
    mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """An alert's wait for its PUBACK (`wait_acked`), the PUBACK read from a real broker
    in the turn that cancels the wait."""
    topic = f"{mqtt_prefix}/race/alerts/events"
    loop = asyncio.get_running_loop()
    async with V5Client(mosquitto.host, mosquitto.port, identifier=f"{mqtt_prefix}-r") as c:
        sock = c._client.socket()
        assert sock is not None
        # aiomqtt's reader would take the PUBACK on any turn; here only `wake` reads it.
        reader: Callable[[], object] = loop._selector.get_key(sock.fileno()).data[0]._callback  # type: ignore[attr-defined]
        loop.remove_reader(sock.fileno())
        try:

            def start() -> Coroutine[Any, Any, None]:
                info = c.publish_now(topic, b"alert", 1, False)
                return c.wait_acked(topic, info)

            def wake() -> None:
                assert select.select([sock], [], [], 10)[0], "no PUBACK within 10 s"
                c._client.loop_read()  # the PUBACK handled: the wait's event is set

            await stop_racing(start, wake, park_turns=1)
        finally:
            loop.add_reader(sock.fileno(), reader)
