"""A run on a store in memory is NOT RECORDED in the next report on the store.

The chair's card is remounted read-only (a failing SD card does so): the daemon restarts
on a store in memory (`store.memory`) and keeps nothing. A nurse ends the open session
(refused: the engine in memory has none), then starts, doses and ends another; the card
is back, the daemon restarts on the store. Before, the report on it showed the first
session with "monitord stopped (clean stop): no monitoring and no alarms" for that time
and nothing at all of the second: the dosed session was absent without a word. Now the
run in memory leaves a marker in the runtime directory (RAM), the next start moves it
into the store, and every report on it that touches that time says it was not recorded
(one line on stderr), the time and where to look.

Real parts: a real tmpfs remounted read-only, `monitord run` as a subprocess, the e2e
Masimo oximeter on a pty, the real mosquitto for the session commands, `monitord report`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.e2e_kit import (
    CHAIR,
    NO_INFLUX,
    SITE,
    DaemonProcess,
    LiveFeed,
    Oximeter,
    Store,
    mqtt_section,
    write_config,
)
from tests.faults.storekit import remount, tmpfs
from tests.faults.test_mqtt_commands import cmd, connects, publish, sessions
from tests.kit import eventually
from tests.servers import Mosquitto


class Daemon(DaemonProcess):
    """With its runtime directory (RAM in the unit) in the test's folder."""

    def __init__(self, cfg: Path, log: Path, run: Path) -> None:
        super().__init__(cfg, log)
        self.run = run

    def env(self) -> dict[str, str] | None:
        return {**os.environ, "RUNTIME_DIRECTORY": str(self.run)}


def report(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitord", "report", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def on_card(tmp: Path, card: Path, broker: Mosquitto, prefix: str) -> Path:
    cfg = write_config(
        tmp, mqtt=mqtt_section(broker, prefix), influx=NO_INFLUX, extra="commit_interval_s = 0.5\n"
    )
    cfg.write_text(cfg.read_text().replace(str(tmp / "outbox.sqlite"), str(card / "outbox.sqlite")))
    return cfg


async def test_a_run_on_a_store_in_memory_is_not_recorded_in_the_next_report(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    b, log = f"{mqtt_prefix}/{SITE}/{CHAIR}", tmp_path / "daemon.log"
    with tmpfs(tmp_path / "card", "16m") as card:
        cfg = on_card(tmp_path, card, mosquitto, mqtt_prefix)
        db = card / "outbox.sqlite"
        store = Store(db)
        async with Oximeter(tmp_path) as ox, LiveFeed(ox, period_s=0.25):
            d = Daemon(cfg, log, run)
            d.start()
            try:
                await eventually(lambda: connects(d) == 1, 30, "connected")
                await publish(mosquitto, f"{b}/cmd/session", cmd("start", session_id="s-a"))
                await publish(mosquitto, f"{b}/cmd/session", cmd("dose_start"))
                await eventually(lambda: sessions(store) == ["start", "dose_start"], 20, "dose")
            finally:
                assert d.stop() == 0, d.output()
            remount(card, "ro")
            d = Daemon(cfg, log, run)
            d.start()
            try:
                await eventually(lambda: connects(d) == 2, 30, "connected in memory")
                assert "TECHNICAL ALARM store.memory" in d.output(), d.output()
                await publish(mosquitto, f"{b}/cmd/session", cmd("end", session_id="s-a"))
                await publish(mosquitto, f"{b}/cmd/session", cmd("start", session_id="s-b"))
                await publish(mosquitto, f"{b}/cmd/session", cmd("dose_start"))
                await publish(mosquitto, f"{b}/cmd/session", cmd("end", session_id="s-b"))
                # Taken in order: a second refused end says s-b's end was taken before it.
                await publish(mosquitto, f"{b}/cmd/session", cmd("end"))
                refused = "command refused: chair-1: no open session to end"
                await eventually(lambda: d.output().count(refused) == 2, 20, "s-b ended")
            finally:
                assert d.stop() == 0, d.output()
            remount(card, "rw")
            d = Daemon(cfg, log, run)
            d.start()
            try:
                await eventually(lambda: connects(d) == 3, 30, "connected on the card")
            finally:
                assert d.stop() == 0, d.output()
        assert "Traceback" not in d.output(), d.output()
        assert sessions(store) == ["start", "dose_start"], sessions(store)  # s-b: nowhere
        check_reports(db, tmp_path / "r")


def check_reports(db: Path, out: Path) -> None:
    listed = report(db, "--list")
    assert listed.returncode == 0, listed.stderr
    assert "\ts-a\t" in listed.stdout and "s-b" not in listed.stdout, listed.stdout
    said = [ln for ln in listed.stderr.splitlines() if "NOT RECORDED from " in ln]
    assert len(said) == 1, listed.stderr
    assert "a store in memory" in said[0] and "a session started then" in said[0], said

    rec = report(db, "--session", "s-a", "--out", str(out))
    assert rec.returncode == 0, rec.stderr
    assert "NOT RECORDED from " in rec.stderr, rec.stderr

    # A day with no session kept (s-b's, had it been alone): the error line says it too.
    today = datetime.now(UTC).date().isoformat()
    none = report(db, "--date", today, "--chair", "chair-9", "--out", str(out))
    assert none.returncode == 66, none
    lines = none.stderr.strip().splitlines()
    assert len(lines) == 1 and "NOT RECORDED from " in lines[0], none.stderr
