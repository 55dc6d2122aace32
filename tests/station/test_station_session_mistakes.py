"""A busy nurse's mistakes with the session controls (docs/station.md "Session controls"),
with a real daemon, real mosquitto (the shipped ACL), the real station and two nurses in
two headless Chromiums.

- A command refused for real (a Dose end confirmed after another nurse ended the session):
  before, "Refused at 22:01: chair-2: dose_end needs ..." on every page, naming nobody:
  each nurse read it as hers. Now it names the command and the nurse who pressed it, and
  says that no session is open.
"""

from __future__ import annotations

from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.station.cdp import Page, browser
from tests.station.station_kit import (
    chair_config,
    daemon_process,
    login_page,
    show_logs,
    station_config,
    station_process,
)
from tests.station.test_station_session import IDLE, TILE, phase_is

ANSWER = f"document.querySelector('{TILE} .answer, {TILE} .refusal')"


async def open_dialog(page: Page, action: str, fields: dict[str, str] | None = None) -> None:
    """The nurse taps a session control and fills its confirmation, not yet confirmed."""
    await page.tap(f"{TILE} button.cmd.{action}")
    await page.until("document.getElementById('confirm').open", 10, "confirmation")
    for sel, value in (fields or {}).items():
        await page.type_into(sel, value)


async def ok(page: Page) -> None:
    await page.tap("#confirm-ok")
    await page.until("!document.getElementById('confirm').open", 10, "dialog closed")


async def line(page: Page, has: str) -> tuple[str, str]:
    """The tile's answer line once it says `has`: (its class, its text)."""
    got = await page.until(
        f"{ANSWER}?.textContent.includes({has!r})"
        f" ? [{ANSWER}.className, {ANSWER}.textContent] : null",
        20,
        f"the tile's answer saying {has!r}",
    )
    return str(got[0]), str(got[1])


async def test_a_late_dose_end_says_whose_it_was_and_that_no_session_is_open(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    scfg = station_config(tmp_path, acl_broker)
    ccfg = chair_config(tmp_path, acl_broker, "chair-2", IDLE)
    async with (
        station_process(scfg, tmp_path / "station.log") as (station, url),
        daemon_process(ccfg, tmp_path / "chair-2.log") as daemon,
        show_logs(station, daemon),
        browser() as ba,
        browser() as bb,
    ):
        alice, bob = await ba.new_page(), await bb.new_page()
        await login_page(alice, url, "alice")
        await login_page(bob, url, "bob")
        for page in (alice, bob):
            await page.until(phase_is("IDLE"), 40, "chair-2 idle")
        await confirm_as(alice, "alice", "start")
        for page in (alice, bob):
            await page.until(phase_is("BASELINE"), 20, "baseline")
        await confirm_as(alice, "alice", "dose_start", {"#confirm-dose": "56"})
        await bob.until(phase_is("DOSING"), 20, "dosing on bob's page")
        # alice at Dose end while bob ends the session: hers comes to a chair with none.
        await open_dialog(alice, "dose_end")
        await confirm_as(bob, "bob", "end")
        await alice.until(phase_is("IDLE"), 20, "idle on alice's page, under her dialog")
        await ok(alice)
        for page in (alice, bob):
            cls, text = await line(page, "Dose end by alice")
            assert cls == "refusal", (cls, text)
            assert text.startswith("Dose end by alice refused at "), text
            assert text.endswith("; no session is open"), text
        await alice.close()
        await bob.close()


async def confirm_as(
    page: Page, nurse: str, action: str, fields: dict[str, str] | None = None
) -> None:
    await open_dialog(page, action, fields)
    text = await page.js("document.getElementById('confirm-text').textContent")
    assert "chair-2" in text and nurse in text, text
    await ok(page)
