"""A station tab in the background for a shift (the EHR in front) reads every chair
message its stream brings, and each asked for the next frame to send the chair's receipts
(heard.js afterShown): a hidden tab gets no frames, so one waiting callback was kept per
message, a streaming chair's several a second, 32 chairs' over 100 000 an hour, all run in
one go when the nurse brought the board back. Now a chair waits for one frame at most,
whatever came meanwhile: its receipts are asked once, from the chair as it is then.
Real station, real mosquitto, real headless Chromium with a second tab in front.
"""

from __future__ import annotations

from pathlib import Path

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import (
    alert,
    login_page,
    session,
    station_and_browser,
    vitals,
)

# Frame callbacks the page asked for and that have not run yet: counted as Chromium keeps
# them (a hidden document runs none).
COUNT_FRAMES = """
window.__framesWaiting = 0;
const raf = window.requestAnimationFrame.bind(window);
window.requestAnimationFrame = (fn) => { window.__framesWaiting++;
  return raf((t) => { window.__framesWaiting--; fn(t); }); };
"""
CHAIRS = [f"chair-{i}" for i in range(1, 5)]
UPDATES = 40  # readings per chair while hidden


async def test_a_hidden_tab_keeps_no_frame_callback_per_message(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as (_, pub, _, url, b):
        page = await b.new_page()
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=COUNT_FRAMES)
        await login_page(page, url, "alice")
        sess = session("dosing", "esketamine", 10)
        for ch in CHAIRS:
            await pub.chair(ch, [], sess=sess)
        await page.until(f"document.querySelectorAll('.tile').length === {len(CHAIRS)}", 20)
        await page.other_tab_in_front()
        await page.until("document.visibilityState === 'hidden'", 10, "the tab hidden")
        async with pub.receipts() as got:
            # A HIGH alarm while hidden, then the chairs' readings stream on.
            high = alert("chair-1", "spo2.very_low", "high", "SpO2 82 < 85", ago_s=1)
            await pub.active("chair-1", [high], sess)
            for n in range(UPDATES):
                for ch in CHAIRS:
                    await pub.vitals(ch, vitals(ch, 120, 80, 60 + n, 97))
            last = f"chairs.get('{CHAIRS[-1]}')?.vitals?.hr?.hr_bpm === {60 + UPDATES - 1}"
            await page.until(last, 30, "every reading read by the hidden page")
            waiting = await page.js("window.__framesWaiting")
            # One per chair at most (and the hello's, the alarm's event has none here):
            # before, one per message, over UPDATES x chairs.
            assert waiting <= len(CHAIRS) + 2, waiting
            assert not got, got  # hidden: nothing receipted
            await page.send("Target.activateTarget", targetId=page.target_id)
            await page.until("document.visibilityState === 'visible'", 10, "the tab in view")
            # Coalesced, not lost: the alarm drawn while hidden is receipted, once, in view.
            await eventually(
                lambda: got.get((high["alert_id"], "raised", 0)) == [True], 10, f"{got}"
            )
            await page.until("window.__framesWaiting === 0", 10, "the frames run")
        await page.close()
