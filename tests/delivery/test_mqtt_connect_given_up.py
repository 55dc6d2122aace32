"""A connection attempt given up leaves no connection behind (monitord/mqttv5.py).

aiomqtt's `__aenter__` runs paho's connect in an executor thread, then waits for the
CONNACK. Given up in either step, it left the socket as it was:
- cancelled (a stop, a restart of the chair's link) while the thread connects: the
  thread went on and opened the connection after the cancellation;
- the CONNACK not in time (a stalled broker, which the kernel still accepts for):
  the connection stayed open after the MqttError.
Either way a connection nobody owned stayed up with the chair's client id, aiomqtt's
reader and keepalive task running on the loop, until the object was collected; in the
suite that was after its loop had closed, and CI printed "Exception ignored in
Client.__del__: RuntimeError: Event loop is closed" under a later test. Now the socket
of an attempt given up is closed. Real mosquitto; only the thread's connect is held
(an Event) so that the cancellation lands inside it every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from importlib.metadata import version
from typing import Any, TypeVar

import aiomqtt
import paho.mqtt.client as paho
import pytest

from monitord.aio import within
from monitord.mqttv5 import V5Client
from tests.kit import eventually
from tests.servers import Mosquitto

T = TypeVar("T")


def closed(client: V5Client) -> bool:
    """No socket left, and aiomqtt's keepalive task for it ended."""
    misc = client._misc_task
    return client._client.socket() is None and (misc is None or misc.done())


async def test_a_connect_cancelled_in_its_thread_leaves_no_connection(
    mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    client = V5Client(mosquitto.host, mosquitto.port, identifier=f"{mqtt_prefix}-given-up")
    paho_connect = client._client.connect
    in_thread, go_on, connected = threading.Event(), threading.Event(), threading.Event()

    def held_connect(*args: Any, **kwargs: Any) -> Any:
        in_thread.set()
        go_on.wait(10)
        try:
            return paho_connect(*args, **kwargs)
        finally:
            connected.set()

    client._client.connect = held_connect  # type: ignore[method-assign]

    async def enter() -> None:
        async with client:
            await asyncio.Event().wait()

    task = asyncio.create_task(enter())
    try:
        assert await asyncio.to_thread(in_thread.wait, 10), "paho's connect not called"
        task.cancel()  # the stop, while the thread connects
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        go_on.set()
    assert await asyncio.to_thread(connected.wait, 10), "paho's connect did not end"
    # The thread has opened the connection by now: it must not stay open.
    await eventually(lambda: closed(client), 10, "the connection given up closed")


async def test_a_connack_not_in_time_leaves_no_connection(
    mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    client = V5Client(
        mosquitto.host, mosquitto.port, identifier=f"{mqtt_prefix}-stalled", timeout=0.5
    )
    mosquitto.pause()
    try:
        with pytest.raises(aiomqtt.MqttError, match="timed out"):
            async with client:
                pass
        await eventually(lambda: closed(client), 10, "the connection given up closed")
    finally:
        mosquitto.resume()


async def test_aiomqtt_connects_through_the_method_v5client_overrides(
    mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Both closes above hang on V5Client's override of aiomqtt's private
    `_client_connect` (it notes that the socket is open). aiomqtt 2.0 to 2.4 call paho's
    connect from `__aenter__` directly and a later 2.x may rename it: the override is then
    never called and no attempt given up is closed, silently. pyproject.toml asks for
    aiomqtt 2.5 or later; this says it at once when the installed one connects otherwise."""
    client = V5Client(mosquitto.host, mosquitto.port, identifier=f"{mqtt_prefix}-override")
    async with client:
        pass
    assert client._socket_open, (
        f"aiomqtt {version('aiomqtt')} did not connect through Client._client_connect: "
        "V5Client's close of an attempt given up (monitord/mqttv5.py) never runs; port it"
    )
    assert callable(getattr(paho.Client, "_sock_close", None)), (
        f"paho-mqtt {version('paho-mqtt')} has no Client._sock_close, which V5Client "
        "closes an attempt given up with (monitord/mqttv5.py)"
    )


class ThreadFirst(ThreadPoolExecutor):
    """Each job has ended in its thread before `submit` returns to the loop: the order a
    quick executor thread gets against a busy loop, here every time."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        job = super().submit(fn, *args, **kwargs)
        wait([job])
        return job


async def test_entered_again_after_a_connack_not_in_time_it_connects(
    mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """aiomqtt's client may be entered again (its lock is released after a CONNACK not
    in time). The close of the attempt given up, queued on the loop, ran after the next
    attempt's thread had opened its socket and closed that one: the next attempt failed
    ("Operation timed out") against a broker that answered. No monitord caller enters a
    client twice today (each attempt makes its own); this holds the reuse aiomqtt offers."""
    loop = asyncio.get_running_loop()
    default = loop._default_executor  # type: ignore[attr-defined]
    loop.set_default_executor(ThreadFirst(max_workers=1))
    client = V5Client(
        mosquitto.host, mosquitto.port, identifier=f"{mqtt_prefix}-again", timeout=0.5
    )
    try:
        mosquitto.pause()
        with pytest.raises(aiomqtt.MqttError, match="timed out"):
            async with client:
                pass
        mosquitto.resume()
        client.timeout = 5
        async with client:  # its thread connects before the loop turns
            await client.publish(f"{mqtt_prefix}/again", b"up", 1)
    finally:
        mosquitto.resume()
        loop._default_executor.shutdown(wait=False)  # type: ignore[attr-defined]
        loop._default_executor = default  # type: ignore[attr-defined]


async def test_an_entry_aiomqtt_refuses_leaves_the_one_under_way_connecting(
    mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A second `async with` while the first connects is refused by aiomqtt
    (MqttReentrantError); it marked the first one's attempt given up, and the first one's
    connection was closed as soon as its thread had opened it."""
    client = V5Client(mosquitto.host, mosquitto.port, identifier=f"{mqtt_prefix}-twice", timeout=5)
    paho_connect = client._client.connect
    in_thread, go_on = threading.Event(), threading.Event()

    def held_connect(*args: Any, **kwargs: Any) -> Any:
        in_thread.set()
        go_on.wait(10)
        return paho_connect(*args, **kwargs)

    client._client.connect = held_connect  # type: ignore[method-assign]
    up = asyncio.Event()

    async def first() -> None:
        async with client:
            up.set()
            await client.publish(f"{mqtt_prefix}/twice", b"up", 1)

    task = asyncio.create_task(first())
    try:
        assert await asyncio.to_thread(in_thread.wait, 10), "paho's connect not called"
        with pytest.raises(aiomqtt.MqttReentrantError):
            async with client:
                pass
    finally:
        go_on.set()
    await within(task, 10)  # the first entry connected and published: not closed
    assert up.is_set()
