"""The medium-priority tone (issue 17, "Audible alarms": "medium: 3-pulse burst"; docs/station.md
"Sound"; IEC 60601-1-8 table 4). Real station, real mosquitto, real headless Chromium; what the
page scheduled is read from its test hook (`window.__monitordAudio`).

The high pattern (10 pulses, repeated) is held by tests/station/test_station_alarm.py and the
low one (2 pulses, once) by tests/station/test_station_low_tone.py; nothing held the medium
one: a medium burst of 2 pulses (or of 10, a high's) went unseen by the suite. Nor was an
inhibited medium held silent where no higher tone covers it (its high acknowledged)."""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, station_page, tile

CURRENT = "window.__monitordAudio.current"
MEDIUMS = "window.__monitordAudio.log.filter((b) => b.priority === 'medium')"


async def test_a_medium_alarm_sounds_three_pulses_repeated(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        medium = alert("chair-1", "spo2.low", "medium", "SpO2 88 < 90 for 15 s")
        await pub.chair("chair-1", [medium])
        await page.until(f"{tile('chair-1')}.className.includes('p-medium')", 20, "medium tile")
        await page.until(f"{CURRENT}?.priority === 'medium'", 10, "the medium tone")
        # The sentence guarded: a medium alarm is a 3-pulse burst, repeated (IEC 60601-1-8:
        # bursts 2.5-30 s apart for medium), at its own pitch, not the high's 880 Hz.
        current = await page.js(CURRENT)
        assert current["pulses"] == 3, current
        assert current["repeat_s"] is not None and 2.5 <= current["repeat_s"] <= 30, current
        burst = (await page.js(MEDIUMS))[0]
        assert burst["pulses"] == 3 and burst["freq"] != 880, burst
        # Repeated: a second burst of the same pattern is scheduled, not a single one.
        await page.until(f"{MEDIUMS}.length >= 2", current["repeat_s"] + 10, "a second burst")
        assert all(b["pulses"] == 3 for b in await page.js(MEDIUMS))


async def test_an_inhibited_medium_beside_an_acknowledged_high_is_silent(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    # docs/station.md "Tiles": an inhibited alert is "silent while a higher alert of the
    # chair is active"; acknowledged, that higher one is still active (its condition
    # holds). test_station_alert_state.py shows an inhibited medium beside an unacknowledged
    # high, whose tone sounds either way: with inhibited alerts sounding, the suite passed,
    # and an ACK of the crisis brought a medium tone the daemon had silenced.
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        high = alert("chair-1", "bp.crisis", "high", "BP 212/124", ack=True, by="alice")
        inhibited = alert("chair-1", "bp.rise", "medium", "BP +32/+18", state="inhibited")
        await pub.chair("chair-1", [high, inhibited])
        row = f"{tile('chair-1')}.querySelector('.alert[data-rule=\"bp.rise\"]')"
        await page.until(f"{row}?.innerText.includes('INHIBITED')", 20, "the inhibited row")
        # A medium alarm elsewhere sounds meanwhile: the page does sound what it should.
        other = alert("chair-2", "spo2.low", "medium", "SpO2 88 < 90 for 15 s")
        await pub.chair("chair-2", [other])
        await page.until(f"{CURRENT}?.priority === 'medium'", 20, "chair-2's tone")
        # ACK'd at chair-2: nothing left to sound; the inhibited medium stays silent.
        await pub.active("chair-2", [{**other, "ack": True, "by": "bob"}])
        await page.until(f"{CURRENT} === null", 10, "silence: only an inhibited alert is left")
