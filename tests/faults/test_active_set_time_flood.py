"""An alarm whose event time equals the time of the set before it (docs/mqtt.md
"alerts/active": every later event is at or after a set's time, `at` included).

A chair's task takes at most 1000 queued items per batch (chair.py `run`). In a flood,
what is left waits for the next batch; those readings were received before the first
batch's engine time, so they are taken at it (chair.py `_feed_checked`: the engine's
clock never steps back). An alarm one of them raises has the time of the first batch's
set exactly. The station heard that alarm live; if the daemon then died before the
second set went out (or lost its link), the broker kept the first set, without the
alarm, and replayed it at the station's resubscribe. The station kept out only a
replayed set strictly older than what it heard (monitord/station/model.py): this one,
as old as the alarm, was applied and took the unacknowledged alarm off the board,
silencing it, with no daemon left to bring it back.
"""

from __future__ import annotations

from pathlib import Path

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.hub import CommittedBatch
from monitord.models import Kind, iso
from tests.faults.test_active_set_time_as_committed import ALERTS, rules_after_replay
from tests.faults.writerkit import reading, running, two_chairs
from tests.kit import eventually

BATCH_MAX = 1000  # chair.py `run`: the most items one batch takes from the queue


async def test_a_replayed_set_as_old_as_an_alarm_heard_live_keeps_it(tmp_path: Path) -> None:
    daemon = Daemon(loads_config(two_chairs(tmp_path, "set-flood", alerts=ALERTS)))
    shown: list[CommittedBatch] = []

    def listener(b: CommittedBatch) -> None:
        if b.chair == "chair-a" and b.events:
            shown.append(b)

    daemon.hub.subscribe(listener, "test")
    async with running(daemon):
        a = daemon.chairs["chair-a"]
        # A flood, queued before the chair task runs again (no await in between): the
        # SpO2 alarm is the last item of the first batch, the HR alarm the first of the next.
        for _ in range(BATCH_MAX - 1):
            a.submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 97.0}))
        a.submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0}))
        a.submit(reading("chair-a", Kind.HR, {"hr_bpm": 170.0}))
        await eventually(lambda: len(shown) >= 2, what="both batches' alarms shown")
    first, second = shown[0], shown[1]
    (hr,) = [e for e in second.events if e.rule == "hr.very_high" and e.event == "raised"]
    assert first.active is not None and first.t is not None
    assert "hr.very_high" not in {x["rule"] for x in first.active}, first.active
    rules = rules_after_replay(first, hr, set_live_first=True)
    assert "hr.very_high" in rules, (
        f"the first batch's set, stamped {iso(first.t)}, replayed after the HR alarm heard "
        f"live at {iso(hr.t)}, took it off the board: {rules}"
    )
