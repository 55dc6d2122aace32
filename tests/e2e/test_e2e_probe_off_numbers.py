"""A Rad-8 whose sensor comes off keeps printing numbers (`SPO2=098% BPM=101 PI=--.--%
... ALARM=0010 EXC=000824`, the one public Rad-8 sensor-off line: docs/devices.md), end
to end: the Masimo simulator on a pty sends that line, a real `monitord run` reads it,
the real mosquitto carries it to the real `monitord station` on a headless Chromium page,
and `monitord report` prints the session from the store.

The numbers of a sensor-off line are never a value: no SpO2 98 or pulse 101 is stored,
published, shown or reported; the probe off raises `tech.sensor_off` 15 s after its first
sample (clinical-rules.md: "SpO2 probe off for 15 s"), no SpO2 rule runs on it, the
station's tile shows the reading invalid with the probe off, and the report lists the
sensor-off gap. Before, the simulator printed `SPO2=---% BPM=---` on a probe off, so no
end-to-end test ever sent a sensor-off line with numbers for the decoder to drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from monitord.models import Kind
from monitord.simulators.base import SimEvent
from tests.e2e.e2e_kit import (
    CHAIR,
    NO_INFLUX,
    DaemonProcess,
    Oximeter,
    Store,
    mqtt_section,
    whole_second,
    write_config,
)
from tests.faults.test_mqtt_commands import cmd, connects, publish, sessions
from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import SITE, station_page, tile

SID = "s-probe-off"
ON = SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 70})
# what the Rad-8 capture printed with its sensor off: numbers that are not the patient's
OFF = SimEvent(Kind.SPO2, {"spo2_pct": 98, "pulse_bpm": 101}, contact=False)
SPO2_VITAL = (
    f"[...{tile(CHAIR)}.querySelectorAll('.vital')].find(v => v.textContent.includes('SpO2'))"
)


class Feed:
    """One line a wall-clock second, stamped with that second, as a Rad-8 writes them:
    `self.off` puts the sensor off."""

    def __init__(self, ox: Oximeter) -> None:
        self.ox, self.off = ox, False
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = -1
        while True:
            s = int(time.time())
            if s != last:
                await self.ox.sim.send(OFF if self.off else ON, whole_second(s))
                last = s
            await asyncio.sleep(0.05)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Feed]:
        self._task = asyncio.create_task(self._run())
        try:
            yield self
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def spo2_rows(store: Store) -> list[dict[str, Any]]:
    return [r for r in store.reading_rows() if r["kind"] == "spo2"]


def sensor_off(store: Store) -> list[dict[str, Any]]:
    return [e for e in store.alert_events() if e["rule"] == "tech.sensor_off"]


async def test_a_rad8_sensor_off_line_with_numbers_is_a_probe_off_everywhere(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    cfg = write_config(
        tmp_path,
        site=SITE,
        mqtt=mqtt_section(mosquitto, mqtt_prefix),
        influx=NO_INFLUX,
        extra="commit_interval_s = 0.5\n",
    )
    store, db = Store(tmp_path / "outbox.sqlite"), tmp_path / "outbox.sqlite"
    base = f"{mqtt_prefix}/{SITE}/{CHAIR}"
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    (tmp_path / "st").mkdir()
    async with (
        station_page(tmp_path / "st", mosquitto, mqtt_prefix) as (page, _),
        Oximeter(tmp_path) as ox,
        Feed(ox).running() as feed,
    ):
        daemon.start()
        try:
            await eventually(lambda: connects(daemon) == 1, 30, "daemon connected")
            await publish(mosquitto, f"{base}/cmd/session", cmd("start", session_id=SID))
            await eventually(lambda: sessions(store) == ["start"], 20, "session started")
            await eventually(lambda: len(spo2_rows(store)) >= 3, 30, "readings, sensor on")
            await page.until(f"{SPO2_VITAL}?.querySelector('.v')?.textContent === '97'", 30, "97")

            feed.off = True
            # The tile: the SpO2 reading invalid, the probe off named, no 98 shown; the
            # technical alarm on the tile once 15 s of probe off have passed.
            shown = f"{SPO2_VITAL}?.querySelector('.invalid')?.textContent || ''"
            await page.until(f"({shown}).includes('probe_off')", 30, "probe off on the tile")
            alarm = f"{tile(CHAIR)}.querySelector('li.alert[data-rule=\"tech.sensor_off\"]')"
            await page.until(f"!!{alarm}", 40, "tech.sensor_off on the tile")
            vital = await page.until(f"{SPO2_VITAL}.innerText", 5, "the SpO2 vital")
            assert "invalid (" in vital and "98" not in vital, vital
            assert "TECH" in await page.until(f"{alarm}.innerText", 5, "the alarm's text")

            feed.off = False
            await eventually(
                lambda: [e["event"] for e in sensor_off(store)] == ["raised", "cleared"],
                30,
                "tech.sensor_off cleared by the sensor back on",
            )
            await publish(mosquitto, f"{base}/cmd/session", cmd("end"))
            await eventually(lambda: sessions(store) == ["start", "end"], 20, "session ended")
        finally:
            assert daemon.stop() == 0, daemon.output()[-4000:]
    log = daemon.output()
    assert "Traceback" not in log, log

    rows = spo2_rows(store)
    off = [r for r in rows if r["contact"] is False]
    assert off, rows
    # (a) never a value: the printed numbers of the sensor-off lines are nowhere stored
    assert all(r["values"] == {"spo2_pct": None, "pulse_bpm": None} for r in off), off
    assert all(not r["valid"] and {"sensor_off", "probe_off"} <= set(r["flags"]) for r in off)
    assert not [r for r in rows if r["values"].get("spo2_pct") == 98], rows
    assert not [r for r in rows if r["values"].get("pulse_bpm") == 101], rows
    # (b) what the rules say: tech.sensor_off (low, technical) at the first probe-off
    # sample + 15 s, on the chair clock the engine runs on (a sample's receive time), and
    # no SpO2 or pulse rule on those numbers
    first_off = min(r["received_at"] for r in off) / 1e9
    raised = [e for e in sensor_off(store) if e["event"] == "raised"]
    assert [(e["priority"], e["kind"]) for e in raised] == [("low", "technical")], raised
    assert abs(raised[0]["t"] - (first_off + 15.0)) < 1e-3, (raised[0], first_off)
    rules = {e["rule"] for e in store.alert_events()}
    assert rules == {"tech.sensor_off"}, rules

    # (c) the report: the sensor-off gap listed, the readings invalid, no 98 nor 101
    out = tmp_path / "report"
    args = ["report", "--db", str(db), "--session", SID, "--out", str(out)]
    r = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "monitord", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    events = (out / f"{SID}-events.csv").read_text(encoding="utf-8").splitlines()
    gaps = [row for row in csv.DictReader(events) if row["source"] == "gap"]
    # (no dose in this session: a `no_dose` gap line besides)
    assert [g["name"] for g in gaps if g["name"] != "no_dose"] == ["sensor_off"], gaps
    vitals = list(csv.DictReader((out / f"{SID}.csv").read_text(encoding="utf-8").splitlines()))
    invalid = [v for v in vitals if v["valid"] == "false"]
    assert len(invalid) == len(off), (invalid, len(off))
    assert all(v["spo2_pct"] == "" and v["pulse_bpm"] == "" for v in invalid), invalid
    assert not [v for v in vitals if v["spo2_pct"] == "98" or v["pulse_bpm"] == "101"], vitals
