"""The tile's clocks tick on with the wall (docs/station.md "Tiles": durations counted on
the chair's clock). A chair's `alerts/active` carries its time only when the set changed
(and is republished with that old time on a reconnect), while readings come every few
seconds without it: before, every reading re-anchored the chair's clock to the last
active set's time, so "dose +N min" and the reading ages froze."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from monitord.models import iso
from tests.acl_kit import AclMosquitto
from tests.servers import Mosquitto
from tests.station.cdp import browser
from tests.station.station_kit import (
    chair_config,
    daemon_process,
    login_page,
    session,
    show_logs,
    station_config,
    station_page,
    station_process,
    tile,
    vitals,
)


def dosing(dose_ago_s: float) -> dict[str, object]:
    d = time.time() - dose_ago_s
    return {"phase": "dosing", "protocol": "esketamine", "session_id": "s1",
            "started": iso(d - 900), "dose_start": iso(d), "dose_end": None,
            "observation_met": iso(d + 7200), "bp_due": iso(d + 600),
            "bp_cycle_s": 600.0}  # fmt: skip


async def test_an_old_active_set_does_not_set_the_chair_clock_back(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """The set last changed at dose start, 25 min ago; a reading measured now."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.status("chair-1", "online")
        await pub.active("chair-1", [], dosing(25 * 60), t=time.time() - 25 * 60)
        await pub.vitals("chair-1", vitals("chair-1", 124, 78, 72, 98))
        await page.until(f"{tile('chair-1')}.innerText.includes('124/78')", 20, "tile")
        text = await page.js(f"{tile('chair-1')}.innerText")
        await page.screenshot(tmp_path / "clock.png")
        assert "dose +25 min" in text, text
        assert "0 min ago" in text and "25 min ago" not in text, text


# A real chair: dose start, then HR and SpO2 every 2 s and no alert event for minutes.
SCENARIO = [
    {"t": 0, "event": "session_start", "protocol": "esketamine"},
    {"t": 1, "event": "bp", "sys": 124, "dia": 80},
    {"t": 3, "event": "dose_start"},
    *[
        e
        for t in range(4, 240, 2)
        for e in ({"t": t, "event": "hr", "hr": 72}, {"t": t, "event": "spo2", "spo2": 97})
    ],
    {"t": 600, "event": "end"},
]


async def test_dose_minutes_and_reading_ages_tick_with_a_live_daemon(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    scfg = station_config(tmp_path, acl_broker)
    ccfg = chair_config(tmp_path, acl_broker, "chair-1", SCENARIO)
    async with (
        station_process(scfg, tmp_path / "station.log") as (station, url),
        daemon_process(ccfg, tmp_path / "chair.log") as chair,
        show_logs(station, chair),
        browser() as b,
    ):
        page = await b.new_page()
        await login_page(page, url, "alice")
        await page.until(f"{tile('chair-1')}.innerText.includes('dose +0 min')", 60, "dose")
        # The page's wall clock runs at twice the pace (not the chair's: its messages keep
        # their real times), so that a minute passes in ~30 s of the suite's time. The page
        # counts only on Date.now(); before, each reading (every 2 s) re-anchored the tile
        # to the last active set's time, and it stayed at "+0 min" however long it ran.
        # (Not one step of 50 s: the page takes a wall clock leaping ahead of its monotonic
        # one for a machine woken from sleep, takes a new stream, and its hello sets the
        # station's clock back under the step: tests/station/test_station_machine_sleep.py.)
        await page.js(
            "(() => { const real = Date.now.bind(Date), t0 = real();"
            " Date.now = () => 2 * real() - t0; return true; })()"
        )
        await page.until(f"{tile('chair-1')}.innerText.includes('dose +1 min')", 90, "+1 min")
        await page.screenshot(tmp_path / "live_chair.png")
        hr = await page.js(f"{tile('chair-1')}.querySelectorAll('.vital')[1].innerText")
        assert "0 min ago" in hr, hr
        await page.close()


async def test_a_chair_whose_clock_is_behind_is_counted_on_its_clock(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A chair whose clock runs an hour behind the station's (a wall-clock step it did not
    follow during a session, monitord/clock.py): its live `online` says its clock
    (`chair_time`, docs/mqtt.md), and the tile counts on it. Before, a page could learn
    only a chair clock ahead of its own (from set times, which may be old): this one read
    its dose an hour older, its readings an hour old, observation met an hour early."""
    chair_now = time.time() - 3600
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        body = {"state": "online", "time": iso(time.time()), "chair_time": iso(chair_now)}
        await pub.client.publish(pub.topic("chair-1", "status"), json.dumps(body), 1, True)
        sess = dosing(25 * 60 + 30)  # half a minute clear of the minute's edge
        for k in ("started", "dose_start", "observation_met", "bp_due"):  # on its clock
            sess[k] = iso(_epoch(str(sess[k])) - 3600)
        await pub.active("chair-1", [], sess, t=chair_now - 25 * 60)
        await pub.vitals("chair-1", vitals("chair-1", 124, 78, 72, 98, ago_s=3600))
        await page.until(f"{tile('chair-1')}.innerText.includes('124/78')", 20, "tile")
        text = await page.js(f"{tile('chair-1')}.innerText")
        await page.screenshot(tmp_path / "behind.png")
        assert "dose +25 min" in text, text
        assert "0 min ago" in text and "60 min ago" not in text, text


def _epoch(t: str) -> float:
    return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()


async def test_a_time_ahead_reads_now_and_an_overdue_bp_its_lateness(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A reading stamped 3 min ahead (its device's clock fast, within the 5 min a device
    time is kept: models.py) came now. Before, the page dropped the sign of a time ahead
    and read it "3 min ago", counting down as it aged. A BP overdue still says by how
    much (its count is of a time past: the sign the other way)."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        sess = session("dosing", "esketamine", 10)
        sess.update(bp_due=iso(time.time() - 150), bp_cycle_s=60.0)
        await pub.chair("chair-1", [], sess=sess)
        await pub.vitals("chair-1", {"bp": vitals("chair-1", 124, 78, 72, 98, ago_s=300)["bp"]})
        await pub.vitals("chair-1", {"hr": vitals("chair-1", 124, 78, 72, 98, ago_s=-180)["hr"]})
        age = f"{tile('chair-1')}.querySelectorAll('.vital')[1].querySelector('.age')?.innerText"
        await page.until("chairs.get('chair-1').vitals.hr.measured_at > new Date().toISOString()")
        await page.until(f"!!{age}", 10, "the reading's age")
        assert await page.js(age) == "0 min ago"
        due = f"{tile('chair-1')}.querySelector('.bpdue').innerText"
        assert await page.js(due) == "BP overdue by 2 min"
