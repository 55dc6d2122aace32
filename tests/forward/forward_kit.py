"""Shared parts of the tests of the shipped alert forwards (config/homeassistant/,
config/nodered/): the shipped broker config and ACL on a real mosquitto
(tests/acl_kit.py), a real `monitord run` subprocess reading a Masimo oximeter on a pty
that the test feeds (tests/e2e/e2e_kit.py), the nurses' wallboard logged in as
`station-1` (docs/install.md "The nurses' station"), and a capture of what the chair
published on `alerts/events`: raised and escalated alerts of high, medium and low
priority, two technical alarms (a probe off; the oximeter unplugged), acknowledgements
(one with a nurse's name in non-ASCII letters), clears, and `monitord doctor`'s test
messages.

The chair's id is long (42 characters, as a site naming chairs by wing and room may: the
config takes 64), so its alert ids (`<chair>:<rule>:<ms>`) are longer than 64 bytes; the
device's id too (62), so tech.device_lost's id (139 bytes) and message (180 characters)
are the longest the test sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt

from monitord.models import Kind
from monitord.simulators.base import SimEvent
from tests.acl_kit import REPO, SITE, AclMosquitto, acl_config, oximeter_chair
from tests.e2e.e2e_kit import DaemonProcess, Oximeter, port_path, whole_second
from tests.kit import eventually

CHAIR = "north-wing-treatment-room-2-recliner-chair"
BASE = f"monitord/{SITE}/{CHAIR}"
EVENTS = f"{BASE}/alerts/events"
# A long device id (the config takes 64): tech.device_lost's id and message carry it.
DEVICE = "masimo-rad8-pulse-oximeter-north-wing-room-2-recliner-left-arm"
WALLBOARD = "station-1"  # the wallboard's account (docs/install.md, docs/station.md)
NURSE = "Zoë Ñúñez (看護師)"  # who acknowledges one alert at the wallboard

HA_FILE = REPO / "config" / "homeassistant" / "monitord-alerts.yaml"
NODERED_FILE = REPO / "config" / "nodered" / "alerts-flow.json"

# spo2.low (medium) and spo2.very_low (high) confirmed after 1 s and re-notified every 2 s
# (not 300 s and 120 s) so the test sees `escalated` of both within seconds; a probe off
# for 1 s raises tech.sensor_off (low, technical), a link down for 1 s tech.device_lost
# (medium, technical) at once. Nothing latches.
ALERTS = """
[alerts."spo2.low"]
for_s = 1
clear_for_s = 1
escalate_s = 2
latching = false
[alerts."spo2.very_low"]
for_s = 1
clear_for_s = 1
escalate_s = 2
latching = false
[alerts."tech.sensor_off"]
after_s = 1
[alerts."tech.device_lost"]
after_s = 1
"""


def passwords(*users: str) -> dict[str, str]:
    return {u: f"pw-{u}" for u in (CHAIR, WALLBOARD, *users)}


def start_broker(
    workdir: Path, tls: Any, users: dict[str, str], without: tuple[str, str] | None = None
) -> AclMosquitto:
    """The shipped broker config and ACL, with a station block (the ACL's own
    instruction: "copy this block with its id in the user and the last line") for every
    station account other than the wallboard's; `without` (account, line): that line
    left out of that account's block, as a site's mistake would."""
    srv = AclMosquitto(workdir, tls=tls, users=users)
    srv.start()
    text = srv.acl_file.read_text()
    block = text[text.index(f"user {WALLBOARD}") :]
    extra = [block.replace(WALLBOARD, u) for u in users if u.startswith("station-")]
    if without is not None:
        user, line = without
        extra = [b.replace(line + "\n", "") if f"user {user}\n" in b else b for b in extra]
        assert all(line in b for b in extra if f"user {user}\n" not in b)
    srv.acl_file.write_text(text + "".join("\n" + b for b in extra if b != block))
    srv.stop()
    srv.start()
    return srv


def write_config(tmp: Path, broker: AclMosquitto) -> Path:
    pw = tmp / "chair.pass"
    pw.write_text(broker.users[CHAIR] + "\n")
    pw.chmod(0o600)
    return acl_config(
        tmp,
        broker,
        login=f'username = "{CHAIR}"\npassword_file = "{pw}"',
        storage="max_mb = 1",
        alerts=ALERTS,
        chairs=oximeter_chair(CHAIR, port_path(tmp), device=DEVICE),
    )


@dataclass
class Conn:
    """A logged-in client and the messages it received, in order."""

    client: aiomqtt.Client
    got: list[tuple[str, bytes, bool]]
    task: asyncio.Task[None] | None = None

    @property
    def lost(self) -> bool:
        """Its connection ended (the broker took it: another login of its account)."""
        return self.task is not None and self.task.done()


@contextlib.asynccontextmanager
async def login(broker: AclMosquitto, user: str, topics: list[str]) -> AsyncIterator[Conn]:
    """A client logged in as `user` (MQTT 5, TLS), subscribed to `topics` at QoS 1."""
    assert broker.tls is not None
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        username=user,
        password=broker.users[user],
        identifier=user,
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=ssl.create_default_context(cafile=str(broker.tls.ca_file)),
        timeout=10,
    ) as c:
        for t in topics:
            await c.subscribe(t, qos=1)
        conn = Conn(c, [])

        async def read() -> None:
            async for m in c.messages:
                payload = m.payload if isinstance(m.payload, bytes) else b""
                conn.got.append((str(m.topic), payload, bool(m.retain)))

        conn.task = asyncio.create_task(read())
        try:
            yield conn
        finally:
            conn.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await conn.task


def events(got: list[tuple[str, bytes, bool]]) -> list[dict[str, Any]]:
    return [json.loads(p) for t, p, _ in got if t == EVENTS and p]


class Patient:
    """The oximeter's 1-Hz line, stamped with that second: SpO2 `spo2`, the probe on or
    off (`on`). `unplug()` closes the oximeter's pty (its link goes down), `replug()`
    opens a new one behind the same path (as udev's by-id link after a replug)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.spo2, self.on = tmp, 97.0, True
        self.ox: Oximeter | None = None
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = -1
        while True:
            s = int(time.time())
            if s != last and self.ox is not None:
                values: dict[str, float | None] = {"spo2_pct": self.spo2, "pulse_bpm": 70.0}
                ev = SimEvent(Kind.SPO2, values, contact=None if self.on else False)
                await self.ox.sim.send(ev, whole_second(s))
                last = s
            await asyncio.sleep(0.05)

    async def unplug(self) -> None:
        ox, self.ox = self.ox, None
        if ox is not None:
            await ox.__aexit__(None, None, None)

    async def replug(self) -> None:
        ox = Oximeter(self.tmp)
        await ox.__aenter__()
        self.ox = ox

    async def __aenter__(self) -> Patient:
        await self.replug()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.unplug()


def doctor(cfg: Path) -> str:
    """`monitord doctor` with the daemon stopped: its round trip publishes its test
    messages (`"doctor": true`) on the chair's topics, `alerts/events` among them, as the
    chair. (Not read back as a station: it would log in as the wallboard's account.)"""
    p = subprocess.run(
        [sys.executable, "-m", "monitord", "doctor", "--config", str(cfg), "--timeout", "3"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    return p.stdout + p.stderr


async def wait_event(
    got: list[tuple[str, bytes, bool]],
    rule: str,
    event: str,
    alert_id: str | None = None,
    since: int = 0,
) -> dict[str, Any]:
    """The latest `event` of `rule` among the events from number `since` on (of that
    alert, with `alert_id`), once there is one. Not any earlier one: on a loaded machine
    the daemon's start can take longer than tech.device_lost's 1 s before the oximeter's
    port is open, an episode raised and cleared before the test unplugs it."""

    def find() -> dict[str, Any] | None:
        found = [e for e in events(got)[since:] if e["rule"] == rule and e["event"] == event
                 and alert_id in (None, e["alert_id"])]  # fmt: skip
        return found[-1] if found else None

    try:
        await eventually(lambda: find() is not None, 30, f"{rule} {event} on alerts/events")
    except AssertionError as e:
        errors = [p for t, p, _ in got if t.endswith("/cmd/errors")]
        raise AssertionError(f"{e}; on cmd/errors: {errors}") from None
    found = find()
    assert found is not None
    return found


@contextlib.asynccontextmanager
async def chair_running(tmp: Path, broker: AclMosquitto) -> AsyncIterator[tuple[Path, Patient]]:
    """`monitord run` of the chair, its oximeter fed at SpO2 97; stopped on leaving."""
    cfg = write_config(tmp, broker)
    daemon = DaemonProcess(cfg, tmp / "daemon.log")
    async with Patient(tmp) as patient:
        daemon.start()
        try:
            yield cfg, patient
        finally:
            rc = daemon.stop()
            assert rc == 0, daemon.output()[-3000:]


async def drive(
    patient: Patient,
    wallboard: list[tuple[str, bytes, bool]],
    forwarder_ack: Callable[[dict[str, Any]], Awaitable[None]],
    nurse_ack: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """The patient desaturates (spo2.low, medium, then spo2.very_low, high: each raised
    and escalated), the probe comes off (tech.sensor_off, low, technical), the oximeter
    is unplugged (tech.device_lost, medium, technical: its id and message carry the long
    device id). The forwarder's ACK button (`forwarder_ack(raised event)`) acknowledges
    the high alert and both technical ones, a nurse at the wallboard the medium one
    (`nurse_ack`); then the oximeter is plugged back, the patient recovers and every
    alert clears. Each event is waited for on the wallboard."""
    patient.spo2 = 88.0
    low = await wait_event(wallboard, "spo2.low", "raised")
    await wait_event(wallboard, "spo2.low", "escalated")
    patient.spo2 = 80.0
    very_low = await wait_event(wallboard, "spo2.very_low", "raised")
    await wait_event(wallboard, "spo2.very_low", "escalated")
    patient.on = False
    off = await wait_event(wallboard, "tech.sensor_off", "raised")
    mark = len(events(wallboard))
    await patient.unplug()
    lost = await wait_event(wallboard, "tech.device_lost", "raised", since=mark)
    acks = ((very_low, forwarder_ack), (off, forwarder_ack), (lost, forwarder_ack),
            (low, nurse_ack))  # fmt: skip
    for raised, ack in acks:
        await ack(raised)
        await wait_event(wallboard, raised["rule"], "acknowledged", raised["alert_id"])
    patient.on, patient.spo2 = True, 97.0
    await patient.replug()
    for raised, _ack in acks:
        await wait_event(wallboard, raised["rule"], "cleared", raised["alert_id"])
