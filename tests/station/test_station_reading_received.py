"""The next BP due counts from the daemon's receive time (`received_at`, docs/mqtt.md
"vitals/{kind}"), not from `measured_at`, which is the device's clock when it is within 5
min of the daemon's (models.py `authoritative_time`); a reading's age from the older of
the two, never fresher than either clock says (a device 4 min slow and a record a cuff
pushed 4 min late look the same). clinical-rules.md "Delivery of alarms": the engine runs
on the receive time, a device's own time is for reports and de-duplication;
tech.bp_overdue counts from the receive time, so the tile's "next BP due" must too.
Before, a cuff and oximeter 4 min fast showed a reading received 6 min ago as "2 min ago"
and the next BP due 4 min late; 4 min slow, the BP due 4 min early. Real station, real
mosquitto, real headless Chromium; the model's "not monitored since" at the end,
model-level.

Times are taken half a minute inside the whole minute the page shows (floored ages,
ceiled minutes left), so the words hold for 30 s after publishing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from monitord.models import iso
from monitord.station.model import StationModel
from tests.servers import Mosquitto
from tests.station.station_kit import session, station_page, tile

SKEW_S = 240.0  # the device's clock against the daemon's, within the 5 min it trusts


def readings(
    chair: str, received_ago_s: float, skew_s: float, rx_sent: bool = True
) -> dict[str, dict[str, Any]]:
    """Valid bp and spo2 received `received_ago_s` ago, stamped by a device `skew_s` fast;
    without `received_at` when not `rx_sent` (a daemon before 0.2.0)."""
    rx = time.time() - received_ago_s
    base = {"chair": chair, "device": "monitor", "measured_at": iso(rx + skew_s),
            "valid": True, "quality": []}  # fmt: skip
    if rx_sent:
        base["received_at"] = iso(rx)
    return {
        "bp": {**base, "kind": "bp", "sys_mmHg": 128.0, "dia_mmHg": 82.0, "map_mmHg": 97.3},
        "spo2": {**base, "kind": "spo2", "spo2_pct": 97.0},
    }


@pytest.mark.parametrize(
    ("skew_s", "received_ago_s", "age", "due", "rx_sent"),
    [
        # 4 min fast: measured_at 2.5 min ago read "2 min ago", BP due in 8 min.
        (SKEW_S, 390.0, "6 min ago", "next BP due in 4 min", True),
        # 4 min slow (or pushed 4 min late): the age from measured_at, 5.5 min ago, as
        # before; the BP due from the receive time (due in 5 min before).
        (-SKEW_S, 90.0, "5 min ago", "next BP due in 9 min", True),
        # A daemon before 0.2.0 sends no received_at: the page falls back on measured_at
        # (2.5 min ago), as it read before, not on nothing ("--" age, no BP due).
        (SKEW_S, 390.0, "2 min ago", "next BP due in 8 min", False),
    ],
    ids=["device-fast", "device-slow", "older-daemon"],
)
async def test_age_and_bp_due_count_from_the_receive_time(
    tmp_path: Path,
    mosquitto: Mosquitto,
    mqtt_prefix: str,
    skew_s: float,
    received_ago_s: float,
    age: str,
    due: str,
    rx_sent: bool,
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        sess = session("dosing", "esketamine", 20)
        # The engine's own due time is long past: the tile's is the last BP's + the cycle.
        sess["bp_due"] = iso(time.time() - 3600)
        await pub.chair("chair-1", [], sess=sess)
        await pub.vitals("chair-1", readings("chair-1", received_ago_s, skew_s, rx_sent))
        t = tile("chair-1")
        ages = f"[...{t}.querySelectorAll('.vital .age')].map((e) => e.innerText)"
        # The BP's age, the SpO2's (the HR's is the kit's reading, 30 s old), the BP due.
        due_text = f"{t}.querySelector('.bpdue')?.innerText"
        shown = f"JSON.stringify([{ages}[0], {ages}[2], {due_text}])"
        want = json.dumps([age, age, due], separators=(",", ":"))
        try:
            await page.until(f"{shown} === {json.dumps(want)}", 10, want)
        except AssertionError:
            raise AssertionError(f"tile says {await page.js(shown)}, want {want}") from None


def put(m: StationModel, rest: str, body: dict[str, Any]) -> None:
    ch = m.apply(f"monitord/site/chair-1/{rest}", json.dumps(body).encode(), at=time.monotonic())
    assert ch.rejected is None, ch.rejected


def test_not_monitored_since_is_the_receive_time() -> None:
    """A fast device's last reading does not move an offline chair's last sign of life on."""
    m, spo2 = StationModel("monitord", "site"), readings("chair-1", 600, SKEW_S)["spo2"]
    # Compared with the reading's own `received_at`: a second clock read for it crossed a
    # millisecond now and then (1 run in 3), as the model's calls ran in between.
    connect = iso(time.time() - 660)
    put(m, "status", {"state": "online", "time": connect})
    put(m, "vitals/spo2", spo2)
    put(m, "status", {"state": "offline", "time": connect})  # its Last Will
    assert m.chairs["chair-1"].to_json()["offline_since"] == spo2["received_at"]
