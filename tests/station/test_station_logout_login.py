"""A nurse logs out and the next logs in on the same tab (a shift change): the board starts
anew, live, as on a fresh page (docs/station.md "Stale"). Before, the page took the
logged-out time for a board not live: its first message came "over 6 s after the last"
(the last before the logout) and read as a tab resumed from frozen, so every login after
a logout sounded a burst of the technical tone and showed "NOT LIVE from (the logout) to
(the login): alarms raised and cleared in that time were not shown or sounded here", as if
the station had failed. And the first login on a page opened more than the stale time
before (a nurse typing her name and PIN) sounded the technical tone once: arming the audio
at the tap asked the board whether it was live before its stream was opened, and the time
since the page loaded read as a stream silent for that long. And the next nurse inherited
the last one's silences: an Audio pause held her alarms silent for up to 2 min after her
login, an ACK offline kept a lost chair's tone off. Real station, real mosquitto, real
headless Chromium.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.station_kit import (
    NURSES,
    ChairPublisher,
    alert,
    login_page,
    session,
    station_and_browser,
    station_config,
    station_page,
)

GAP = "document.getElementById('gap-banner')"
SOUND = "window.__monitordAudio.current?.priority ?? null"


async def test_a_login_after_a_logout_is_live_without_a_gap_or_a_tone(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        sess = session("dosing", "esketamine", 10)
        await pub.chair("chair-1", [], sess=sess)
        await page.until("!!document.querySelector('.tile')", 20, "chair-1's tile")
        await page.tap("#logout")
        await page.until("!document.getElementById('login-view').hidden", 10, "logged out")
        await asyncio.sleep(8)  # longer than the stale time (6 s) on the login form
        await page.js("window.__monitordAudio.log.length = 0; 1")
        await page.type_into("#login-name", "bob")
        await page.type_into("#login-pin", NURSES["bob"])
        await page.tap("#login-go")
        await page.until("!document.getElementById('board').hidden", 20, "logged in")
        # A new alarm after the login is shown and sounds: the stream's messages were read.
        high = alert("chair-1", "spo2.very_low", "high", "SpO2 82 < 85", ago_s=1)
        await pub.active("chair-1", [high], sess)
        await page.until(f"{SOUND} === 'high'", 10, "chair-1 sounding")
        assert await page.js(f"{GAP}.hidden") is True, await page.js(
            "document.getElementById('gap-text').textContent"
        )
        tones = await page.js("window.__monitordAudio.log.map((x) => x.priority)")
        assert "technical" not in tones, tones
        assert await page.js("document.body.classList.contains('stale')") is False
        await page.screenshot(tmp_path / "logged-in-again.png")


async def test_the_first_login_after_a_slow_typist_sounds_no_tone(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as (_, _, _, url, b):
        page = await b.new_page()
        await page.goto(url + "/")
        await page.until("!document.getElementById('login-view').hidden", 20, "login form")
        await page.type_into("#login-name", "alice")
        await page.type_into("#login-pin", NURSES["alice"])
        await asyncio.sleep(8)  # longer than the stale time (6 s) typing them
        await page.tap("#login-go")
        await page.until("!document.getElementById('board').hidden", 20, "logged in")
        await page.until("window.__monitordAudio.armed", 10, "audio armed")
        # Live: the station's hello read (the board would say NOT LIVE otherwise).
        await page.until("!!document.getElementById('stale-banner').hidden", 10, "live")
        await asyncio.sleep(1)  # a tone at the arming would be in the log by now
        tones = await page.js("window.__monitordAudio.log.map((x) => x.priority)")
        assert tones == [], tones
        assert await page.js("document.body.classList.contains('stale')") is False


OFFACK = "[id='offack:chair-2']"


async def alice_silences(page: Page, pub: ChairPublisher) -> None:
    """chair-1's high alarm sounding and chair-2 lost; alice taps its *ACK offline* and
    *Audio pause*."""
    sess = session("dosing", "esketamine", 10)
    high = alert("chair-1", "spo2.very_low", "high", "SpO2 82 < 85", ago_s=1)
    await pub.chair("chair-1", [high], sess=sess)
    await pub.chair("chair-2", [], sess=sess)
    await page.until(f"{SOUND} === 'high'", 20, "chair-1 sounding")
    await pub.status("chair-2", "offline")
    await page.until(f"document.querySelector({OFFACK!r}) !== null", 20, "ACK offline")
    await page.tap(OFFACK)
    await page.tap("#pause")
    await page.until("window.__monitordAudio.paused", 10, "paused")


async def bob_hears_everything(page: Page, shot: Path) -> None:
    """bob logs in on the form shown: he hears chair-1's alarm and sees chair-2 lost,
    unacknowledged, at once."""
    await page.type_into("#login-name", "bob")
    await page.type_into("#login-pin", NURSES["bob"])
    await page.tap("#login-go")
    await page.until("document.getElementById('login-view').hidden", 20, "bob logged in")
    await page.until(f"{SOUND} === 'high'", 10, "chair-1 sounding for bob")
    await page.until(f"document.querySelector({OFFACK!r}) !== null", 10, "ACK offline again")
    assert await page.js("window.__monitordAudio.paused") is False
    await page.screenshot(shot)


async def test_the_next_nurse_inherits_no_audio_pause_and_no_offline_ack(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await alice_silences(page, pub)
        await page.tap("#logout")
        await page.until("!document.getElementById('login-view').hidden", 10, "logged out")
        await bob_hears_everything(page, tmp_path / "bob.png")


async def test_the_next_nurse_over_an_expired_login_inherits_no_silence(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Alice's login expires (session_ttl_s) with her Audio pause and an ACK offline on;
    the board stays under the login form, and Bob logs in over it. Before, only Log out
    ended her silences: Bob's page kept chair-1's alarm silent for up to 2 min and chair-2's
    offline tone off, though he never heard either. Her own login again keeps them."""
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    cfg.write_text(cfg.read_text().replace("session_ttl_s = 3600", "session_ttl_s = 15"))
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix, cfg=cfg) as s:
        page = await s.browser.new_page()
        await login_page(page, s.url, "alice")
        await page.until("window.__monitordAudio.armed", 10, "audio armed")
        await alice_silences(page, s.pub)
        await page.until("!document.getElementById('login-view').hidden", 30, "expired")
        await bob_hears_everything(page, tmp_path / "bob-over-expired.png")
        await page.close()
