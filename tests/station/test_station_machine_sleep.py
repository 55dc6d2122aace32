"""A nurses' PC that slept (a power plan's idle sleep, a laptop's lid) and woke runs nothing
meanwhile, like a frozen tab, but its monotonic clock (performance.now: CLOCK_MONOTONIC on
Linux, mach_absolute_time on a Mac) did not count the sleep either, only the wall clock did.
Woken, the page must say it was NOT LIVE for that time and not play the updates its stream
held back as live (docs/station.md "Reconnecting"). The sleep is a real freeze of the page
(Page.setWebLifecycleState) whose time the page's monotonic clock does not count, as a
suspended machine's does not. Before, the held updates played as live at the wake (an
alarm raised and cleared while asleep sounded), no NOT LIVE banner; and a stream the station
cut meanwhile (a sleep over its stream_stall_s) read live for 6 s after the wake, then NOT
LIVE for those seconds, not the time asleep."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.proxy_kit import proxied_station
from tests.station.station_kit import (
    NURSES,
    ChairPublisher,
    alert,
    login_page,
    mqtt_login,
    session,
    station_and_browser,
    tile,
)
from tests.station.test_station_reconnect import FreezingProxy

GAP = "document.getElementById('gap-banner')"
GAP_TEXT = "document.getElementById('gap-text')"
SOUND = "window.__monitordAudio.current?.priority ?? null"
# The streams the page opened, and the pings heard on them.
STREAMS = (
    "(() => { window.__streams = 0; window.__pings = 0; const ES = window.EventSource;"
    " window.EventSource = class extends ES { constructor(...a) { super(...a);"
    " window.__streams += 1; this.addEventListener('ping', () => { window.__pings += 1; }); } };"
    " })()"
)
# performance.now() as on a machine that slept while the page was frozen: the frozen time
# is not counted (the wall clock, Date.now(), counts it, as a woken machine's does).
ASLEEP = (
    "(() => { const real = performance.now.bind(performance); let lost = 0, at = null;"
    " window.addEventListener('freeze', () => { at = real(); }, true);"
    " window.addEventListener('resume', () => {"
    " if (at !== null) lost += real() - at; at = null; }, true);"
    " performance.now = () => real() - lost; })()"
)

# What the page knows of its clocks, streams and the wake (clock.js, station.js globals).
WAKE_STATE = (
    "JSON.stringify({waking, look, lastMsg, mono: mono(), wall: Date.now(), staleSince,"
    " everUp, streamUp, relogin: !!relogin, stale: document.body.classList.contains('stale'),"
    " stream: es && es.readyState, life: window.__life, stationAt})"
)


async def freeze(page: Page) -> list[Any]:
    """The machine goes to sleep: the page frozen (its freeze and resume noted with the wall
    clock and the alarm log's length then). Returns the freeze's note."""
    await page.js(
        "window.__life = []; for (const e of ['freeze', 'resume']) document.addEventListener(e,"
        " () => window.__life.push([e, Date.now(), window.__monitordAudio?.log.length ?? null])); 1"
    )
    await page.send("Page.setWebLifecycleState", state="frozen")
    await page.until("window.__life.length > 0", 10, "asleep")
    note: list[Any] = (await page.js("window.__life"))[0]
    return note


async def wake(page: Page) -> list[list[Any]]:
    """The machine wakes: the page resumed. Returns the freeze's and the resume's notes."""
    await page.send("Page.setWebLifecycleState", state="active")
    await page.until("window.__life.length > 1", 10, "awake")
    life: list[list[Any]] = await page.js("window.__life")
    return life


async def test_a_page_woken_from_sleep_says_it_was_not_live(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as (_, pub, _, url, b):
        page = await b.new_page()
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=ASLEEP)
        await login_page(page, url, "alice")
        await page.until("window.__monitordAudio.armed", 10, "audio armed")
        sess = session("dosing", "esketamine", 10)
        await pub.chair("chair-1", [], sess=sess)
        await pub.chair("chair-2", [], sess=sess)
        await page.until("document.querySelectorAll('.tile').length === 2", 20, "two tiles")
        [_, _, before] = await freeze(page)
        # While asleep: chair-1's medium alarm raised and cleared, chair-2's high raised.
        came_and_went = alert("chair-1", "spo2.low", "medium", "SpO2 88 < 90")
        await pub.active("chair-1", [came_and_went], sess)
        await pub.event("chair-1", came_and_went, "raised")
        await pub.active("chair-1", [], sess)
        await pub.event("chair-1", came_and_went, "cleared")
        standing = alert("chair-2", "spo2.very_low", "high", "SpO2 82 < 85")
        await pub.active("chair-2", [standing], sess)
        await pub.event("chair-2", standing, "raised")
        await asyncio.sleep(12)
        await wake(page)
        await page.until(
            f"{tile('chair-2')}.querySelector('li.alert')?.dataset.rule === 'spo2.very_low'",
            10, "chair-2's alarm",
        )  # fmt: skip
        await page.until("!document.body.classList.contains('stale')", 15, "live")
        sounded = await page.js(f"window.__monitordAudio.log.slice({before}).map(e => e.priority)")
        gap = await page.js(f"{GAP}.hidden ? null : {GAP_TEXT}.textContent")
        await page.send("Page.bringToFront")
        await page.screenshot(tmp_path / "woken.png")
        assert "medium" not in sounded, f"an alarm over while asleep sounded at the wake: {sounded}"
        assert gap is not None and gap.startswith("NOT LIVE from "), gap
        # For the time asleep (12 s here, on the station's clock), not the page's own count.
        assert int(gap.split("(")[1].split(" s)")[0]) >= 12, gap
        await page.close()


async def test_a_page_woken_with_its_stream_gone_is_not_live_at_once(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """The station cut the stream of a PC asleep (stream_stall_s): a woken page hears
    nothing on it. It takes a new stream and says NOT LIVE for the whole time asleep;
    before, for the 6 s its monotonic clock counted from the wake to its stale check."""
    async with (
        mqtt_login(mosquitto) as c,
        proxied_station(tmp_path, mosquitto, mqtt_prefix, FreezingProxy) as (proxy, url, b),
    ):
        pub = ChairPublisher(c, mqtt_prefix)
        sess = session("dosing", "esketamine", 10)
        await pub.chair("chair-1", [], sess=sess)
        page = await b.new_page()
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=ASLEEP)
        await login_page(page, url, "alice")
        await page.until(f"!!{tile('chair-1')}", 20, "chair-1 shown")
        await freeze(page)
        proxy.freeze()  # its stream silent from now on, as one the station cut
        await pub.active("chair-1", [alert("chair-1", "bp.crisis", "high", "BP 212/124")], sess)
        await asyncio.sleep(12)
        await wake(page)
        # A new stream's hello brings the crisis (the old one says nothing more).
        await page.until(
            f"{tile('chair-1')}.querySelector('li.alert')?.dataset.rule === 'bp.crisis'",
            20, "chair-1's crisis, from a new stream",
        )  # fmt: skip
        gap = await page.until(f"!{GAP}.hidden && {GAP_TEXT}.textContent", 10, "NOT LIVE")
        assert int(gap.split("(")[1].split(" s)")[0]) >= 12, gap
        await page.close()


async def test_an_audio_pause_counts_the_time_asleep(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Audio pause tapped, then the PC slept for longer than its 2 min: woken, the pause is
    over and the alarm sounds. Before, its 2 min were counted on the monotonic clock alone,
    and the alarm stayed silent for up to 2 min after the wake."""
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as (_, pub, _, url, b):
        crisis = alert("chair-1", "bp.crisis", "high", "BP 212/124")
        await pub.chair("chair-1", [crisis], sess=session("dosing", "esketamine", 10))
        void: list[str] = []
        for _ in range(TRIES):
            # The login of a try before is forgotten: a new page with its cookie skipped the
            # login form the case starts with (a CI run's retry failed on it).
            await b.clear_cookies()
            page = await b.new_page()
            if (held := await pause_then_sleep(page, url)) is None:
                return
            void.append(held)
            await page.close()
        raise AssertionError(f"the page was never asleep for the test's 125 s: {void}")


# Chromium lifted the page's freeze long before the test asked, twice at the end of a CI
# run (the page then ran all along, its stream live and nothing to say NOT LIVE about:
# right for a page that did not sleep; not reproduced in 36 runs here). The case is then
# played again, at most TRIES times.
TRIES = 2
SLEEP_S = 125  # longer than the pause's 2 min


async def pause_then_sleep(page: Page, url: str) -> str | None:
    """The case on a new page: None when it passed, or why the page was not asleep."""
    await page.send("Page.addScriptToEvaluateOnNewDocument", source=ASLEEP)
    await login_page(page, url, "alice")
    await page.until("window.__monitordAudio.armed", 10, "audio armed")
    await page.until(f"{SOUND} === 'high'", 20, "the crisis sounding")
    await page.tap("#pause")
    await page.until("window.__monitordAudio.paused", 10, "paused")
    await freeze(page)
    await asyncio.sleep(SLEEP_S)
    life = await wake(page)
    if (held := life[-1][1] - life[0][1]) < (SLEEP_S - 5) * 1000 or len(life) != 2:
        return f"frozen {held} ms: {life}"
    try:
        await page.until(f"!{GAP}.hidden", 15, "NOT LIVE said")
    except AssertionError as e:  # a CI run, once in a quiet run: what the page knew
        state = await page.js(
            f"(() => {{ try {{ return {WAKE_STATE}; }} catch (x) {{ return `${{x}}`; }} }})()"
        )
        raise AssertionError(f"{e}; {state}") from None
    assert await page.js("window.__monitordAudio.paused") is False
    await page.until(f"{SOUND} === 'high'", 10, "the crisis sounding again")
    await page.close()
    return None


async def test_a_page_busy_for_5_s_is_no_wake(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A long task (the main thread blocked 5 s) runs the page's timers late, but both of
    its clocks go on: it is no wake, its stream is kept and nothing is said NOT LIVE."""
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as (_, pub, _, url, b):
        page = await b.new_page()
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=STREAMS)
        await login_page(page, url, "alice")
        await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
        await page.until(f"!!{tile('chair-1')}", 20, "chair-1 shown")
        assert await page.js("window.__streams") == 1
        await page.js(
            "(() => { const t = Date.now(); while (Date.now() - t < 5000); return 1; })()"
        )
        # Heard again after the block: a ping (every 2 s) went through seen() since.
        await page.js("window.__pings = 0; 1")
        await page.until("window.__pings >= 2", 10, "two pings after the block")
        assert await page.js("window.__streams") == 1
        assert await page.js(f"{GAP}.hidden") is True
        assert await page.js("document.body.classList.contains('stale')") is False
        await page.close()


async def test_a_page_asleep_under_its_login_form_says_the_time_asleep(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """The login asked over the board (logged out on another tab; or expired in the
    evening), then the PC slept (the night): the login after the wake says NOT LIVE for
    the whole time. Before, the wake was ignored there (no stream to drop) and the board
    read "NOT LIVE for under a second", its monotonic clock not having counted the sleep."""
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as (_, pub, _, url, b):
        page = await b.new_page()
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=ASLEEP)
        await login_page(page, url, "alice")
        await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
        await page.until(f"!!{tile('chair-1')}", 20, "chair-1 shown")
        other = await b.new_page()
        await other.goto(url + "/")
        await other.until("!document.getElementById('board').hidden", 20, "the other tab's board")
        await other.tap("#logout")
        await page.until("!document.getElementById('login-view').hidden", 20, "login asked")
        await freeze(page)
        await asyncio.sleep(12)
        await wake(page)
        await page.type_into("#login-name", "alice")
        await page.type_into("#login-pin", NURSES["alice"])
        await page.tap("#login-go")
        await page.until("document.getElementById('login-view').hidden", 20, "logged in")
        gap = await page.until(f"!{GAP}.hidden && {GAP_TEXT}.textContent", 15, "NOT LIVE")
        assert gap.startswith("NOT LIVE from "), gap
        assert int(gap.split("(")[1].split(" s)")[0]) >= 12, gap
        await other.close()
        await page.close()
