"""Each tone is the pattern docs/station.md "Sound" gives: "high = 10 pulses ... 880 Hz,
repeated every 8 s; medium = 3 pulses ... 660 Hz, repeated every 10 s; low = 2 pulses ...
440 Hz, once per new alert; technical = 2 pulses of 300 ms, 520 Hz, every 5 s". The tests
read pulses and repeats of high and low, none the pitches nor the technical pattern: with
the high at the low's 440 Hz (a crisis sounding like a low advisory), or the technical tone
of a lost chair not repeating, the suite passed. Real station, real mosquitto, Chromium."""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page

CURRENT = "window.__monitordAudio.current"
LAST = "window.__monitordAudio.log.filter((b) => b.priority === '{}').at(-1)"
DOCUMENTED = {"high": (10, 880, 8), "medium": (3, 660, 10), "technical": (2, 520, 5)}


async def test_each_tone_is_the_documented_pattern(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        dosing = session("dosing", "esketamine", 10)
        # A chair in session lost (technical), then a medium alarm, then a high one: each
        # higher one takes over the tone, so each pattern is scheduled in turn.
        await pub.chair("chair-1", [], sess=dosing)
        await pub.status("chair-1", "offline")
        steps = [("technical", None), ("medium", "spo2.low"), ("high", "bp.crisis")]
        for prio, rule in steps:
            if rule is not None:
                await pub.chair("chair-2", [alert("chair-2", rule, prio, f"a {prio} alarm")])
            await page.until(f"{CURRENT}?.priority === '{prio}'", 20, f"the {prio} tone")
            burst = await page.js(LAST.format(prio))
            pulses, freq, repeat_s = DOCUMENTED[prio]
            got = (burst["pulses"], burst["freq"], burst["repeat_s"])
            assert got == (pulses, freq, repeat_s), (prio, burst)
