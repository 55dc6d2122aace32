"""An oximeter swapped mid-session for one whose clock is minutes behind: every reading of
both monitors is a point of its own in InfluxDB.

A reading's InfluxDB timestamp is its device time when that is within 5 min of the
daemon's receive time (docs/reliability.md "device clocks never drive the engine"), and
InfluxDB keeps one point per series and timestamp. The replacement monitor (same model, on
the same port, so the same device of the chair and the same series) stamps its lines with
a clock 4.5 min behind the first one's: its readings fall on device times the first
monitor's readings already had. The store moves a colliding stamp on by a few ns, but it
compared each stamp only with the last 256 of the series: the first monitor's readings
of 4.5 min before (270 lines of a 1-Hz oximeter) were past that, so each of the
replacement's readings took the stamp of one of the first monitor's. InfluxDB then held
the replacement's 97 % where the first monitor had measured the patient's 88 %, and the
outbox marked every one delivered: the desaturation gone from the dashboards, unsaid.
(The same with a monitor's clock set back 4.5 min by the biomedical engineer; an
IntelliVue, HR and SpO2 a second in one series, from a clock set back 2.2 min.)

A real `monitord run`, a Masimo simulator on a real pty (unplugged, then the replacement
plugged in on the same by-id link), the real influxd 1.6. The lines are fed faster than
one a second (the store counts readings, not seconds), their device times one second
apart and within the 5 min the daemon trusts a device clock for.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from monitord.models import Kind
from monitord.simulators.base import SimEvent
from tests.e2e.e2e_kit import (
    CHAIR,
    COUNTING_COMMIT_S,
    DEVICE,
    DaemonProcess,
    Oximeter,
    Store,
    influx_v1,
    whole_second,
    write_config,
)
from tests.kit import eventually
from tests.servers import Influxd, json_int

FIRST = 300  # lines of the first monitor, one device second apart
BEHIND_S = 270  # the replacement's clock is this far behind the first one's
SECOND = 270  # lines of the replacement: each on a device time the first one had


def points(influxd: Influxd, db: str, spo2: float) -> int:
    rows = influxd.rows(f'SELECT count("valid") FROM vitals WHERE spo2_pct = {spo2}', db)
    return json_int(rows[0]["count"]) if rows else 0


async def test_a_monitor_swapped_for_one_whose_clock_is_behind_keeps_every_point(
    tmp_path: Path, influxd: Influxd, influx_db: str
) -> None:
    cfg = write_config(
        tmp_path,
        influx=influx_v1(influxd, influx_db),
        extra=f"commit_interval_s = {COUNTING_COMMIT_S}\n",
    )
    store = Store(tmp_path / "outbox.sqlite")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")

    def links(state: str) -> int:
        return daemon.output().count(f"{CHAIR}/{DEVICE}: link {state}")

    async def send(ox: Oximeter, spo2: float, at_s: int) -> None:
        ev = SimEvent(Kind.SPO2, {"spo2_pct": spo2, "pulse_bpm": 70.0})
        await ox.sim.send(ev, t0 + timedelta(seconds=at_s))

    # Device time 0 of the first monitor: both monitors' lines stay within 5 min of the
    # wall clock for the ~30 s they are fed (the first one's last line is 100 s ahead).
    t0 = whole_second() - timedelta(seconds=200)
    async with Oximeter(tmp_path) as ox:
        daemon.start()
        try:
            # The first monitor: until its link is up (lines before that may be lost),
            # one line every 0.3 s, then the rest fast. The patient desaturated: 88 %.
            sent = 0
            while not links("up"):
                assert sent < 100, daemon.output()
                await send(ox, 88.0, sent)
                sent += 1
                await asyncio.sleep(0.3)
            for k in range(sent, FIRST):
                await send(ox, 88.0, k)
                await asyncio.sleep(0.01)
            await eventually(lambda: store.readings() >= FIRST - sent, 30, "first monitor stored")
            first = store.readings()
            # Swapped: unplugged, and the replacement plugged in on the same link. Its
            # clock is BEHIND_S behind: its first line is stamped where the first monitor's
            # line of BEHIND_S before was. The patient back at 97 %.
            downs, ups = links("down"), links("up")
            await ox.sim.drop_link()
            await eventually(lambda: links("down") > downs, 30, "the first monitor's link down")
            await ox.sim.restore_link()
            at = FIRST - BEHIND_S
            while links("up") == ups:
                assert at < FIRST, daemon.output()
                await send(ox, 97.0, at)
                at += 1
                await asyncio.sleep(0.3)
            for k in range(at, FIRST - BEHIND_S + SECOND):
                await send(ox, 97.0, k)
                await asyncio.sleep(0.01)
            await eventually(
                lambda: store.readings() >= first + SECOND - (at - (FIRST - BEHIND_S)),
                30,
                "the replacement's readings stored",
            )
            await eventually(lambda: store.backlog("influx") == 0, 60, "every reading delivered")
        finally:
            daemon.stop()
    log = daemon.output()
    assert "Traceback" not in log, log
    rows = store.reading_rows()
    stored = {v: sum(1 for r in rows if r["values"].get("spo2_pct") == v) for v in (88.0, 97.0)}
    assert stored[88.0] >= FIRST - 100 and stored[97.0] >= SECOND - 100, stored
    got = {v: points(influxd, influx_db, v) for v in (88.0, 97.0)}
    assert got == stored, (
        f"InfluxDB holds {got} points of the readings stored {stored} (SpO2 % -> count): "
        "the first monitor's overwritten by the replacement's, all marked delivered"
    )
    stamps = store.reading_stamps()
    assert len(set(stamps)) == len(stamps), (
        f"{len(stamps) - len(set(stamps))} of {len(stamps)} readings stored with the stamp "
        "of another reading of the oximeter (one InfluxDB point for the two)"
    )
