"""Issue 12 defect 3: a device's own clock never drives the alert engine.

Real daemon (`monitord run` subprocess), two oximeters on one chair: `fast`, whose clock
runs 4 min ahead (inside the old 5-min tolerance), and `blip`, whose clock is right and
whose cable is pulled for 2 s. The engine runs on the daemon's receive time, so `fast`'s
readings cannot move the clock on to `blip`'s device_lost deadline (30 s after the
unplug), and no event is stamped before the one it follows. The device time is still
recorded with each reading (`measured_at` for reports and InfluxDB, `device_time`).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitord.models import Kind
from monitord.simulators.base import SimDevice, SimEvent
from monitord.simulators.serial_sims import make_sim_device
from tests.e2e.e2e_kit import DaemonProcess, Store
from tests.faults.clock_kit import CHAIR, write_config
from tests.kit import eventually

FAST_S = 240.0  # `fast`'s clock is 4 min ahead


async def test_fast_device_clock_fires_no_timer_of_another_device(tmp_path: Path) -> None:
    fast = make_sim_device("masimo-ascii", symlink=tmp_path / "fast.tty", repeat=False)
    blip = make_sim_device("masimo-ascii", symlink=tmp_path / "blip.tty", repeat=False)
    cfg = write_config(
        tmp_path, {"fast": str(tmp_path / "fast.tty"), "blip": str(tmp_path / "blip.tty")}
    )
    store = Store(tmp_path / "outbox.sqlite")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    sent = {"fast": 0, "blip": 0}

    async def feed(name: str, sim: SimDevice, skew_s: float) -> None:
        while True:
            at = datetime.now(UTC) + timedelta(seconds=skew_s)
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 70}), at)
            sent[name] += 1
            await asyncio.sleep(0.5)

    def link_log(dev: str, state: str) -> int:
        return daemon.output().count(f"{CHAIR}/{dev}: link {state}")

    async with fast, blip:
        feeders = [
            asyncio.create_task(feed("fast", fast, FAST_S)),
            asyncio.create_task(feed("blip", blip, 0.0)),
        ]
        try:
            daemon.start()
            await eventually(
                lambda: link_log("fast", "up") and link_log("blip", "up"), 30, "links up"
            )
            await asyncio.sleep(1)  # `fast`'s readings (4 min ahead) flowing
            # A 2 s blip of `blip`: unplugged, then plugged in again. Long enough for `fast`
            # to send ~4 readings while `blip` is down: with the engine on device time the
            # first of them carried the clock past blip's device_lost deadline (checked by
            # stamping engine samples with `measured_at`: tech.device_lost raised with a
            # 1-s blip too). 5 s (and 2 s before it) was 4 s more of the same.
            downs, ups = link_log("blip", "down"), link_log("blip", "up")
            await blip.drop_link()
            await eventually(lambda: link_log("blip", "down") > downs, 30, "blip's link down")
            await asyncio.sleep(2)
            await blip.restore_link()
            await eventually(lambda: link_log("blip", "up") > ups, 30, "blip's link back")
            # `fast` keeps talking (its readings used to carry the engine 4 min ahead).
            n = store.readings()
            await eventually(lambda: store.readings() >= n + 10, 30, "10 more readings")
        finally:
            for f in feeders:
                f.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await f
            daemon.stop()

    log = daemon.output()
    assert "Traceback" not in log, log
    alerts = store.alert_events()
    assert [e for e in alerts if e["rule"] == "tech.device_lost"] == [], alerts
    # No event stamped before the one it follows, per alert episode.
    raised = {e["alert_id"]: e["t"] for e in alerts if e["event"] == "raised"}
    for e in alerts:
        if e["alert_id"] in raised:
            assert e["t"] >= raised[e["alert_id"]], (e, raised)
    # The device clock is recorded, not lost: `fast`'s readings keep its time as
    # measured_at (reports, InfluxDB) and device_time; received_at is the daemon's.
    rows = [
        (r["device"], r["measured_at"], r["received_at"], r["device_time"])
        for r in store.reading_rows()
    ]
    fast_rows = [r for r in rows if r[0] == "fast"]
    assert fast_rows and all(r[3] is not None for r in fast_rows)
    assert all(abs((m - rcv) / 1e9 - FAST_S) < 3 for _, m, rcv, _ in fast_rows), fast_rows[:3]
    assert sum(1 for r in rows if r[0] == "blip") > 0
