"""A wall-clock step seen while no device talks, then a crash and a start on another boot
(docs/reliability.md "Timestamps on a Pi without RTC").

A chair with a session's timers pending keeps its offset from the wall clock across a
restart: the chair stores its clock with the wall time beside it (`clock/<chair>`), and
rewrites that row at once when the wall clock steps, so the next start does not take the
step for time down. The row was rewritten only with a batch that had something in it (a
reading, a link change, an alert or session event): with no device talking (a cuff
between its cycles, an oximeter unplugged and its `tech.device_lost` raised), the row
kept the wall time from before the step until the next one. A crash then and a start on
another boot (a power cut on a machine whose clock is right at boot: an RTC, NTP before
monitord) measured the time down across the step: the chair clock leapt by it, and the
session's deadlines fired at the start (`tech.bp_overdue` and `session.check_missed` a
minute after the dose, 3 h old on the leapt clock).

A real `monitord run` under a steppable wall clock (libfaketime), the real mosquitto for
the nurse's session commands and ACK, the chair's oximeter port absent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.e2e.e2e_kit import CHAIR, commanded_chair, in_thread
from tests.faults.clock_kit import FakeWall, FakeWallDaemon, events
from tests.faults.test_boot_clock import LATE_RULES
from tests.faults.test_clock_steps import reboot
from tests.faults.test_mqtt_commands import cmd, connects, publish, sessions
from tests.kit import eventually
from tests.servers import Mosquitto

STEP_S = 3 * 3600  # an operator sets the clock 3 h on (or NTP corrects a Pi booted behind)


async def test_a_step_seen_with_no_device_talking_is_kept_across_a_crash(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b, cfg, db, store = commanded_chair(tmp_path, mosquitto, mqtt_prefix)
    wall = FakeWall(tmp_path)
    wall.check()
    daemon = FakeWallDaemon(cfg, tmp_path / "daemon.log", wall)

    def row_wall() -> float:
        return float((store.state(f"clock/{CHAIR}") or {}).get("wall", 0.0))

    daemon.start()
    try:
        await eventually(lambda: connects(daemon) == 1, 30, "daemon connected")
        await publish(mosquitto, f"{b}/cmd/session", cmd("start", session_id="s-step"))
        await publish(mosquitto, f"{b}/cmd/session", cmd("dose_start"))
        await eventually(lambda: sessions(store) == ["start", "dose_start"], 20, "dose")
        # The oximeter's port is absent: lost 30 s after the start, then nothing comes
        # (its escalation, high while dosing, is 120 s on).
        lost = "tech.device_lost"
        await eventually(lambda: events(store, lost, "raised"), 60, "device lost raised")
        wall.set(STEP_S)
        await eventually(lambda: "off the chair clock" in daemon.output(), 20, "step seen")
        # Before: never (the row kept the wall time of the device_lost batch).
        await eventually(
            lambda: row_wall() > time.time() + STEP_S - 60, 10, "the clock row after the step"
        )
        await in_thread(daemon.kill)
        reboot(db)  # the next start is on another boot: no monotonic time to go by
        daemon.start()
        await eventually(lambda: connects(daemon) == 2, 30, "connected again")
        # An ACK after the start: every deadline the start found due fired before it.
        ((raised,),) = [[e for e in events(store, lost, "raised")]]
        ack = json.dumps({"alert_id": raised["alert_id"], "by": "nurse-1"}).encode()
        await publish(mosquitto, f"{b}/cmd/ack", ack)
        await eventually(lambda: events(store, lost, "acknowledged"), 20, "ACK taken")
    finally:
        await in_thread(daemon.stop)
    log = daemon.output()
    assert "Traceback" not in log, log
    # The dose was a minute ago on the chair's clock: nothing of the session fell due.
    fired = [e for e in store.alert_events() if e["rule"] in LATE_RULES]
    assert fired == [], fired
    (acked,) = events(store, lost, "acknowledged")
    assert acked["t"] - raised["t"] < 600, (raised["t"], acked["t"])  # not the 3-h step
