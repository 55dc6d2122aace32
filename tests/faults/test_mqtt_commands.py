"""Issue 12, defects 7, 8 and the paho part of 15: hostile or stale commands against a
real `monitord run` subprocess and the real mosquitto.

The chair is the e2e chair (tests/e2e/e2e_kit.py): a Masimo oximeter on a pty. Nurses
are real MQTT clients (aiomqtt, persistent session). Session state is read from the
daemon's store (`session` records), never from the daemon's memory.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt

from tests.e2e.e2e_kit import (
    CHAIR,
    FAST_SPO2_ALERT,
    NO_INFLUX,
    SITE,
    DaemonProcess,
    LiveFeed,
    Oximeter,
    Store,
    in_thread,
    mqtt_section,
    write_config,
)
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

DEEP = 50_000  # the nesting that crashed the sink (RecursionError in json.loads)
# As deep as fits under the 4 KiB command limit, still far past json.loads' recursion
# limit (1000): the nesting check itself, not the size check, must refuse it.
NESTED = 2_000


def base(prefix: str) -> str:
    return f"{prefix}/{SITE}/{CHAIR}"


def sessions(store: Store) -> list[str]:
    """Session actions the daemon committed, in order."""
    return [
        json.loads(b)["action"]
        for (b,) in store._q("SELECT body FROM records WHERE type='session' ORDER BY id")
    ]


def connects(daemon: DaemonProcess, chair: str = CHAIR) -> int:
    """Connections that are ready for commands: counted at the SUBACK, not at the CONNACK
    (a command published between the two is not queued for a first-time session)."""
    return daemon.output().count(f"MQTT {chair}: subscribed to")


async def publish(broker: Mosquitto, topic: str, payload: bytes, retain: bool = False) -> None:
    """One QoS 1 publish from a short-lived client (a nurse's station)."""
    async with aiomqtt.Client(broker.host, broker.port, timeout=10) as c:
        await c.publish(topic, payload, qos=1, retain=retain)


async def retained_on(broker: Mosquitto, topic: str) -> list[bytes]:
    """Retained messages a new subscriber gets on `topic`: they arrive right after the
    SUBACK, before a sentinel this client publishes afterwards on a topic it also reads."""
    sentinel = f"{topic}/sentinel"
    got: list[bytes] = []
    async with aiomqtt.Client(broker.host, broker.port, timeout=10) as c:
        await c.subscribe([(topic, 1), (sentinel, 1)])
        await c.publish(sentinel, b"s", qos=1)
        async for m in c.messages:
            if str(m.topic) == sentinel:
                return got
            assert isinstance(m.payload, bytes)
            got.append(m.payload)
    raise AssertionError("unreachable")


def cmd(action: str, **kw: Any) -> bytes:
    return json.dumps({"action": action, **kw}).encode()


def fresh(s: float = 0.0) -> str:
    return (datetime.now(UTC) - timedelta(seconds=s)).isoformat()


def config(tmp_path: Path, broker: Mosquitto, prefix: str, extra: str = "") -> Path:
    return write_config(tmp_path, mqtt=mqtt_section(broker, prefix), influx=NO_INFLUX, extra=extra)


@contextlib.asynccontextmanager
async def daemon_answering(
    tmp_path: Path, broker: Mosquitto, prefix: str
) -> AsyncIterator[tuple[DaemonProcess, Observer]]:
    """The daemon (an oximeter on its serial port) connected to `broker`, and a nurse's
    observer of chair-1's `cmd/errors`, for the block; the daemon stopped at its end."""
    daemon = DaemonProcess(config(tmp_path, broker, prefix), tmp_path / "daemon.log")
    async with Oximeter(tmp_path), Observer(broker, [f"{base(prefix)}/cmd/errors"]) as nurse:
        daemon.start()
        try:
            await eventually(lambda: connects(daemon) == 1, 30, "daemon connected")
            yield daemon, nurse
        finally:
            daemon.stop()


# -- defect 7: retained and stale commands ---------------------------------------------
async def test_retained_end_is_refused_live_and_not_replayed_after_a_broker_restart(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    store = Store(tmp_path / "outbox.sqlite")
    async with daemon_answering(tmp_path, mosquitto, mqtt_prefix) as (daemon, nurse):
        # A station that publishes its commands with retain set: its `end` is refused
        # live, not only when the broker replays it (docs/mqtt.md "Commands"). The
        # daemon subscribes with "retain as published", so it sees the flag; executed,
        # it would be replayed (and end the open session) at every reconnect.
        await publish(mosquitto, f"{b}/cmd/session", cmd("start"))
        await eventually(lambda: sessions(store) == ["start"], 20, "start taken")
        await publish(mosquitto, f"{b}/cmd/session", cmd("end"), retain=True)
        await eventually(lambda: nurse.of("cmd/errors"), 20, "cmd/errors answer")
        (err,) = nurse.of("cmd/errors")
        assert err["topic"] == f"{b}/cmd/session"
        assert "retained" in err["error"] and json.loads(err["payload"]) == {"action": "end"}
        # ... and cleared from the broker before that answer (the clear, an empty
        # retained message, is no command to refuse).
        assert await retained_on(mosquitto, f"{b}/cmd/session") == []
        await publish(mosquitto, f"{b}/cmd/session", cmd("dose_start"))
        await eventually(lambda: len(sessions(store)) == 2, 20, "dose_start taken")
        # The broker restarts: the re-subscription brings nothing back.
        await in_thread(mosquitto.stop)
        await in_thread(mosquitto.start)
        await eventually(lambda: connects(daemon) == 2, 60, "daemon reconnected")
        await publish(mosquitto, f"{b}/cmd/session", cmd("dose_end"))
        await eventually(lambda: len(sessions(store)) >= 3, 20, "dose_end taken")
        assert sessions(store) == ["start", "dose_start", "dose_end"]
        assert len(nurse.of("cmd/errors")) == 1


async def test_time_out_of_range_is_refused_with_its_payload(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    store = Store(tmp_path / "outbox.sqlite")
    async with daemon_answering(tmp_path, mosquitto, mqtt_prefix) as (daemon, nurse):
        # Valid ISO 8601 with a zone, but before year 1 in UTC: converting it for the
        # age check overflowed ("internal error", no payload, a traceback).
        bad = cmd("start", time="0001-01-01T00:00:00+14:00")
        await publish(mosquitto, f"{b}/cmd/session", bad)
        await eventually(lambda: nurse.of("cmd/errors"), 20, "cmd/errors answer")
        (err,) = nurse.of("cmd/errors")
        assert err["error"] == ("time: out of range: 0001-01-01T00:00:00+14:00 is no date in UTC")
        assert err["payload"] == bad.decode()
        await publish(mosquitto, f"{b}/cmd/session", cmd("start", time=fresh()))
        await eventually(lambda: sessions(store) == ["start"], 20, "start taken")
    assert "Traceback" not in daemon.output() and "internal error" not in daemon.output()


async def test_empty_command_is_refused_unless_it_clears_a_retained_one(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    async with daemon_answering(tmp_path, mosquitto, mqtt_prefix) as (daemon, nurse):
        # Retained and empty: the clearing of a retained command, nothing sent.
        await publish(mosquitto, f"{b}/cmd/ack", b"", retain=True)
        # Not retained and empty: a malformed command (design.md section 6).
        await publish(mosquitto, f"{b}/cmd/session", b"")
        await eventually(lambda: nurse.of("cmd/errors"), 20, "cmd/errors answer")
        # A command after both: its answer proves the first two were read.
        await publish(mosquitto, f"{b}/cmd/ack", b"[]")
        await eventually(lambda: len(nurse.of("cmd/errors")) >= 2, 20, "second answer")
        errs = nurse.of("cmd/errors")
        assert [(e["topic"], e["payload"]) for e in errs] == [
            (f"{b}/cmd/session", ""),
            (f"{b}/cmd/ack", "[]"),
        ]
        assert errs[0]["error"] == "payload is empty: a command is a JSON object"
        assert "rejected command on" in daemon.output()


async def test_command_older_than_the_window_is_refused(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    store = Store(tmp_path / "outbox.sqlite")
    async with daemon_answering(tmp_path, mosquitto, mqtt_prefix) as (_, nurse):
        # A command that carries its time is taken while fresh ...
        await publish(mosquitto, f"{b}/cmd/session", cmd("start", time=fresh()))
        # ... and refused once older than mqtt.command_max_age_s (60 s by default),
        # as one delayed by a queue or a station that re-sends yesterday's commands.
        stale = cmd("end", time=fresh(600))
        await publish(mosquitto, f"{b}/cmd/session", stale)
        await eventually(lambda: nurse.of("cmd/errors"), 20, "cmd/errors answer")
        (err,) = nurse.of("cmd/errors")
        assert "older than 60 s" in err["error"], err
        assert err["payload"] == stale.decode()
        await publish(mosquitto, f"{b}/cmd/session", cmd("dose_start", time=fresh(1)))
        await eventually(lambda: len(sessions(store)) >= 2, 20, "dose_start taken")
        assert sessions(store) == ["start", "dose_start"]


# -- defect 8: hostile commands --------------------------------------------------------
async def test_deeply_nested_command_is_answered_and_the_sink_keeps_serving(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    store = Store(tmp_path / "outbox.sqlite")
    cfg = config(tmp_path, mosquitto, mqtt_prefix)
    # A second chair on the same daemon: its connection must not suffer for chair-1's.
    cfg.write_text(cfg.read_text() + '\n[[chairs]]\nid = "chair-2"\n')
    b2 = f"{mqtt_prefix}/{SITE}/chair-2"
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    hostile = b"[" * NESTED + b"]" * NESTED
    async with Oximeter(tmp_path), Observer(mosquitto, [f"{b}/cmd/errors"]) as nurse:
        daemon.start()
        try:
            await eventually(
                lambda: connects(daemon) == 1 and connects(daemon, "chair-2") == 1,
                30,
                "both chairs connected",
            )
            await publish(mosquitto, f"{b}/cmd/ack", hostile)
            await eventually(lambda: nurse.of("cmd/errors"), 20, "cmd/errors answer")
            (err,) = nurse.of("cmd/errors")
            assert "nested" in err["error"], err
            assert len(err["payload"]) <= 500
            # The same connections carry on: the next commands are taken, on both chairs.
            await publish(mosquitto, f"{b}/cmd/session", cmd("start"))
            await publish(mosquitto, f"{b2}/cmd/session", cmd("start"))
            await eventually(lambda: sessions(store) == ["start", "start"], 20, "starts taken")
            assert connects(daemon) == 1 and connects(daemon, "chair-2") == 1
            assert "crashed" not in daemon.output()
        finally:
            daemon.stop()
    assert " ERROR " not in daemon.output() and "Traceback" not in daemon.output()


async def test_retained_hostile_command_costs_no_reconnect_and_no_alert_delay(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    # Left retained on the chair's command topic before the daemon starts.
    await publish(mosquitto, f"{b}/cmd/session", b'{"a":' * DEEP + b"1" + b"}" * DEEP, retain=True)
    daemon = DaemonProcess(
        config(tmp_path, mosquitto, mqtt_prefix, FAST_SPO2_ALERT), tmp_path / "daemon.log"
    )
    async with (
        Observer(mosquitto, [f"{b}/cmd/errors", f"{b}/alerts/events"]) as nurse,
        Oximeter(tmp_path) as ox,
        LiveFeed(ox, spo2=80.0),
    ):
        daemon.start()
        try:
            await eventually(
                lambda: any(e.get("event") == "raised" for e in nurse.of("alerts/events")),
                30,
                "spo2.very_low raised and delivered",
            )
            await eventually(lambda: nurse.of("cmd/errors"), 20, "cmd/errors answer")
            (err,) = nurse.of("cmd/errors")
            assert "retained" in err["error"]
            assert await retained_on(mosquitto, f"{b}/cmd/session") == []
            assert connects(daemon) == 1
            assert "crashed" not in daemon.output()
        finally:
            daemon.stop()


async def test_oversized_command_is_refused_before_parsing(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    store = Store(tmp_path / "outbox.sqlite")
    big = json.dumps({"alert_id": "x" * (1 << 20), "by": "nurse-1"}).encode()
    async with daemon_answering(tmp_path, mosquitto, mqtt_prefix) as (_, nurse):
        await publish(mosquitto, f"{b}/cmd/ack", big)
        await eventually(lambda: nurse.of("cmd/errors"), 20, "cmd/errors answer")
        (err,) = nurse.of("cmd/errors")
        assert f"too large ({len(big)} bytes; limit 4096 bytes)" in err["error"], err
        assert len(err["payload"]) <= 500
        await publish(mosquitto, f"{b}/cmd/session", cmd("start"))
        await eventually(lambda: sessions(store) == ["start"], 20, "start taken")


# Found by hand reading every json.loads on outside bytes after the fuzz round,
# 2026-12-05: the doctor check (mqttv5.is_doctor) ran json.loads unbounded on a station
# status or receipt holding `"doctor"` before their own bounded parsers could refuse it:
# RecursionError, an ERROR traceback and an "internal error" on cmd/errors per chair.
DOCTOR_DEEP = [
    b'{"doctor": true, "x": ' + b"[" * NESTED + b"]" * NESTED + b"}",
    b'["doctor", ' + b"[" * DEEP,
]


async def test_deep_status_or_receipt_naming_doctor_is_refused_by_its_own_parser(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    async with daemon_answering(tmp_path, mosquitto, mqtt_prefix) as (daemon, nurse):
        for payload in DOCTOR_DEEP:
            await publish(mosquitto, f"{mqtt_prefix}/{SITE}/stations/station-9", payload)
            await publish(mosquitto, f"{b}/alerts/receipts", payload)
        # A bad command after them: its answer proves all four were read before it.
        await publish(mosquitto, f"{b}/cmd/ack", b"[]")
        await eventually(lambda: nurse.of("cmd/errors"), 20, "cmd/errors answer")
        assert [e["topic"] for e in nurse.of("cmd/errors")] == [f"{b}/cmd/ack"]
        await eventually(lambda: "receipt on" in daemon.output(), 20, "bad receipt said")
        assert "nested deeper than" in daemon.output()
    assert " ERROR " not in daemon.output() and "Traceback" not in daemon.output()
