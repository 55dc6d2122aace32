"""The chair's clock row deleted while its session is open (docs/reliability.md
"Timestamps on a Pi without RTC": the fix for a clock set far ahead by mistake).

A chair clock never goes back: set a month ahead by mistake, then right, it keeps running
a month ahead, and so do the session's timers, which are on it. The documented fix was to
stop monitord and delete `clock/<chair>`; with a session open, the start then put the
chair clock on the wall clock, a month behind the restored engine, whose deadlines
(`tech.bp_overdue`, `session.check_missed`, the discharge check) were then a month out:
none fired. A missing row now starts the clock no earlier than the restored engine's own
latest time, and the docs say to delete the engine row with it, with no session open.

A real `monitord run` under a steppable wall clock (libfaketime), the real mosquitto for
the nurse's session commands, the chair's oximeter port absent (no BP ever comes), and
`tech.bp_overdue` due 30 s after the dose.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.e2e_kit import CHAIR, NO_INFLUX, SITE, Store, in_thread, mqtt_section, write_config
from tests.faults.clock_kit import FakeWall, FakeWallDaemon, events
from tests.faults.test_mqtt_commands import cmd, connects, publish, sessions
from tests.kit import eventually
from tests.servers import Mosquitto

AHEAD_S = 30 * 86400  # the clock set a month ahead by mistake
OVERDUE_S = 30  # no valid BP for cycle_s + grace_s after the dose


async def test_a_deleted_clock_row_does_not_put_a_sessions_deadlines_out_of_reach(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    prefix = mqtt_prefix
    cfg = write_config(
        tmp_path,
        mqtt=mqtt_section(mosquitto, prefix),
        influx=NO_INFLUX,
        extra=(
            "commit_interval_s = 0.5\n"
            f'[alerts."tech.bp_overdue"]\ncycle_s = {OVERDUE_S}\ngrace_s = 0\n'
        ),
    )
    db = tmp_path / "outbox.sqlite"
    store = Store(db)
    b = f"{prefix}/{SITE}/{CHAIR}"
    wall = FakeWall(tmp_path)
    wall.set(AHEAD_S)
    wall.check()
    daemon = FakeWallDaemon(cfg, tmp_path / "daemon.log", wall)
    overdue = "tech.bp_overdue"
    daemon.start()
    try:
        await eventually(lambda: connects(daemon) == 1, 30, "daemon connected")
        await publish(mosquitto, f"{b}/cmd/session", cmd("start", session_id="s-ahead"))
        await publish(mosquitto, f"{b}/cmd/session", cmd("dose_start"))
        await eventually(lambda: sessions(store) == ["start", "dose_start"], 20, "dose")
        wall.set(0)  # the admin sets the time right: the session's clock stays ahead
        await eventually(lambda: "off the chair clock" in daemon.output(), 20, "step seen")
        await in_thread(daemon.stop)
        assert events(store, overdue) == []  # not yet due: the precondition
        # The documented fix for the clock (before: with a session open, as done here).
        con = sqlite3.connect(db)
        with con:
            con.execute("DELETE FROM state WHERE key = ?", (f"clock/{CHAIR}",))
        con.close()
        daemon.start()
        await eventually(lambda: connects(daemon) == 2, 30, "connected again")
        # Before: never (due a month after the clock the start took).
        await eventually(lambda: events(store, overdue, "raised"), 3 * OVERDUE_S, "overdue BP")
    finally:
        await in_thread(daemon.stop)
    log = daemon.output()
    assert "Traceback" not in log, log
    ((dose,),) = store._q("SELECT t_ns FROM records WHERE type='session' ORDER BY id DESC LIMIT 1")
    (raised,) = events(store, overdue, "raised")
    # On the session's own clock: the deadline the dose set, not a month before it.
    assert raised["value"]["deadline_t"] >= dose / 1e9 + OVERDUE_S - 1, (raised, dose)
    assert "restored alert engine" in log, log
