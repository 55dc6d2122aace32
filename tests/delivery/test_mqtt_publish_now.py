"""Issue 20, the alert fast path: `V5Client.publish_now` puts the packet on the wire at
once, against a real mosquitto.

Through aiomqtt a publish only queued the packet and asked the loop for a write callback
(`call_soon_threadsafe(add_writer)`): the bytes left one to three loop turns later, behind
whatever those turns ran (a median 1.6 ms under 16 streaming chairs). Checked here with
the loop blocked right after the call: a subscriber in a thread of its own must still
receive the message. And the shortcut must leave no write callback behind that paho does
not know of (it would fire on every loop turn), also when a write was already pending.
"""

from __future__ import annotations

import asyncio
import threading

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from monitord.mqttv5 import V5Client
from tests.servers import Mosquitto


class ThreadSubscriber:
    """A paho client on its own network thread: it receives while our loop is blocked."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.got: list[bytes | bytearray] = []
        self.arrived = threading.Event()
        ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic, 1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert ready.wait(10), "subscriber not subscribed"

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        self.got.append(msg.payload)
        self.arrived.set()

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def writer_registered(client: V5Client) -> bool:
    """Does the loop hold a write callback for the client's socket?"""
    sock = client._client.socket()
    assert sock is not None
    loop = asyncio.get_running_loop()
    registered = loop.remove_writer(sock.fileno())  # True when there was one
    if registered:
        loop.add_writer(sock.fileno(), client._client.loop_write)  # as it was (roughly)
    return registered


async def test_publish_now_is_on_the_wire_before_the_loop_turns(
    mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    topic = f"{mqtt_prefix}/fast/alerts/events"
    sub = ThreadSubscriber(mosquitto, topic)
    try:
        async with V5Client(mosquitto.host, mosquitto.port, identifier=f"{mqtt_prefix}-pub") as c:
            for i in range(5):
                sub.arrived.clear()
                info = c.publish_now(topic, f"alert {i}".encode(), 1, False)
                # The loop is blocked from here until the subscriber has it (10 s bound):
                # only bytes already written can get there.
                assert sub.arrived.wait(10), f"alert {i} not on the wire while the loop waited"
                await c.wait_acked(topic, info)
            assert sub.got == [f"alert {i}".encode() for i in range(5)]
            await asyncio.sleep(0.05)
            assert not c._client.want_write()
            assert not writer_registered(c)  # no callback left firing on every loop turn
    finally:
        sub.stop()


async def test_publish_now_queues_behind_a_pending_write(
    mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    topic = f"{mqtt_prefix}/fast/vitals/hr"
    sub = ThreadSubscriber(mosquitto, f"{mqtt_prefix}/fast/#")
    try:
        async with V5Client(mosquitto.host, mosquitto.port, identifier=f"{mqtt_prefix}-pub") as c:
            # A plain paho publish asks aiomqtt for a write callback, which reaches the loop
            # through call_soon_threadsafe: pending now. publish_now must queue behind it
            # (in order), not write around it.
            c._client.publish(topic, b"first", 0, True)
            assert c._client._registered_write
            info = c.publish_now(topic, b"second", 1, True)
            await c.wait_acked(topic, info)
            await asyncio.to_thread(lambda: sub.arrived.wait(10))
            for _ in range(500):  # both arrive (bounded; no timing asserted)
                if len(sub.got) >= 2:
                    break
                await asyncio.sleep(0.02)
            assert sub.got == [b"first", b"second"]
            await asyncio.sleep(0.05)
            assert not c._client.want_write()
            assert not c._client._registered_write
            assert not writer_registered(c)
    finally:
        sub.stop()
