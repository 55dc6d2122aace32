"""Readings of one device at one device time (a stuck clock: every measurement carries the
same time, and all are taken, docs/reliability.md "stuck cuff clock") are distinct points
in InfluxDB, against the real influxd 1.6. InfluxDB keys a point by series and timestamp,
so two readings stored with one `t_ns` keep only the last one written: the outbox said
both were delivered while InfluxDB held one. The store shifts a colliding stamp by a few
ns, but only against the stamps it remembered in memory: not across a restart of the
daemon, and not past the last 256 of a series. The store-level tests below check the
stamps themselves: a retried write after a rollback (full disk) gets the same ones, and
alert and session events are found in the file after a restart too, and a stuck cuff's
BP before a restart is found on a Pi of four chairs at docs/scaling.md's load."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from helpers import alert, base_time, reading, session
from test_influx_sink import SITE, drained, running, v1_cfg

from monitord.config import StorageConfig
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from monitord.sinks.influx import InfluxSink
from monitord.store.codec import to_ns
from tests.servers import Influxd


def bp(sys_mmhg: float) -> Reading:
    """A BP from a cuff whose clock is stuck two days back: the same device time always."""
    r = reading(0)
    at = base_time() - timedelta(days=2)
    return Reading(r.chair, r.device, r.kind, {**r.values, "sys_mmHg": sys_mmhg}, at, at)


def open_store(path: Path) -> Outbox:
    return Outbox(path, StorageConfig(path=path))


async def drain(influxd: Influxd, db: str, outbox: Outbox) -> None:
    sink = InfluxSink(v1_cfg(influxd, db), SITE, outbox)
    async with running(sink):
        await drained(sink)


def bp_points(influxd: Influxd, db: str) -> list[float]:
    rows = influxd.rows("SELECT * FROM vitals WHERE device = 'bp'", db)
    return [float(str(r["sys_mmHg"])) for r in rows]


async def test_stuck_clock_across_restart_two_points(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    path = tmp_path / "outbox.sqlite"
    # First run: the crisis BP, delivered.
    with open_store(path) as first:
        first.add_readings([bp(212.0)], {"chair-1": "s-1"})
        first.commit()
        await drain(influxd, influx_db, first)
    assert bp_points(influxd, influx_db) == [212.0]
    # The daemon restarts (power cut, upgrade) in the same session; the next BP carries
    # the same stuck device time.
    with open_store(path) as second:
        second.add_readings([bp(130.0)], {"chair-1": "s-1"})
        second.commit()
        await drain(influxd, influx_db, second)
        assert second.backlog("influx") == 0  # both marked delivered
    got = sorted(bp_points(influxd, influx_db))
    assert got == [130.0, 212.0], f"InfluxDB holds {got} of the 2 BPs stored (one overwritten)"


async def test_stuck_clock_past_the_memory_window(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    # 300 BPs at one device time in one run (the store remembered the last 256 stamps).
    n = 300
    with open_store(tmp_path / "outbox.sqlite") as ob:
        ob.add_readings([bp(100.0 + i) for i in range(n)], {"chair-1": "s-1"})
        ob.commit()
        await drain(influxd, influx_db, ob)
    got = bp_points(influxd, influx_db)
    assert len(got) == n, f"InfluxDB holds {len(got)} of the {n} BPs stored (overwritten)"


def stamps(path: Path, rtype: str) -> list[int]:
    with sqlite3.connect(path) as db:
        q = "SELECT t_ns FROM records WHERE type = ? ORDER BY id"
        return [int(t) for (t,) in db.execute(q, (rtype,))]


def test_stuck_clock_retried_write_gets_the_same_stamps(tmp_path: Path) -> None:
    # A write that fails (full disk) is rolled back and retried (monitord/storeguard.py):
    # the retry must stamp as the first try did, and the stuck time's count go on from the
    # stamps kept, not from the rolled-back ones.
    path = tmp_path / "outbox.sqlite"
    t = to_ns(bp(0.0).measured_at)
    with open_store(path) as ob:
        ob.add_readings([bp(120.0)], {"chair-1": "s-1"})
        ob.commit()
        again = [bp(121.0), bp(122.0)]
        ob.add_readings(again, {"chair-1": "s-1"})
        ob.rollback()
        ob.add_readings(again, {"chair-1": "s-1"})
        ob.commit()
        ob.add_readings([bp(123.0)], {"chair-1": "s-1"})
        ob.commit()
    got = [s - t for s in stamps(path, "reading")]
    assert got == [0, 1, 2, 3], f"stamps (ns after the stuck time) {got}, not 0, 1, 2, 3"


def test_events_at_one_instant_across_restart_two_stamps(tmp_path: Path) -> None:
    # Engine time moves on, but a Pi without RTC may restart on an earlier wall clock:
    # events are found in the file after a restart by the same series as when stamped.
    path = tmp_path / "outbox.sqlite"
    a, s = alert(0), session(0)
    with open_store(path) as first:
        first.add_alert_events([a])
        first.add_session_events([s])
        first.commit()
    with open_store(path) as second:
        second.add_alert_events([dataclasses.replace(a, alert_id="a-1", event="cleared")])
        second.add_session_events([dataclasses.replace(s, action="dose_start")])
        second.commit()
    for rtype in ("alert", "session"):
        got = stamps(path, rtype)
        assert len(set(got)) == 2, f"{rtype} events stored with stamps {got}: one overwritten"


def streamed(seconds: int) -> list[Reading]:
    """docs/scaling.md's load on a four-chair Pi: HR and SpO2 at 1 Hz per chair, 8
    readings a second, after the stuck BP."""
    t0 = base_time()
    out = []
    for s in range(seconds):
        for c in range(1, 5):
            at = t0 + timedelta(seconds=s)
            out.append(Reading(f"chair-{c}", "ox", Kind.HR, {"hr_bpm": 70.0}, at, at))
            out.append(Reading(f"chair-{c}", "ox", Kind.SPO2, {"spo2_pct": 97.0}, at, at))
    return out


def test_stuck_cuff_across_restart_on_a_four_chair_pi(tmp_path: Path) -> None:
    # The restart case on a Pi of four chairs: the daemon restarts 9.5 min after a stuck
    # cuff's BP, its next one (10 min cycle, the same device time) comes after the restart.
    # 4,560 records were stored in between: the first pass read the newest 4,096 only, and
    # the BP after the restart took the stamp of the one before it.
    path = tmp_path / "outbox.sqlite"
    sessions = {f"chair-{c}": f"s-{c}" for c in range(1, 5)}
    with open_store(path) as first:
        first.add_readings([bp(212.0)], sessions)
        first.commit()
        first.add_readings(streamed(570), sessions)
        first.commit()
    with open_store(path) as second:
        second.add_readings([bp(130.0)], sessions)
        second.commit()
    with sqlite3.connect(path) as db:
        q = "SELECT t_ns FROM records WHERE type = 'reading' AND json_extract(body, '$[1]') = 'bp'"
        got = [int(t) for (t,) in db.execute(q)]
    assert len(set(got)) == 2, f"the stuck cuff's 2 BPs stored with stamps {got}: one overwritten"


def test_restart_pass_skips_a_body_that_is_no_json(tmp_path: Path) -> None:
    # The pass at start has SQLite read each reading's device: a body that is no JSON
    # (quarantined at fetch) is passed over, not the end of the store's first write.
    path = tmp_path / "outbox.sqlite"
    with open_store(path) as first:
        first.add_readings([bp(212.0)], {"chair-1": "s-1"})
        first.commit()
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO records (id, type, chair, t_ns, body, added_ns) "
            "SELECT max(id) + 1, 'reading', 'chair-1', t_ns, '[null,\"bp\",', 0 FROM records"
        )
    with open_store(path) as second:
        second.add_readings([bp(130.0)], {"chair-1": "s-1"})
        second.commit()
    got = stamps(path, "reading")
    assert len(got) == 3 and got[2] != got[0], f"stamps {got}: the BP after the restart collided"


def oximeter(i: int, spo2: float, t0: datetime) -> Reading:
    """A 1-Hz oximeter's reading at device second `i` (its clock within the 5 min trusted)."""
    at = t0 + timedelta(seconds=i)
    return Reading("chair-1", "ox", Kind.SPO2, {"spo2_pct": spo2}, at, at)


def test_device_clock_set_back_past_the_window_distinct_stamps(tmp_path: Path) -> None:
    # 300 readings of a 1-Hz oximeter, then its clock set back 270 s (or a replacement
    # whose clock is behind): each later reading is on a device time an earlier one had,
    # 270 stamps back, past the 256 the window kept. Daemon level, with InfluxDB:
    # tests/faults/test_swap_clock_behind.py.
    path = tmp_path / "outbox.sqlite"
    t0 = base_time()
    with open_store(path) as ob:
        for i in range(300):
            ob.add_readings([oximeter(i, 88.0, t0)], {"chair-1": "s-1"})
            ob.commit()
        for i in range(30, 300):
            ob.add_readings([oximeter(i, 97.0, t0)], {"chair-1": "s-1"})
            ob.commit()
    got = stamps(path, "reading")
    assert len(set(got)) == len(got) == 570, f"{len(got) - len(set(got))} stamps taken twice"


def test_a_rolled_back_write_that_evicted_stamps_puts_them_back(tmp_path: Path) -> None:
    # A write whose stamp moved the window on (a reading 600 s ahead evicts the stamps
    # 601 s below it) is rolled back (a full disk), and what is written instead (held
    # readings dropped, storeguard.py) is on a device time the window held: it gets the
    # stamp a store that never saw the failed write gives, not the first reading's.
    t0 = base_time()
    first = [oximeter(i, 97.0, t0) for i in range(300)]

    def run(path: Path, fail: bool) -> list[int]:
        with open_store(path) as ob:
            ob.add_readings(first, {"chair-1": "s-1"})
            ob.commit()
            if fail:
                ob.add_readings([oximeter(900, 97.0, t0)], {"chair-1": "s-1"})
                ob.rollback()
            ob.add_readings([oximeter(0, 98.0, t0)], {"chair-1": "s-1"})
            ob.commit()
        return stamps(path, "reading")

    got, clean = run(tmp_path / "a.sqlite", True), run(tmp_path / "b.sqlite", False)
    assert got == clean and len(set(got)) == len(got), (got[:2], got[-1], clean[-1])
