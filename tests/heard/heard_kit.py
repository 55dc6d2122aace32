"""Shared parts of the issue-16 tests ("an alarm that is not heard is an alarm"): the
shipped broker config and ACL on a real mosquitto (tests/acl_kit.py), a real `monitord
run` subprocess whose stderr is a journald-style stream, a Masimo oximeter on a pty fed by
the test (tests/e2e/e2e_kit.py), and a station-1 login that watches everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt

from monitord.techalarm import read_alarm_file
from tests.acl_kit import SITE, AclMosquitto, acl_config, oximeter_chair
from tests.e2e.e2e_kit import (
    FAST_SPO2_ALERT,
    DaemonProcess,
    Oximeter,
    Store,
    port_path,
    whole_second,
)
from tests.kit import eventually

USERS = {
    "chair-1": "pw-chair-1",
    "chair-2": "pw-chair-2",
    "station-1": "pw-station-1",
    "station-2": "pw-station-2",
}


def add_station(broker: AclMosquitto, user: str) -> None:
    """Give `user` the shipped ACL's station lines (as the ACL's comment says to do for a
    second tablet). The broker is restarted (it saves its retained messages on a clean
    stop), not reloaded: a SIGHUP is handled at some later moment, and a login racing it
    would read under the old ACL."""
    text = broker.acl_file.read_text()
    lines = text[text.index("user station-1") :].replace("station-1", user)
    broker.acl_file.write_text(text + "\n" + lines)
    broker.stop()
    broker.start()


DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"

CHAIR = "chair-2"
BASE = f"monitord/{SITE}/{CHAIR}"


def password_file(tmp: Path, user: str) -> Path:
    p = tmp / f"{user}.pass"
    p.write_text(USERS[user] + "\n")
    p.chmod(0o600)
    return p


def chair_config(tmp: Path, broker: AclMosquitto, chair: str) -> Path:
    """One chair `chair`, logging in as itself (the shipped ACL's way), an oximeter."""
    return acl_config(
        tmp,
        broker,
        login=f'username = "{chair}"\npassword_file = "{password_file(tmp, chair)}"',
        storage="commit_interval_s = 0.5",
        alerts=FAST_SPO2_ALERT,
        chairs=oximeter_chair(chair, port_path(tmp)),
    )


def write_config(
    tmp: Path,
    broker: AclMosquitto,
    *,
    username: str,
    per_chair: bool = False,
    annunciator: str = "",
    devices: bool = True,
    mqtt_extra: str = "",
    storage_extra: str = "",
) -> Path:
    """chair-2 with a Masimo oximeter on tmp/ox.tty, logging in as `username` (in [mqtt],
    or as the chair's own login with `per_chair`); `mqtt_extra`, `storage_extra`: more
    `[mqtt]`, `[storage]` lines."""
    login = f'username = "{username}"\npassword_file = "{password_file(tmp, username)}"'
    chair_login = ""
    if per_chair:
        login = ""
        chair_login = (
            f'mqtt_username = "{username}"\nmqtt_password_file = "{password_file(tmp, username)}"'
        )
    device = f"""
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "{port_path(tmp)}"
"""
    return acl_config(
        tmp,
        broker,
        login=login,
        mqtt_extra=mqtt_extra,
        storage=f"max_mb = 1\n{storage_extra}\n{annunciator}",
        alerts=FAST_SPO2_ALERT,
        chairs=f'[[chairs]]\nid = "{CHAIR}"\n{chair_login}\n{device if devices else ""}',
    )


def annunciator_script(tmp: Path) -> tuple[str, Path]:
    """An `[annunciator]` section whose command (a real script) appends its argument and
    $MONITORD_ANNUNCIATOR to a file; the file."""
    out = tmp / "annunciator.out"
    script = tmp / "annunciator.sh"
    script.write_text(f'#!/bin/sh\necho "$1 $MONITORD_ANNUNCIATOR" >> "{out}"\n')
    script.chmod(0o755)
    return f'[annunciator]\ncommand = ["{script}"]\n', out


def patterns(out: Path) -> list[str]:
    """The annunciator patterns the script was run with, in order."""
    if not out.exists():
        return []
    lines = [ln.split() for ln in out.read_text().splitlines()]
    assert all(len(p) == 2 and p[0] == p[1] for p in lines), lines  # argument == env
    return [p[0] for p in lines]


class JournalDaemon(DaemonProcess):
    """`monitord run` whose stderr (its log file) is announced as the journal's stream:
    JOURNAL_STREAM = that file's device:inode, as systemd sets it (systemd.exec(5))."""

    def env(self) -> dict[str, str]:
        self.log.touch()
        st = os.stat(self.log)
        return {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}


def alarms(store: Path) -> dict[str, Any]:
    return read_alarm_file(store) or {"active": {}, "cleared": {}}


def backlog_of(store: Store, chair: str) -> int:
    """How many of `chair`'s records `store` holds queued for MQTT."""
    rows = store._q("SELECT count(*) FROM pending WHERE sink = 'mqtt' AND chair = ?", chair)
    return int(rows[0][0]) if rows else 0


async def raise_queued(tmp: Path, store: Store, daemon: DaemonProcess, chair: str) -> None:
    """Runs `daemon` (its broker away) with the oximeter on tmp/ox.tty reading 80 % until
    spo2.very_low is raised and `chair`'s MQTT queue holds records, then stops it: the
    first run of each re-chair test, whose undelivered events the next start must deal with."""
    async with Oximeter(tmp) as ox:
        daemon.start()
        try:
            for _ in range(150):
                await ox.send(80.0, whole_second())
                await asyncio.sleep(0.2)
                if any(e["event"] == "raised" for e in store.alert_events()):
                    break
            await eventually(lambda: backlog_of(store, chair) > 0, 20, f"{chair}'s queue")
        finally:
            assert daemon.stop() == 0, daemon.output()


def clearing_block() -> str:
    """operations.md's block that clears a moved Pi's old chair id off the broker, as
    written (its marker names tests/heard/test_rechair_retained.py, which runs it)."""
    text = DOC.read_text()
    section = text[text.index("## A Pi moved to another chair") :]
    m = re.search(
        r"```sh\n# tested by: tests/heard/test_rechair_retained.py[^\n]*\n(.*?)```", section, re.S
    )
    assert m, "operations.md has no clearing block tested by this file"
    return m.group(1)


async def run_clearing(tmp: Path, broker: AclMosquitto, password: str) -> None:
    """The clearing block as written for old=chair-1, the clinic's broker and CA replaced by
    the test's, logged in as chair-1 (`password`) through its own options file."""
    assert broker.tls is not None
    conf = tmp / "home" / ".config" / "retire-chair"
    conf.mkdir(parents=True)
    (conf / "mosquitto_pub").write_text(f"-u chair-1\n-P {password}\n")
    (conf / "mosquitto_pub").chmod(0o600)
    block = (
        clearing_block()
        .replace("old=chair-3", "old=chair-1")
        .replace("broker.clinic.lan", broker.host)
        .replace("-p 8883", f"-p {broker.port}")
        .replace("/etc/monitord/tls/clinic-ca.pem", str(broker.tls.ca_file))
        .replace("clinic-north", SITE)
    )
    r = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", "set -euo pipefail\n" + block],
        env={**os.environ, "HOME": str(tmp / "home")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


def retained_set(broker: AclMosquitto, chair: str, user: str, password: str) -> dict[str, bytes]:
    """What a station (`user`) subscribing now is given for `chair`: the broker's retained
    messages under it, topic to payload (mosquitto_sub, 2 s for them to come)."""
    assert broker.tls is not None
    p = subprocess.run(
        [
            "mosquitto_sub", "-h", broker.host, "-p", str(broker.port),
            "--cafile", str(broker.tls.ca_file), "-u", user, "-P", password,
            "-t", f"monitord/{SITE}/{chair}/#", "-v", "-W", "2", "--retained-only",
        ],
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    out: dict[str, bytes] = {}
    for line in p.stdout.splitlines():
        topic, _, payload = line.partition(b" ")
        out[topic.decode()] = payload
    return out


def status_text(store: Path) -> str:
    p = subprocess.run(
        [sys.executable, "-m", "monitord", "status", "--db", str(store)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return p.stdout + p.stderr


class Station:
    """station-1 logged in, subscribed to the whole site; `got` is every message."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.got: list[tuple[str, bytes, bool]] = []

    def events(self, chair: str = CHAIR) -> list[dict[str, Any]]:
        return [
            json.loads(p)
            for t, p, _r in self.got
            if t == f"monitord/{SITE}/{chair}/alerts/events" and p
        ]

    async def _read(self) -> None:
        async for m in self.client.messages:
            payload = m.payload if isinstance(m.payload, bytes) else b""
            self.got.append((str(m.topic), payload, bool(m.retain)))

    async def publish(self, topic: str, doc: dict[str, Any], retain: bool = False) -> None:
        await self.client.publish(topic, json.dumps(doc).encode(), qos=1, retain=retain)


@contextlib.asynccontextmanager
async def station(broker: AclMosquitto, user: str = "station-1") -> AsyncIterator[Station]:
    assert broker.tls is not None
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        username=user,
        password=USERS[user],
        identifier=user,
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=ssl.create_default_context(cafile=str(broker.tls.ca_file)),
        timeout=10,
    ) as c:
        await c.subscribe(f"monitord/{SITE}/#", qos=1)
        st = Station(c)
        task = asyncio.create_task(st._read())
        try:
            yield st
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task
