"""The set a daemon starts with is not newer than the alarm of a timer that fell due
while it was down (docs/mqtt.md "alerts/active": every later event is at or after it).

A chair's engine resumes from its snapshot with its timers; one that fell due while the
daemon was down (here the session's BP overdue deadline) is moved to the time it resumed
(engine.resume, when the daemon is built) and fires in the chair's first batch, stamped
then. The set the daemon starts with, without that alarm, was stamped when the daemon
ran, later: newer than the alarm. A station heard both live; if the daemon then died
before the next set went out (a crash loop at the start), the broker kept the startup
set and replayed it at the station's resubscribe. The station keeps out a replayed set
only when it is older than what it heard, or as old as an event heard after it
(monitord/station/model.py): this one read newer, was applied, and took the alarm heard
live off the board, with no daemon left to bring it back.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from monitord.config import StorageConfig, loads_config
from monitord.daemon import Daemon
from monitord.engine import AlertEngine, Sample
from monitord.engine.inputs import SessionCmd
from monitord.hub import CommittedBatch
from monitord.models import Kind, iso
from monitord.outbox import Durability, Outbox
from monitord.station.model import StationModel
from tests.faults.writerkit import running, two_chairs
from tests.kit import eventually

CHAIR = "chair-a"
DUE_AGO_S = 60.0  # the BP overdue deadline fell due this long before the restart
DOWN_S = 120.0  # the daemon was down this long


def resumed_state(db: Path) -> float:
    """The previous run's store: a session dosing, its BP overdue deadline DUE_AGO_S
    before now, the chair clock's row from DOWN_S ago. Returns the deadline."""
    now = time.time()
    eng = AlertEngine()
    p = eng.rules.rules["tech.bp_overdue"].params
    dose_t = now - DUE_AGO_S - p["cycle_s"] - p["grace_s"]
    eng.feed(SessionCmd(dose_t - 300, CHAIR, "start", protocol="esketamine"))
    for dt in (250, 200):
        eng.feed(Sample(dose_t - dt, CHAIR, "nibp", Kind.BP, {"sys_mmHg": 120, "dia_mmHg": 80}))
    eng.feed(SessionCmd(dose_t, CHAIR, "dose_start"))
    due = eng.next_deadline(CHAIR)
    assert due is not None and now - DOWN_S < due < now, "the deadline is not in the downtime"
    ob = Outbox(db, StorageConfig(path=db))
    ob.put_state(f"engine/{CHAIR}", eng.snapshot(), durability=Durability.SYNC)
    ob.put_state(f"clock/{CHAIR}", {"t": now - DOWN_S, "wall": now - DOWN_S},
                 durability=Durability.SYNC)  # fmt: skip
    ob.close()
    return due


async def test_the_startup_set_is_not_newer_than_an_alarm_due_while_down(tmp_path: Path) -> None:
    due = resumed_state(tmp_path / "store.sqlite")
    daemon = Daemon(loads_config(two_chairs(tmp_path, "set-start")))
    shown: list[CommittedBatch] = []

    def listener(b: CommittedBatch) -> None:
        if b.chair == CHAIR and b.active is not None:
            shown.append(b)

    daemon.hub.subscribe(listener, "test")
    async with running(daemon):
        await eventually(
            lambda: any(e.rule == "tech.bp_overdue" for b in shown for e in b.events),
            what="the BP overdue alarm that fell due while down",
        )
    start = shown[0]
    (overdue,) = [e for b in shown for e in b.events if e.rule == "tech.bp_overdue"]
    assert start.t is not None and start.active is not None and not start.events, start
    assert "tech.bp_overdue" not in {x["rule"] for x in start.active}, start.active
    assert overdue.t >= due, (overdue.t, due)
    # As the station gets them: the startup set live, the alarm's event live, then the
    # startup set replayed by the broker (the daemon died before its next set).
    m = StationModel("monitord", "site")
    base = f"monitord/site/{CHAIR}/alerts/"
    first = {"time": iso(start.t), "alerts": list(start.active), "session": start.session}
    assert not m.apply(base + "active", json.dumps(first).encode(), at=1.0).rejected
    live = m.apply(base + "events", json.dumps(overdue.to_mqtt()).encode(), at=2.0)
    assert not live.rejected, live.rejected
    assert not m.apply(base + "active", json.dumps(first).encode(), at=None).rejected
    rules = [x.get("rule") for x in m.chairs[CHAIR].alerts]
    assert "tech.bp_overdue" in rules, (
        f"the startup set, stamped {iso(start.t)}, replayed after the alarm heard live "
        f"(stamped {iso(overdue.t)}), took it off the board: {rules}"
    )
