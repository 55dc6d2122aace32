"""A wall-clock step the chair clock did not follow is in the session report.

A Pi without RTC boots 3 h behind; NTP steps the wall clock right in the middle of a
session. The session has alarm timers pending, so the chair clock keeps running 3 h
behind (clinical-rules.md "Delivery of alarms": it only moves forward, and continuous) and
every time of that session is stored 3 h off UTC. Before, only a WARNING in the journal
said so, and the report (what the clinical lead copies onto the REMS form) showed the
dose and BP times 3 h off without a word. Now the chair keeps the stretch with its clock
row and the report opens its form with a red TIMES OFF UTC line, in HTML, PDF and CSV,
from the session's start: the daemon started before it on the wall clock 3 h behind, so
the times before the step are as far off (before, the line began at the step, after the
dose, and said nothing of the dose's time).

A real `monitord run` under libfaketime (`FakeWall`), the e2e Masimo oximeter on a pty,
the real mosquitto for the nurse's session commands, `monitord report` on the store. The
second session, after the chair clock followed the step (nothing pending after the first
session's end), is on UTC: its report has no such line.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from tests.e2e.e2e_kit import (
    LiveFeed,
    Oximeter,
    commanded_chair,
)
from tests.faults.clock_kit import daemon_behind
from tests.faults.test_mqtt_commands import cmd, connects, publish, sessions
from tests.kit import eventually
from tests.servers import Mosquitto

BEHIND_S = 3 * 3600  # the boot error NTP corrects in the middle of the first session
STEPPED, STEADY = "s-stepped", "s-steady"
# Lines 4 a second: the test waits for a number of readings; what it checks (the report's
# TIMES OFF UTC line) comes from the chair clock's row, not from the device stamps.
FEED_S = 0.25


def report(db: Path, sid: str, out: Path) -> tuple[dict[str, str], str]:
    """The session's form fields (events CSV, source `form`) and its HTML page."""
    args = ["report", "--db", str(db), "--session", sid, "--out", str(out)]
    r = subprocess.run(
        [sys.executable, "-m", "monitord", *args], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    with open(out / f"{sid}-events.csv", newline="") as f:
        form = {row["name"]: row["detail"] for row in csv.DictReader(f) if row["source"] == "form"}
    return form, (out / f"{sid}.html").read_text()


async def test_a_step_not_followed_puts_times_off_utc_on_the_report(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b, cfg, db, store = commanded_chair(tmp_path, mosquitto, mqtt_prefix)
    wall, daemon = daemon_behind(tmp_path, cfg, BEHIND_S)

    async def more_readings(n: int, what: str) -> None:
        have = store.readings()
        await eventually(lambda: store.readings() >= have + n, 30, what)

    async with Oximeter(tmp_path) as ox, LiveFeed(ox, period_s=FEED_S):
        daemon.start()
        try:
            await eventually(lambda: connects(daemon) == 1, 30, "daemon connected")
            await publish(mosquitto, f"{b}/cmd/session", cmd("start", session_id=STEPPED))
            await publish(mosquitto, f"{b}/cmd/session", cmd("dose_start"))
            await eventually(lambda: sessions(store) == ["start", "dose_start"], 20, "dose")
            await more_readings(2, "readings before the step")
            wall.set(0)  # NTP, the session's timers pending: the chair clock stays behind
            await eventually(lambda: "off the chair clock" in daemon.output(), 20, "step seen")
            await more_readings(2, "readings after the step")
            await publish(mosquitto, f"{b}/cmd/session", cmd("end"))
            # Nothing pending once it ended: the chair clock catches up with the wall clock.
            await eventually(lambda: "the chair clock followed" in daemon.output(), 20, "follow")
            await publish(mosquitto, f"{b}/cmd/session", cmd("start", session_id=STEADY))
            await publish(mosquitto, f"{b}/cmd/session", cmd("dose_start"))
            await more_readings(2, "readings in the second session")
            await publish(mosquitto, f"{b}/cmd/session", cmd("end"))
            await eventually(lambda: len(sessions(store)) == 6, 20, "second session ended")
        finally:
            daemon.stop()
    log = daemon.output()
    assert "Traceback" not in log, log
    assert sessions(store) == ["start", "dose_start", "end"] * 2, sessions(store)

    form, html = report(db, STEPPED, tmp_path / "stepped")
    line = form.get("times_off_utc", "")
    # From the session's start to its end as printed, which is when the chair clock
    # caught up: the daemon started on the wall clock 3 h behind, so the session's
    # start, its dose and the readings before the step are as far off as those after.
    # Before, the line began at the step, after the dose, whose time (off all the same)
    # the lead copied onto the REMS form as it was printed.
    assert "3 h 00 min behind the system clock" in line, form
    assert "add 3 h 00 min to them for UTC" in line, line
    start, end = (form[k].split(" by ")[0] for k in ("session_start", "session_end"))
    head = f"the times printed from {start} (this session's start: off since "
    assert line.startswith(head) and f", before it) to {end} are " in line, (line, start, end)
    assert start <= form["dose_start"] <= end, (form["dose_start"], start, end)
    assert 'id="f-times_off_utc"' in html and "TIMES OFF UTC" in html, html[:2000]
    assert (tmp_path / "stepped" / f"{STEPPED}.pdf").stat().st_size > 0

    form, html = report(db, STEADY, tmp_path / "steady")
    assert "times_off_utc" not in form, form
    assert "TIMES OFF UTC" not in html
