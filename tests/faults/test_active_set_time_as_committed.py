"""The `time` of the active set a commit shows is the chair time its set is as of, not
the commit's (docs/mqtt.md "alerts/active").

A chair's batches pipeline (tests/faults/test_active_set_as_committed.py): while the SpO2
alarm's commit is in the store's writer thread, the engine raises the HR alarm in the
next batch. The first commit's set (without the HR alarm) was stamped when that commit
returned, after the HR alarm's event time. The station heard the HR alarm live; if the
daemon then died before its own set went out (or lost its link), the broker kept the
first set, and replayed it at the station's resubscribe. The station keeps out a
replayed set only when it is older than what it heard from the chair
(monitord/station/model.py): this one read newer, was applied, and took the
unacknowledged HR alarm off the board, silencing it, with no daemon left to bring it
back.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.hub import CommittedBatch
from monitord.models import AlertEvent, Kind, iso, utc
from monitord.station.model import StationModel
from tests.faults.writerkit import SlowCommits, reading, running, two_chairs
from tests.kit import eventually

# Each rule raises on one reading.
ALERTS = '"spo2.very_low" = { for_s = 0 }\n"hr.very_high" = { for_s = 0 }\n'


async def test_a_commits_set_is_not_newer_than_the_alarm_of_a_batch_it_lacks(
    tmp_path: Path,
) -> None:
    daemon = Daemon(loads_config(two_chairs(tmp_path, "set-time", alerts=ALERTS)))
    slow = SlowCommits(daemon.outbox._db)
    daemon.outbox._db = slow  # type: ignore[assignment]  # a test double
    store = daemon.store
    shown: list[CommittedBatch] = []

    def listener(b: CommittedBatch) -> None:
        if b.chair == "chair-a" and b.events:
            shown.append(b)

    daemon.hub.subscribe(listener, "test")
    async with running(daemon):
        try:
            a = daemon.chairs["chair-a"]
            await eventually(lambda: store._timer is None and not store._busy and not store._live,
                             what="the store idle")  # fmt: skip
            slow.hold.set()
            a.submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0}))
            await asyncio.to_thread(slow.inside.wait, 10)  # the SpO2 alarm's commit is stuck
            # Received 5 ms after the engine's time of the SpO2 batch: the station compares
            # times to the millisecond (a set and an event in the same one read as old).
            hr_in = reading("chair-a", Kind.HR, {"hr_bpm": 170.0})
            at = utc(max(hr_in.received_at.timestamp(), a._engine_t + 0.005))
            a.submit(replace(hr_in, measured_at=at, received_at=at))
            await eventually(lambda: len(store.held) == 2, what="the HR alarm's batch queued")
            slow.hold.clear()
            slow.gate.set()
            await eventually(lambda: len(shown) >= 2, what="both commits shown")
        finally:
            slow.gate.set()  # never leave the writer held: the stop waits for it
    first, second = shown[0], shown[1]
    (hr,) = [e for e in second.events if e.rule == "hr.very_high" and e.event == "raised"]
    assert first.active is not None and first.t is not None
    assert "hr.very_high" not in {x["rule"] for x in first.active}, first.active
    rules = rules_after_replay(first, hr, set_live_first=False)
    assert "hr.very_high" in rules, (
        f"the first commit's set, stamped {iso(first.t)}, replayed after the HR alarm heard "
        f"live at {iso(hr.t)}, took it off the board: {rules}"
    )
    assert first.t <= hr.t, f"a set stamped after an alarm it lacks: {first.t} > {hr.t}"


def rules_after_replay(first: CommittedBatch, hr: AlertEvent, set_live_first: bool) -> list[str]:
    """The rules a station shows on chair-a after it got, as a station gets them
    (sinks/mqtt.py set_active, models.AlertEvent.to_mqtt): `first`'s set live (when
    `set_live_first`), the HR alarm's event live, then `first`'s set replayed by the broker."""
    assert first.t is not None and first.active is not None
    m = StationModel("monitord", "site")
    base = "monitord/site/chair-a/alerts/"
    doc = {"time": iso(first.t), "alerts": list(first.active), "session": first.session}
    if set_live_first:
        assert not m.apply(base + "active", json.dumps(doc).encode(), at=1.0).rejected
    live = m.apply(base + "events", json.dumps(hr.to_mqtt()).encode(), at=2.0)
    assert not live.rejected, live.rejected
    ch = m.apply(base + "active", json.dumps(doc).encode(), at=None)
    assert not ch.rejected, ch.rejected
    return [str(x.get("rule")) for x in m.chairs["chair-a"].alerts]
