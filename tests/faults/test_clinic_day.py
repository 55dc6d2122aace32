"""A clinic day at one chair: sessions back to back, esketamine and IV ketamine mixed,
monitord SIGKILLed between two sessions and killed and restarted (SIGTERM) inside one,
a session ended without `dose_end`, one never ended (the nurse forgot) and the next
start refused (clinical-rules.md "Precise semantics": session commands out of order are
refused, never implied).

A real `monitord run` child, the e2e chair (a Masimo oximeter on a pty, fed once a
second), the real mosquitto for the nurse's session commands, and `monitord report` on
the store the daemon wrote. What must hold over the day:
- each session has its own id (the ids the daemon makes are unique across restarts);
- every reading carries the session open when it arrived (design.md section 7: the
  `session` tag), none of a neighbour's, across the restarts too;
- each session's report holds exactly the readings taken during it, the one interrupted
  by two restarts whole, and `--list` flags each as the record says;
- `session.no_baseline` (a dose without a baseline BP) is one episode per session: the
  restored alert keeps its id across the restarts, and the next session's is another.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from tests.e2e.e2e_kit import (
    CHAIR,
    DaemonProcess,
    LiveFeed,
    Oximeter,
    commanded_chair,
    in_thread,
)
from tests.faults.test_mqtt_commands import cmd, connects, publish, sessions
from tests.kit import eventually
from tests.servers import Mosquitto


def monitord(*args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "monitord", *args], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


async def test_a_clinic_day_at_one_chair(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b, cfg, db, store = commanded_chair(tmp_path, mosquitto, mqtt_prefix)
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    done: list[str] = []
    runs = 0

    async def up() -> None:
        nonlocal runs
        runs += 1
        daemon.start()
        await eventually(lambda: connects(daemon) == runs, 30, f"daemon connected ({runs})")

    async def session(action: str, **kw: str) -> None:
        await publish(mosquitto, f"{b}/cmd/session", cmd(action, **kw))
        done.append(action)
        await eventually(lambda: sessions(store) == done, 20, f"{action} taken")

    async def readings(n: int = 2) -> None:
        k = store.readings()
        await eventually(lambda: store.readings() >= k + n, 20, "readings")

    async with Oximeter(tmp_path) as ox, LiveFeed(ox):
        await up()
        try:
            # 1. esketamine, ended after its dose (no BP: no baseline).
            await session("start", protocol="esketamine")
            await readings()
            await session("dose_start")
            await readings()
            await session("end")
            await readings()  # between patients
            # monitord killed between sessions.
            await in_thread(daemon.kill)
            await up()
            # 2. IV ketamine, killed and restarted inside, then stopped and started,
            # ended without dose_end.
            await session("start", protocol="iv-ketamine")
            await readings()
            await session("dose_start")
            await readings()
            await in_thread(daemon.kill)
            await up()
            await readings()
            assert await in_thread(daemon.stop) == 0
            await up()
            await readings()
            await session("end")
            await readings()
            # 3. esketamine, never ended: the next patient's start is refused.
            await session("start", protocol="esketamine")
            await readings()
            await publish(mosquitto, f"{b}/cmd/session", cmd("start", protocol="iv-ketamine"))
            await eventually(
                lambda: "a session is already open" in daemon.output(), 20, "start refused"
            )
            await readings()
        finally:
            assert await in_thread(daemon.stop) == 0

    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        evs = ob.session_events(CHAIR)
        stored = ob.readings(CHAIR)
        alerts = ob.alert_events(CHAIR)
    assert [e.action for e in evs] == ["start", "dose_start", "end"] * 2 + ["start"]
    ids = [evs[0].session_id, evs[3].session_id, evs[6].session_id]
    assert len(set(ids)) == 3, ids
    assert [e.session_id for e in evs] == [ids[0]] * 3 + [ids[1]] * 3 + [ids[2]]
    spans = [(evs[0].t, evs[2].t), (evs[3].t, evs[5].t), (evs[6].t, float("inf"))]

    def session_at(t: float) -> str | None:
        return next((ids[i] for i, (lo, hi) in enumerate(spans) if lo <= t <= hi), None)

    # Every reading carries the session open when it arrived, and no other.
    tagged = [(r.received_at.timestamp(), sid) for r, sid in stored]
    assert [sid for _, sid in tagged] == [session_at(t) for t, _ in tagged]

    # One session.no_baseline episode per dosed session, kept across the restarts.
    nb = [(a.event, a.alert_id) for a in alerts if a.rule == "session.no_baseline"]
    assert [e for e, _ in nb] == ["raised", "cleared", "raised", "cleared"], nb
    assert nb[0][1] == nb[1][1] != nb[2][1] == nb[3][1], nb
    assert len({a.alert_id for a in alerts if a.event == "raised"}) == sum(
        a.event == "raised" for a in alerts
    )

    # Each session's report: its own readings, all of them.
    out = tmp_path / "reports"
    listed = [
        line.split("\t")
        for line in monitord("report", "--list", "--db", str(db)).split("\n")
        if line
    ]
    assert [(row[3], row[4]) for row in listed] == [
        (ids[0], "SHORT"),
        (ids[1], "CANNOT BE JUDGED"),
        (ids[2], "NOT ENDED"),
    ]
    for sid in ids:
        monitord("report", "--db", str(db), "--session", sid, "--out", str(out))
        rows = list(csv.DictReader((out / f"{sid}.csv").read_text().splitlines()))
        assert len(rows) == sum(s == sid for _, s in tagged), sid
