"""MQTT publisher and command listener (design.md section 6), aiomqtt 2.x.

One broker connection per chair under `{prefix}/{site}/{chair}`: MQTT allows one Last Will
per connection, and each chair's `status` must fall to `offline` on its own.

| topic            | QoS / retain  | source                                               |
|------------------|---------------|------------------------------------------------------|
| `status`         | 1, retained   | `online` on connect; Last Will and clean stop `offline`|
| `vitals/{kind}`  | 0, retained   | `publish_vitals()`: latest per kind, best effort       |
| `alerts/events`  | 1             | the outbox (`mqtt` rows), in order, original time/id   |
| `alerts/active`  | 1, retained   | `set_active()`; republished on every (re)connect       |
| `cmd/ack`, `cmd/session` (in) | 1 | screened (sinks/commands.py) -> `on_command(chair, cmd)` |
| `cmd/errors`     | 1             | one message per rejected command                       |

The session is persistent (clean_session = False) so commands sent while we were away
are delivered on reconnect. A command that arrives with the retain flag came from the
broker's retained store because we (re)subscribed: it is refused on `cmd/errors`, cleared,
and never executed (a retained `end` would end the open session at every reconnect).
Alert events leave the outbox only after the broker's PUBACK; a connection lost in between
re-sends them (at-least-once; `alert_id` + `event` identify a duplicate).

The delivery alarm is not decided here: `down_since()` tells monitord/delivery.py how long
the alert link has been down, and the alarm is one of the daemon's technical alarms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from monitord import __version__
from monitord.aio import within
from monitord.backoff import Backoff
from monitord.config import MqttConfig, read_secret
from monitord.hub import CommittedBatch
from monitord.log import FailureLog
from monitord.models import Reading, iso
from monitord.outbox import Outbox, alert_from_body
from monitord.sinks.commands import (
    AckCommand,
    Command,
    CommandError,
    SessionCommand,
    parse_command,
)
from monitord.sinks.homeassistant import discovery

__all__ = ["AckCommand", "Command", "CommandError", "MqttSink", "SessionCommand", "parse_command"]

log = logging.getLogger("monitord.sinks.mqtt")


class _LateAckFilter(logging.Filter):
    """aiomqtt logs a SUBACK or UNSUBACK whose request we gave up on as an ERROR with a
    KeyError traceback ("Unexpected message ID"). It happens when a subscribe times out,
    or is cancelled because the sink restarted (every chair's connection is torn down
    while some are still subscribing), and the broker answers anyway: harmless, the
    connection is being replaced. One DEBUG line instead of a traceback in the journal."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith("Unexpected message ID"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg} (an answer to a request given up on; ignored)"
            return paho_log.isEnabledFor(logging.DEBUG)
        return True


# aiomqtt and paho log here (as `logger=`), apart from our own lines.
paho_log = logging.getLogger("monitord.sinks.mqtt.paho")
paho_log.addFilter(_LateAckFilter())

EVENT_BATCH = 100


# -- commands: models and screening live in sinks/commands.py --------------------------
OnCommand = Callable[[str, Command], Awaitable[str | None]]


# -- error classes for connection failures (each with operator advice) -------------------
# CONNACK codes that mean "who you are was refused": MQTT 3.1.1 (4 bad user name or
# password, 5 not authorised) and MQTT 5 reason codes (134, 135, 140 bad auth method).
# Only a CONNACK carries them: a publish failing with paho's rc 4 (MQTT_ERR_NO_CONN) is a
# lost connection, which the old text match ("code:4]") took for a refused login.
_AUTH_CONNACK = {4, 5, 134, 135, 140}


def _rc(e: aiomqtt.MqttCodeError) -> int | None:
    rc = e.rc
    if isinstance(rc, int):
        return rc
    value = getattr(rc, "value", None)  # paho's ReasonCode (MQTT 5)
    return value if isinstance(value, int) else None


def _cause(e: BaseException) -> BaseException:
    """The socket/TLS/timeout error under an aiomqtt.MqttError: aiomqtt re-raises connect
    failures as `MqttError(str(exc)) from None`, which keeps the original as __context__."""
    if isinstance(e, aiomqtt.MqttError) and not isinstance(e, aiomqtt.MqttCodeError):
        inner = e.__cause__ or e.__context__
        if inner is not None:
            return inner
    return e


def _describe(e: BaseException, cfg: MqttConfig) -> tuple[str, str]:
    """(class, one-line message with advice) for a failed or lost connection, classified
    by exception type and MQTT return code, never by the wording of the message."""
    text = str(e)
    where = f"{cfg.host}:{cfg.port}"
    if isinstance(e, MqttConnectError):
        if _rc(e) in _AUTH_CONNACK:
            return "auth", (
                f"broker {where} refused the login ({text}); check mqtt.username and "
                "mqtt.password_file"
            )
        return "refused", f"broker {where} refused the connection ({text})"
    if isinstance(e, aiomqtt.MqttCodeError):
        return "lost", f"connection to broker {where} lost: {text}"
    cause = _cause(e)
    if isinstance(cause, ssl.SSLError | ssl.CertificateError):
        return "tls", f"TLS with {where} failed ({text}); check mqtt.tls (ca_file, certs, port)"
    if isinstance(cause, ConnectionRefusedError):
        return "refused", f"broker {where} not reachable (connection refused); is it running?"
    if isinstance(cause, TimeoutError):
        return "timeout", f"no answer from broker {where} within {cfg.timeout_s} s"
    if isinstance(cause, OSError):
        return "os", f"cannot reach broker {where}: {text}"
    return "lost", f"connection to broker {where} lost: {text or type(e).__name__}"


@dataclass
class MqttStats:
    connects: int = 0
    events_sent: int = 0
    vitals_sent: int = 0
    vitals_dropped: int = 0
    commands: int = 0
    command_errors: int = 0
    last_error: str | None = None


class _ChairLink:
    """One chair's broker connection state (not the engine's per-chair state)."""

    def __init__(self, chair: str) -> None:
        self.chair = chair
        self.wake = asyncio.Event()
        self.connected = False
        self.down_since: float | None = time.monotonic()
        self.vitals: dict[str, Reading] = {}
        self.active: dict[str, Any] | None = None
        self.active_dirty = False


class MqttSink:
    def __init__(
        self,
        cfg: MqttConfig,
        site: str,
        chairs: Sequence[str],
        outbox: Outbox,
        on_command: OnCommand,
        *,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
    ) -> None:
        self.cfg = cfg
        self.site = site
        self.outbox = outbox
        self.on_command = on_command
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.stats = MqttStats()
        self._chairs = {c: _ChairLink(c) for c in chairs}

    # -- topics --------------------------------------------------------------------------
    def base(self, chair: str) -> str:
        return f"{self.cfg.prefix}/{self.site}/{chair}"

    def _status(self, state: str) -> bytes:
        return json.dumps(
            {"state": state, "time": iso(time.time()), "version": __version__}
        ).encode()

    # -- API for the daemon --------------------------------------------------------------
    def on_batch(self, batch: CommittedBatch) -> None:
        """Hub listener (monitord/hub.py): live vitals of what was committed, the chair's
        active set when it changed, and a wake-up for the alert events now in the outbox.
        A batch the full disk holds shows its active set only: nothing is queued yet."""
        if batch.durable:
            for r in batch.readings:
                if not r.stored:  # live vitals only: a memory record is not the patient now
                    self.publish_vitals(r)
        if batch.active is not None:
            self.set_active(batch.chair, list(batch.active), batch.t)
        if batch.durable:
            self.wake()

    def wake(self) -> None:
        """New alert events were committed to the outbox."""
        for c in self._chairs.values():
            c.wake.set()

    def publish_vitals(self, reading: Reading) -> None:
        """Latest value per kind, QoS 0 retained; dropped (counted) while disconnected.
        Never blocks, never raises."""
        c = self._chairs.get(reading.chair)
        if c is None or not c.connected:
            self.stats.vitals_dropped += 1
            return
        if str(reading.kind) in c.vitals:
            self.stats.vitals_dropped += 1  # superseded before it went out
        c.vitals[str(reading.kind)] = reading
        c.wake.set()

    def set_active(self, chair: str, alerts: list[dict[str, Any]], t: float | None = None) -> None:
        """The chair's active alert set changed (published retained; again on reconnect)."""
        c = self._chairs.get(chair)
        if c is None:
            raise KeyError(f"unknown chair {chair!r}")
        c.active = {"time": iso(time.time() if t is None else t), "alerts": list(alerts)}
        c.active_dirty = True
        c.wake.set()

    def down_since(self) -> float | None:
        """Since when (monotonic) the longest-down chair's connection has been down; None
        when every chair is connected (for the delivery alarm, monitord/delivery.py)."""
        downs = [c.down_since for c in self._chairs.values() if c.down_since is not None]
        return min(downs) if downs else None

    @property
    def connected(self) -> bool:
        return all(c.connected for c in self._chairs.values())

    # -- main loop -----------------------------------------------------------------------
    async def run(self) -> None:
        tasks = [asyncio.create_task(self._chair_loop(c)) for c in self._chairs.values()]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _tls_context(self) -> ssl.SSLContext | None:
        t = self.cfg.tls
        if t is None:
            return None
        ctx = ssl.create_default_context(cafile=str(t.ca_file) if t.ca_file else None)
        if t.cert_file is not None:
            ctx.load_cert_chain(str(t.cert_file), str(t.key_file) if t.key_file else None)
        ctx.check_hostname = t.check_hostname
        return ctx

    def _client(self, chair: str) -> aiomqtt.Client:
        password = read_secret(self.cfg.password_file, "MONITORD_MQTT_PASSWORD")
        ident = self.cfg.client_id
        ident = f"{ident}-{chair}" if ident else f"monitord-{self.site}-{chair}"
        return aiomqtt.Client(
            self.cfg.host,
            self.cfg.port,
            username=self.cfg.username,
            password=password,
            identifier=ident,
            clean_session=False,
            will=aiomqtt.Will(f"{self.base(chair)}/status", self._status("offline"), 1, True),
            timeout=self.cfg.timeout_s,
            keepalive=self.cfg.keepalive_s,
            tls_context=self._tls_context(),
            logger=paho_log,
        )

    async def _chair_loop(self, c: _ChairLink) -> None:
        backoff = Backoff(self.backoff_base_s, self.backoff_cap_s)
        flog = FailureLog(log, f"MQTT {c.chair}")
        while True:
            try:
                client = self._client(c.chair)
                async with client:
                    self._up(c)
                    self.stats.connects += 1
                    backoff.reset()
                    flog.success()
                    log.info("MQTT %s: connected to %s:%d", c.chair, self.cfg.host, self.cfg.port)
                    try:
                        await self._serve(c, client)
                    except asyncio.CancelledError:
                        # Clean stop: say so (the Last Will is only for a crash).
                        self._down(c)
                        with contextlib.suppress(Exception):
                            await client.publish(
                                f"{self.base(c.chair)}/status",
                                self._status("offline"),
                                1,
                                True,
                                timeout=min(self.cfg.timeout_s, 2.0),
                            )
                        raise
            except (aiomqtt.MqttError, OSError, ssl.SSLError, TimeoutError) as e:
                self._down(c)
                cls, msg = _describe(e, self.cfg)
                self.stats.last_error = msg
                delay = backoff.next_delay()
                flog.failure(
                    cls,
                    f"{msg}; {self.outbox.backlog('mqtt', c.chair)} alert events queued; "
                    f"retrying in {delay:.1f} s",
                    logging.ERROR if cls in ("auth", "tls") else logging.WARNING,
                )
                await asyncio.sleep(delay)
            except Exception as e:
                # A bug on one chair's connection: reconnect that chair only. Letting it
                # end the sink task would tear down every chair's connection with it
                # (and re-trigger the bug on each restart if it came from the broker).
                self._down(c)
                self.stats.last_error = f"internal error: {e!r}"
                delay = backoff.next_delay()
                flog.failure(
                    "bug",
                    f"internal error {e!r} (a bug: please report it with this line); "
                    f"reconnecting in {delay:.1f} s",
                    logging.ERROR,
                )
                await asyncio.sleep(delay)

    def _up(self, c: _ChairLink) -> None:
        c.connected = True
        c.down_since = None

    def _down(self, c: _ChairLink) -> None:
        if c.connected or c.down_since is None:
            c.down_since = time.monotonic()
        c.connected = False
        c.vitals.clear()

    async def _serve(self, c: _ChairLink, client: aiomqtt.Client) -> None:
        base = self.base(c.chair)
        _nodelay(client)
        await client.publish(f"{base}/status", self._status("online"), 1, True)
        if self.cfg.ha_discovery:
            for topic, doc in discovery(self.cfg.ha_prefix, base, self.site, c.chair):
                await client.publish(topic, json.dumps(doc).encode(), 1, True)
        await client.subscribe([(f"{base}/cmd/ack", 1), (f"{base}/cmd/session", 1)])
        if c.active is not None:
            c.active_dirty = True  # republish on every reconnect
        rx = asyncio.create_task(self._rx(c, client))
        tx = asyncio.create_task(self._tx(c, client))
        try:
            done, _ = await asyncio.wait((rx, tx), return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()  # re-raise the MqttError that ended it
        finally:
            for t in (rx, tx):
                t.cancel()
            await asyncio.gather(rx, tx, return_exceptions=True)

    async def _tx(self, c: _ChairLink, client: aiomqtt.Client) -> None:
        base = self.base(c.chair)
        me = asyncio.current_task()
        while True:
            if me is not None and me.cancelling():
                # A stop that a library's asyncio.wait_for swallowed (Python 3.11, e.g. in
                # a publish): honour it, or `monitord run` hangs on SIGTERM (monitord/aio.py).
                raise asyncio.CancelledError
            c.wake.clear()
            # 1. queued alert events, in order, each confirmed by the broker
            rows = self.outbox.fetch("mqtt", EVENT_BATCH, chair=c.chair)
            if rows:
                # Publishes are handed to paho in this order on one connection, so they
                # arrive in order; we await all PUBACKs before marking.
                await asyncio.gather(
                    *(
                        client.publish(
                            f"{base}/alerts/events",
                            json.dumps(alert_from_body(r.body).to_mqtt()).encode(),
                            1,
                            False,
                        )
                        for r in rows
                    )
                )
                self.outbox.mark_delivered("mqtt", [r.id for r in rows])
                self.stats.events_sent += len(rows)
                continue
            # 2. the active set, after the events that led to it
            if c.active_dirty and c.active is not None:
                c.active_dirty = False
                try:
                    await client.publish(
                        f"{base}/alerts/active", json.dumps(c.active).encode(), 1, True
                    )
                except BaseException:
                    c.active_dirty = True
                    raise
            # 3. live vitals, best effort
            while c.vitals:
                kind, r = c.vitals.popitem()
                await client.publish(
                    f"{base}/vitals/{kind}", json.dumps(r.to_json()).encode(), 0, True
                )
                self.stats.vitals_sent += 1
            with contextlib.suppress(TimeoutError):
                await within(c.wake.wait(), 1.0)  # never swallows a stop (monitord/aio.py)

    async def _rx(self, c: _ChairLink, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            try:
                await self._on_message(c, client, msg)
            except aiomqtt.MqttError:
                raise  # the connection: reconnect as for any other loss
            except Exception as e:
                # One command must never take MQTT down for every chair: whatever it
                # was, it gets an error reply and the next message is served.
                log.exception("MQTT %s: command on %s failed", c.chair, msg.topic)
                await self._reject(
                    client, self.base(c.chair), str(msg.topic), b"", f"internal error: {e!r}"
                )

    async def _on_message(
        self, c: _ChairLink, client: aiomqtt.Client, msg: aiomqtt.Message
    ) -> None:
        base = self.base(c.chair)
        topic = str(msg.topic)
        which = topic.rsplit("/", 1)[-1]
        payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
        if not payload:
            return  # an empty message clears a retained one (ours below included)
        self.stats.commands += 1
        if msg.retain:
            # Delivered because we (re)subscribed, not because a nurse just sent it: a
            # retained `end` would otherwise end whatever session is open at every
            # reconnect. Clear it (a broker ACL may refuse that; then the station must).
            await client.publish(topic, b"", 1, True)
            await self._reject(
                client,
                base,
                topic,
                payload,
                "retained command ignored: commands must be sent without retain (a "
                "retained one is replayed on every reconnect); clearing it on the broker",
            )
            return
        try:
            cmd = parse_command(
                which, payload, now=time.time(), max_age_s=self.cfg.command_max_age_s
            )
        except CommandError as e:
            await self._reject(client, base, topic, payload, str(e))
            return
        try:
            err = await self.on_command(c.chair, cmd)
        except Exception as e:
            log.exception("MQTT %s: command handler failed on %s", c.chair, topic)
            err = f"internal error: {type(e).__name__}"
        if err:
            await self._reject(client, base, topic, payload, err)

    async def _reject(
        self, client: aiomqtt.Client, base: str, topic: str, payload: bytes, why: str
    ) -> None:
        self.stats.command_errors += 1
        log.warning("MQTT: rejected command on %s: %s", topic, why)
        body = {
            "time": iso(time.time()),
            "topic": topic,
            "error": why,
            "payload": payload[:500].decode("utf-8", "replace"),
        }
        await client.publish(f"{base}/cmd/errors", json.dumps(body).encode(), 1, False)


def _nodelay(client: aiomqtt.Client) -> None:
    """Turn Nagle off on the broker connection. paho leaves it on, so an alert event
    published while an earlier small packet (a QoS 0 vitals publish) is still unacknowledged
    waits for the broker's delayed ACK: ~40 ms on Linux (bench/results.md, alert latency).
    MQTT packets are whole messages written at once, so nothing is gained by coalescing."""
    sock = client._client.socket()
    setsockopt = getattr(sock, "setsockopt", None)  # a TLS or websocket wrapper may lack it
    if setsockopt is not None:
        with contextlib.suppress(OSError):
            setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
