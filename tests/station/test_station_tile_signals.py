"""What a tile signals, in a real browser: IEC 60601-1-8 flashing (high ~2 Hz, medium
~0.6 Hz, low steady), an invalid reading marked and not taken for the chair's value, and
keyboard focus and an ACK's "sent" surviving the redraw each message brings. Before, high
flashed at 1 Hz and medium not at all, `valid: false` readings looked real, and every
reading (every few seconds) dropped the focus and turned "sent" back into "ACK"."""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, tile, vitals

ANIMATION = (
    "(() => {{ const s = getComputedStyle({}); return [s.animationName, s.animationDuration]; }})()"
)


async def test_flash_rates(tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [alert("chair-1", "bp.crisis", "high", "BP 212/124")])
        await pub.chair("chair-2", [alert("chair-2", "spo2.low", "medium", "SpO2 88 < 90")])
        low = alert("chair-3", "tech.bp_overdue", "low", "No valid BP", kind="technical")
        await pub.chair("chair-3", [low])
        acked = alert("chair-4", "hr.high", "medium", "HR 125", ack=True, by="bob")
        await pub.chair("chair-4", [acked])
        await page.until(f"{tile('chair-4')}.className.includes('p-medium')", 20, "tiles")
        hz = {}
        for c in ("chair-1", "chair-2", "chair-3", "chair-4"):
            name, duration = await page.js(ANIMATION.format(tile(c)))
            hz[c] = 0.0 if name == "none" else 1 / float(duration.rstrip("s"))
        assert 1.4 <= hz["chair-1"] <= 2.8, hz  # high
        assert 0.4 <= hz["chair-2"] <= 0.8, hz  # medium
        assert hz["chair-3"] == 0.0 and hz["chair-4"] == 0.0, hz  # low; acknowledged


async def test_invalid_reading_is_marked_not_the_value(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
        await page.until(f"{tile('chair-1')}.innerText.includes('98')", 20, "spo2 98")
        # The artifact check rejects a reading: published with valid false, implausible.
        bad = vitals("chair-1", 124, 78, 72, 98)["spo2"]
        bad.update(spo2_pct=42, valid=False, quality=["implausible"])
        await pub.vitals("chair-1", {"spo2": bad})
        spo2 = f"{tile('chair-1')}.querySelectorAll('.vital')[2]"
        await page.until(f"{spo2}.innerText.includes('42')", 10, "invalid shown")
        await page.screenshot(tmp_path / "invalid.png")
        assert await page.js(f"{spo2}.querySelector('.v').textContent") == "98"
        marked = await page.js(f"{spo2}.querySelector('.invalid').textContent")
        assert "invalid (implausible): 42" in marked, marked


async def test_focus_and_sent_survive_redraws_until_answered_or_timed_out(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        a = alert("chair-1", "spo2.low", "medium", "SpO2 88 < 90 for 15 s")
        b = alert("chair-1", "hr.high", "medium", "HR 125 > 120 for 300 s")
        await pub.chair("chair-1", [a, b], sess=session("dosing", "esketamine", 10))
        await page.until("document.querySelectorAll('button.ack').length === 2", 20, "ACKs")
        await page.tap("button.ack")  # no daemon here: no `acknowledged` comes
        await page.until("document.querySelector('button.ack').textContent === 'sent'", 5, "sent")
        await page.js("document.querySelectorAll('button.ack')[1].focus(); true")  # as Tab
        await pub.vitals("chair-1", vitals("chair-1", 125, 79, 73, 97))
        await page.until(f"{tile('chair-1')}.innerText.includes('125/79')", 10, "redrawn")
        focused = await page.js("document.activeElement.id")
        assert focused == f"ack:chair-1:{b['alert_id']}", focused
        assert await page.js("document.querySelector('button.ack').textContent") == "sent"
        # No answer from the daemon: the button says so and can be tapped again. The
        # page's wall clock 14 s on, not a real 15-s wait (it counts on Date.now() only).
        await page.js(
            "(() => { const real = Date.now.bind(Date); Date.now = () => real() + 14000;"
            " return true; })()"
        )
        await page.until(
            "document.querySelector('button.ack').textContent === 'no answer, retry'",
            25,
            "no answer",
        )
        assert await page.js("document.querySelector('button.ack').disabled") is False
        await page.screenshot(tmp_path / "no_answer.png")
        # The daemon's answer for the other one: its ACK is shown with the nurse.
        await page.tap(f'.alert[data-alert-id="{b["alert_id"]}"] button.ack')
        await pub.event("chair-1", b, "acknowledged", by="alice")
        await page.until(f"{tile('chair-1')}.innerText.includes('ACK alice')", 10, "acked")
