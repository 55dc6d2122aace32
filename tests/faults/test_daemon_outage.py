"""monitord itself not running in the middle of a session (killed, crashed, a power cut,
stopped) is a gap in that session's report, with its bounds: before, the report's gaps
came from alert episodes only, and a daemon outage read as continuous monitoring.

A real `monitord run` child, the e2e chair (a Masimo oximeter on a pty, fed once a
second), the real mosquitto for the nurse's session commands, and `monitord report` on
the store the daemon wrote. The daemon is SIGKILLed mid-session (no chance to say
anything), down for DOWN_S, restarted; then stopped cleanly (SIGTERM) and restarted; the
session ends; the report must say monitord was not running from about the kill to the
restart, and stopped from the SIGTERM to the second restart.
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from tests.e2e.e2e_kit import (
    DaemonProcess,
    LiveFeed,
    Oximeter,
    commanded_chair,
    in_thread,
)
from tests.faults.test_mqtt_commands import cmd, connects, publish, sessions
from tests.kit import eventually
from tests.servers import Mosquitto

DOWN_S = 4.0  # how long the daemon stays dead
# Readings are committed every 0.5 s and arrive once a second: the store's last write
# before the kill is at most ~1.5 s old; 2.5 s with a busy machine, under DOWN_S, so a
# gap dated from anything but the kill (or missing) cannot pass.
EARLY_S = 2.5
SID = "s-outage"


def report_gaps(db: Path, out: Path) -> tuple[list[dict[str, str]], str]:
    args = ["report", "--db", str(db), "--session", SID, "--out", str(out)]
    r = subprocess.run(
        [sys.executable, "-m", "monitord", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    with open(out / f"{SID}-events.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["source"] == "gap"]
    return rows, (out / f"{SID}.html").read_text()


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def test_a_kill9_mid_session_is_a_gap_of_its_report(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b, cfg, db, store = commanded_chair(tmp_path, mosquitto, mqtt_prefix)
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path) as ox, LiveFeed(ox):
        daemon.start()
        try:
            await eventually(lambda: connects(daemon) == 1, 30, "daemon connected")
            await publish(mosquitto, f"{b}/cmd/session", cmd("start", session_id=SID))
            await eventually(lambda: sessions(store) == ["start"], 20, "start taken")
            n = store.readings()
            await eventually(lambda: store.readings() >= n + 2, 20, "readings in the session")
            killed = time.time()
            await in_thread(daemon.kill)
            await asyncio.sleep(DOWN_S)
            restarted = time.time()
            daemon.start()
            await eventually(lambda: connects(daemon) == 2, 30, "daemon connected again")
            ready = time.time()
            # Then a clean stop (SIGTERM, as `systemctl stop`): a gap too, said so.
            termed = time.time()
            assert await in_thread(daemon.stop) == 0
            stopped = time.time()
            await asyncio.sleep(1.0)
            restarted2 = time.time()
            daemon.start()
            await eventually(lambda: connects(daemon) == 3, 30, "daemon connected again")
            ready2 = time.time()
            await publish(mosquitto, f"{b}/cmd/session", cmd("end"))
            await eventually(lambda: sessions(store) == ["start", "end"], 20, "end taken")
        finally:
            daemon.stop()
    gaps, html = report_gaps(db, tmp_path / "report")
    down = [g for g in gaps if g["name"] == "daemon_down"]
    assert len(down) == 2, gaps
    kill, stop = down
    # Times in the CSV are whole seconds: 1 s of rounding either way.
    start, end = epoch(kill["time_utc"]), epoch(kill["event"])
    print("kill: from", start - killed, "to", end - restarted, "ready", ready - restarted)
    assert killed - EARLY_S - 1 <= start <= killed + 1, (start - killed, kill)
    assert restarted - 1 <= end <= ready + 1, (end - restarted, ready - restarted, kill)
    assert kill["detail"].startswith("monitord not running (no clean stop recorded"), kill
    # The clean stop is dated by the stop itself (the SIGTERM), not by the last write.
    start, end = epoch(stop["time_utc"]), epoch(stop["event"])
    print("stop: from", start - termed, "to", end - restarted2, "ready", ready2 - restarted2)
    assert termed - 1 <= start <= stopped + 1, (start - termed, stopped - termed, stop)
    assert restarted2 - 1 <= end <= ready2 + 1, (end - restarted2, ready2 - restarted2, stop)
    assert stop["detail"].startswith("monitord stopped (clean stop)"), stop
    assert "no monitoring from" in html and "not running 2 times" in html
    # ... and the restarted daemon's log said so.
    assert "no clean stop recorded" in daemon.output(), daemon.output()[-2000:]
    # The readiness floor and the rest of the record are another test's; here only that
    # the stored outage is the report's, local only (nothing of it went out as an alert).
    assert not [e for e in store.alert_events() if "daemon" in json.dumps(e)]
