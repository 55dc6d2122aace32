"""The NOT LIVE banner after a stale time under a second (docs/station.md "Reconnecting"):
the broker restarted at once, the station back on it within its first backoff (0.25 to
0.5 s). Before, the banner read "NOT LIVE from 09:18 EST to 09:18 EST (0 s): alarms raised
and cleared in that time were not shown or sounded here", which a nurse read as the
page's fault. The gap is real, so the banner stays, in words that say it: "NOT LIVE for
under a second at 09:18 EST: ...".

Real station, real mosquitto stopped and started, real headless Chromium. How long the
page saw the broker gone is the station's reconnect, under a second and not the same at
each run (rounded, it read "0 s" or "1 s"): the page is held in the DevTools debugger
while the broker restarts, so the station's "broker lost" and "broker back" reach it
together, as from a reconnect quicker than a heartbeat. The page's stale check runs on
them as on any; a hold of a few seconds stays under its stale time (6 s of silence).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import login_page, session, station_and_browser, tile

STALE = "document.body.classList.contains('stale')"
GAP = "document.getElementById('gap-banner')"
CONNECTED = "station MQTT: connected"


async def test_a_broker_restarted_at_once_says_not_live_for_under_a_second(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as s:
        await s.pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
        page = await s.browser.new_page()
        await login_page(page, s.url)
        await page.until(f"{tile('chair-1')} && !{STALE}", 20, "the board live")
        paused = asyncio.Event()
        page.on["Debugger.paused"] = lambda _: paused.set()
        await page.send("Debugger.enable")
        await page.send("Debugger.pause")  # at its next script: the stale check's tick
        async with asyncio.timeout(10):
            await paused.wait()
        before = s.proc.output().count(CONNECTED)
        await asyncio.to_thread(mosquitto.stop)
        await asyncio.to_thread(mosquitto.start)
        await eventually(lambda: s.proc.output().count(CONNECTED) > before, 20, "broker back")
        await page.send("Debugger.resume")
        await page.until(f"!{GAP}.hidden", 10, "the NOT LIVE banner")
        await page.until(f"!{STALE}", 10, "live again")
        await page.screenshot(tmp_path / "gap.png")
        text = await page.js("document.getElementById('gap-text').textContent")
        assert re.fullmatch(
            r"NOT LIVE for under a second at \d\d:\d\d \S+: alarms raised and cleared in "
            r"that time were not shown or sounded here\.",
            text,
        ), text
        await page.close()


async def test_the_banner_words_each_length_of_stale_time(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """The words by length, from the page's own function: never "0 s", and a minute or
    more in minutes."""
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as s:
        page = await s.browser.new_page()
        await login_page(page, s.url)
        await page.until("document.getElementById('clock').textContent", 20, "the hello")
        at = 1_765_000_000_000  # a time on the page's clock; its zone is the station's
        # ms; from a minute on in minutes and seconds, from an hour on in hours and
        # minutes (tests/station/test_station_gap_minutes.py): "(125 s)" had to be worked out.
        lengths = [0, 499, 999, 1000, 1499, 1500, 59499, 59500, 60000, 125000]
        lengths += [3599499, 3599500, 3629000, 3630000, 3725000, 7170000]
        said = await page.js(f"{lengths}.map((ms) => notLiveWords({at}, {at} + ms, ms))")
        start = await page.js(f"hhmm({at})")
        assert all(t.endswith(" were not shown or sounded here.") for t in said), said
        assert [t.partition(": alarms")[0] for t in said] == [
            f"NOT LIVE for under a second at {start}",
            f"NOT LIVE for under a second at {start}",
            f"NOT LIVE for under a second at {start}",
            f"NOT LIVE from {start} to {start} (1 s)",
            f"NOT LIVE from {start} to {start} (1 s)",
            f"NOT LIVE from {start} to {start} (2 s)",
        ] + [
            f"NOT LIVE from {start} to {await page.js(f'hhmm({at} + {ms})')} ({span})"
            for ms, span in [
                (59499, "59 s"),
                (59500, "1 min"),
                (60000, "1 min"),
                (125000, "2 min 5 s"),
                (3599499, "59 min 59 s"),
                (3599500, "1 h"),
                (3629000, "1 h"),
                (3630000, "1 h 1 min"),
                (3725000, "1 h 2 min"),
                (7170000, "2 h"),
            ]
        ], said
        await page.close()
