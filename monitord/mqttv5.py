"""MQTT v5 connections that tell a refused publish from a delivered one (issue 16).

Under MQTT 3.1.1 a broker acknowledges a publish its ACL refused (mosquitto 2.0 drops it
and still sends PUBACK), so a chair could count every alert as delivered while none
arrived. Under MQTT v5 the PUBACK carries a reason code: mosquitto 2.0 answers a denied
QoS 1 publish with 0x87 "Not authorized" (tests/heard/test_publish_refused.py).

aiomqtt 2.x reads the PUBACK but drops its reason code (`Client._on_publish` only wakes
the waiter), and `Client.publish` returns nothing to match it by. `V5Client` keeps the
code of each publish by message id from paho's VERSION2 `on_publish` callback, and
`publish_acked` publishes through the underlying paho client so it knows the message id
it waits for. Every other aiomqtt behaviour (connect, subscribe, messages) is unchanged.

A client with a Last Will that leaves its `async with` on an exception (a bug, a timed-out
publish, a cancellation) says goodbye with reason 0x04 "Disconnect with Will Message":
aiomqtt always sends a normal DISCONNECT (0x00), on which the broker discards the Will,
so a retained `online` status stayed while the link was down. A caller that published its
own `offline` first (a clean stop) sets `said_offline` and leaves normally. Leaving on
an exception, an MqttError of the leave itself (a stalled broker) never replaces it: a
stop stays a stop (`V5Client._leave`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Self, TypeVar

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from monitord.aio import within
from monitord.sinks.commands import load_bounded

T = TypeVar("T")

# How long the broker keeps the daemon's session (its command subscriptions and the QoS 1
# commands queued for it) while the daemon is away: a restart or a network outage of up to
# a day finds its commands waiting. Commands older than mqtt.command_max_age_s are refused
# on arrival anyway (sinks/commands.py), so a longer expiry adds nothing.
SESSION_EXPIRY_S = 86_400
# `monitord doctor`'s test message is one flat object; deeper is not one.
DOCTOR_DEPTH = 4

# MQTT v5 DISCONNECT reason 0x04: the broker publishes our Will although we said goodbye.
WITH_WILL = ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")


class PublishRefused(Exception):
    """The broker answered a QoS >= 1 publish with a failure reason code (>= 0x80)."""

    def __init__(self, topic: str, code: ReasonCode) -> None:
        super().__init__(f"broker refused publish on {topic}: {reason_words(code)}")
        self.topic = topic
        self.code = code

    @property
    def value(self) -> int:
        return int(self.code.value)


class Unconfirmed(aiomqtt.MqttError):
    """A QoS >= 1 publish written to the broker whose PUBACK did not come within the
    client's timeout (a stalled broker, or the connection lost after the write). Unlike a
    publish never written (aiomqtt's MqttCodeError "Could not publish message": no
    connection), the broker may have it and deliver it when it answers again: a paused
    mosquitto resumed delivers it (tests/station/test_station_not_confirmed.py). An
    MqttError, so callers that retry every failure go on as before."""


def reason_words(code: ReasonCode) -> str:
    """`not authorized (0x87)`: paho's name for the code, lower case, and the number."""
    return f"{str(code).lower()} (0x{int(code.value):02X})"


def is_doctor(payload: bytes | bytearray | str | Any) -> bool:
    """A `monitord doctor` test message (contract: JSON with `"doctor": true`), which every
    consumer ignores."""
    if not isinstance(payload, bytes | bytearray | str) or b'"doctor"' not in (
        payload.encode() if isinstance(payload, str) else bytes(payload)
    ):
        return False
    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    try:
        # Bounded as every outside payload is: this runs before the receipt and station
        # status parsers, so an unbounded json.loads here let `"doctor"` in a payload
        # nested thousands deep raise RecursionError out of the MQTT handler past them.
        doc = load_bounded(raw, DOCTOR_DEPTH)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("doctor") is True


def session_properties() -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    return props


class V5Client(aiomqtt.Client):
    """aiomqtt.Client on MQTT v5 that keeps each publish's PUBACK reason code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["protocol"] = aiomqtt.ProtocolVersion.V5
        kwargs.pop("clean_session", None)  # MQTT v5 has clean_start instead (paho refuses it)
        super().__init__(*args, **kwargs)
        self._refused: dict[int, ReasonCode] = {}
        self._has_will = kwargs.get("will") is not None
        # Set by a caller whose own `offline` status was acknowledged before it leaves:
        # the Will would only say it again, with an older time.
        self.said_offline = False
        # Why the connection ended, as paho first told it: (reason, True when the broker
        # said it in a DISCONNECT packet). aiomqtt's message iterator raises a bare
        # "Disconnected during message iteration" and drops it (sinks/mqtt_takeover.py).
        self.lost: tuple[ReasonCode, bool] | None = None
        # An entry given up (cancelled, or its CONNACK timed out) and whether paho's
        # connect, in aiomqtt's executor thread, had opened the socket by then; the lock
        # orders the two threads' looks at them (`__aenter__`, `_client_connect`).
        self._connect_lock = threading.Lock()
        self._given_up = False
        self._socket_open = False

    def _client_connect(self) -> None:
        """paho's connect, run by aiomqtt's `__aenter__` in an executor thread, which goes
        on when the entry is cancelled (a stop, or a connect in a loop's turn cancelled).
        Before, the connection it then opened was nobody's: socket open, aiomqtt's reader
        and its keepalive task running on the loop, a connection with the chair's (or the
        station's) client id left on the broker, closed only when the object was
        collected (in the tests, after its loop had closed: "Exception ignored in
        Client.__del__: Event loop is closed"). Now a connect that ends after its entry
        was given up closes what it opened."""
        super()._client_connect()
        with self._connect_lock:
            self._socket_open = True
            given_up = self._given_up
        if given_up:
            self._drop_connection(self._client._sock)

    def _drop_connection(self, sock: object) -> None:
        """Close `sock`, the socket of an entry given up, on the loop (paho's close calls
        aiomqtt's loop callbacks), after aiomqtt's own callbacks for the new socket
        (add_reader, the keepalive task) that the connect queued before it."""
        try:
            self._loop.call_soon_threadsafe(self._close_socket, sock)
        except RuntimeError:  # the loop closed meanwhile: nothing of ours runs on it
            self._close_socket(sock)

    def _close_socket(self, sock: object) -> None:
        # Only the socket given up, which the close was queued for: the client entered
        # again at once (a CONNACK not in time, then `async with` again) has by now the
        # next attempt's socket, opened by paho's connect after it closed this one;
        # closing whatever paho held then failed that attempt.
        if sock is None or self._client._sock is not sock:
            return
        # paho's close tells aiomqtt's callback, which may find the loop closed.
        with contextlib.suppress(RuntimeError):
            self._client._sock_close()

    async def __aenter__(self) -> Self:
        if self._lock.locked():
            # Entered while another entry holds the client: aiomqtt refuses it
            # (MqttReentrantError) before any wait. Not this entry's flags to touch: marked
            # given up here, they had the other entry's connection, still under way,
            # closed as soon as its thread had opened it.
            return await super().__aenter__()
        with self._connect_lock:
            self._given_up = self._socket_open = False
        try:
            return await super().__aenter__()
        except BaseException:
            # aiomqtt leaves the socket as it is: open after a CONNACK that did not come in
            # time, or opened later by the thread (above) after a cancellation.
            with self._connect_lock:
                self._given_up = True
                opened = self._socket_open
            if opened:
                self._drop_connection(self._client._sock)
            raise

    async def _wait_for(self, fut: Awaitable[T], timeout: float | None) -> T:  # noqa: ASYNC109
        """aiomqtt's every wait (CONNACK, PUBACK, SUBACK, DISCONNECT) goes through here.
        Its own uses asyncio.wait_for, which in Python 3.11 swallows a cancellation that
        comes in the loop turn the answer does (monitord/aio.py): a chair's connection
        task then went on serving, and the daemon's stop, the station's or a test's
        waited for it forever. `within` always lets the cancellation through."""
        limit = self.timeout if timeout is None else timeout
        try:
            return await within(fut, None if limit == math.inf else limit)
        except TimeoutError:
            raise aiomqtt.MqttError("Operation timed out") from None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            try:
                if (
                    exc_type is not None
                    and self._has_will
                    and not self.said_offline
                    and not self._disconnected.done()
                ):
                    await self._leave_with_will()
            finally:
                # Returns at once when we left above (releases the client's lock).
                await self._leave(exc_type, exc, tb)
        finally:
            # aiomqtt keeps an unexpected disconnect's reason in a future that only its
            # message iterator and `publish` read; when neither was waiting (a failed
            # publish_now ended the iterator first, doctor between steps) its __aexit__
            # returns early and the future is dropped unread. Python then logs "Future
            # exception was never retrieved" at ERROR, at some later collection, naming no
            # chair. Our callers have already logged the loss with its cause.
            gone = self._disconnected
            if gone.done() and not gone.cancelled():
                gone.exception()

    async def _leave(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """aiomqtt's graceful disconnect, whose wait for the DISCONNECT to be written
        times out against a stalled broker whose socket is full. Leaving on an exception
        (a stop's CancelledError above all), that timeout's MqttError must not replace it:
        the station's bridge and the daemon's chair loop reconnect on an MqttError, so a
        stop after our `offline` was acknowledged went on until systemd killed the
        process. A normal exit still raises it. Either way the client is left as
        aiomqtt's own forced disconnect leaves it, which its timeout skipped: marked
        disconnected, its lock released (the client may be entered again)."""
        try:
            await super().__aexit__(exc_type, exc, tb)
        except aiomqtt.MqttError:
            if not self._disconnected.done():
                self._disconnected.set_result(None)
            if self._lock.locked():
                self._lock.release()
            if self._connected.done():
                self._connected = asyncio.get_running_loop().create_future()
            if exc_type is None:
                raise

    async def _leave_with_will(self) -> None:
        """aiomqtt's graceful disconnect with reason 0x04, so the broker publishes the
        Will (the status `offline`). paho closes the socket once the DISCONNECT is
        written (a stalled broker reads it when it runs again); a write that does not end
        in time, or a socket already gone, does not replace the exception we leave on."""
        if self._client.disconnect(reasoncode=WITH_WILL) == paho.MQTT_ERR_SUCCESS:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._wait_for(self._disconnected, timeout=None)
        if not self._disconnected.done():
            self._disconnected.set_result(None)
        # As aiomqtt's own graceful disconnect: the client may be entered again.
        if self._connected.done():
            self._connected = asyncio.get_running_loop().create_future()

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        if self.lost is None:  # paho may call it twice (aiomqtt's own note)
            self.lost = (reason_code, flags.is_disconnect_packet_from_server)
        super()._on_disconnect(client, userdata, flags, reason_code, properties)

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        # Kept before aiomqtt wakes the waiter, which then reads it in publish_acked.
        if reason_code.is_failure:
            self._refused[mid] = reason_code
        super()._on_publish(client, userdata, mid, reason_code, properties)

    def unanswered_ping_since(self, at_least_s: float) -> float | None:
        """When paho's keepalive sent a PINGREQ the broker has not answered for
        `at_least_s` (monotonic, paho's clock), else None. paho keeps no public word of
        it; `_ping_t` is set when a PINGREQ goes out and zeroed by its PINGRESP (kept
        after a close: the loss is dated from it, sinks/mqtt_link.py)."""
        sent = float(getattr(self._client, "_ping_t", 0.0) or 0.0)
        return sent if sent > 0 and time.monotonic() - sent >= at_least_s else None

    def publish_now(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo:
        """Queue a publish and write it to the socket now, on the caller's (the loop's)
        thread; `wait_acked` then waits for the broker's answer.

        Why (issue 20, the alert fast path): through aiomqtt a publish only queues the
        packet; paho asks for a write callback, which aiomqtt registers with
        `call_soon_threadsafe(add_writer)`, so the bytes leave one to three loop turns
        later, behind whatever else those turns run (under 16 streaming chairs a median
        1.6 ms, p99 5 ms). Here paho's write-registration is held off while it queues the
        packet and the socket is written at once, as aiomqtt's own writer callback would;
        only a remainder the socket did not take goes through the writer callback.
        When a write is already registered (an earlier remainder, or a registration still
        on its way to the loop) the packet just queues behind it: writing around a pending
        add_writer would leave a writer registered that paho no longer knows of (a
        callback firing on every loop turn)."""
        pc = self._client
        direct = not pc._registered_write
        if direct:
            pc._registered_write = True  # no add_writer for this packet: we write it now
        try:
            info = pc.publish(topic, payload, qos, retain)
        finally:
            if direct:
                pc._registered_write = False
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        # paho reuses message ids (1..65535): an old code under this id is not ours.
        self._refused.pop(info.mid, None)
        if direct and pc.want_write():
            try:
                # Registers the writer itself if the socket took only part of it.
                pc.loop_write()
            except Exception:  # a broken socket: aiomqtt's writer callback reports it
                pc._call_socket_register_write()
        return info

    async def wait_acked(self, topic: str, info: paho.MQTTMessageInfo) -> None:
        """Wait for the PUBACK of a `publish_now`; raise PublishRefused when its reason
        code is a failure (QoS 0 has no answer: returns at once), Unconfirmed when none
        came in time for a publish written (in part or whole) to the broker."""
        if not info.is_published():
            done = asyncio.Event()
            # aiomqtt's own wait for a PUBACK (the same one Client.publish uses).
            with self._pending_call(info.mid, done, self._pending_publishes):
                try:
                    await self._wait_for(done.wait(), timeout=None)  # the client's timeout
                except aiomqtt.MqttError as e:
                    if self._unwritten(info):
                        raise
                    # Its TimeoutError kept under it: the daemon's sink words the loss as
                    # "no answer from broker" by it (sinks/mqtt_errors.py `_cause`).
                    raise Unconfirmed(str(e)) from e.__cause__ or e.__context__
        code = self._refused.pop(info.mid, None)
        if code is not None:
            raise PublishRefused(topic, code)

    def _unwritten(self, info: paho.MQTTMessageInfo) -> bool:
        """The publish is still in paho's queue, not one byte of it written: the broker
        cannot have it. A lost connection does not wake the wait (aiomqtt leaves it to
        its timeout), so this is looked at then."""
        try:
            return any(p["info"] is info and p["pos"] == 0 for p in self._client._out_packet)
        except (AttributeError, KeyError, TypeError):  # paho's internals not as in 2.x:
            return False  # "may still be carried out" (the words that claim nothing), and
            # never an exception of another kind out of the daemon's alarm publishes

    async def publish_acked(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
    ) -> None:
        """Publish and wait for the broker's answer; raise PublishRefused when its reason
        code is a failure (QoS 0 has no answer: it returns once written)."""
        await self.wait_acked(topic, self.publish_now(topic, payload, qos, retain))
