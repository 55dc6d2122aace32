"""A busy nurse's mistakes with the session controls (docs/station.md "Session controls"),
with a real daemon, real mosquitto (the shipped ACL), the real station and two nurses in
two headless Chromiums.

- Two nurses press Dose start on one chair at once (or one taps twice): the daemon applies
  one and refuses the other (clinical-rules.md: `dose_start` outside `baseline` is refused).
  Before, the second read "Refused at 22:01: chair-2: dose_start needs a session in
  baseline (dosing)" in red, on both pages and naming nobody: a dose start that failed, for
  a dose that had started. Now it says whose it was and that the dose had already started,
  not in red.
- A command refused for real (a Dose end confirmed after another nurse ended the session):
  before, the same anonymous red line on every page, each nurse reading it as hers. Now it
  names the command and the nurse who pressed it, and says that no session is open.
"""

from __future__ import annotations

from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.station.cdp import browser
from tests.station.session_kit import (
    TILE,
    chair_2_served,
    confirm_as,
    dose_started_under_bobs_dialog,
    line,
    ok,
    open_dialog,
    phase_is,
    two_nurses,
)
from tests.station.station_kit import login_page


async def test_a_second_dose_start_and_a_late_dose_end_say_whose_and_what_happened(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    async with two_nurses(tmp_path, acl_broker) as (alice, bob, _url):
        await confirm_as(alice, "alice", "start")
        for page in (alice, bob):
            await page.until(phase_is("BASELINE"), 20, "baseline")
        await dose_started_under_bobs_dialog(alice, bob)
        await ok(bob)
        for page in (bob, alice):
            cls, text = await line(page, "Dose start by bob")
            assert "refusal" not in cls and "answer" in cls, (cls, text)
            assert "the dose had already started at " in text, text
            assert "not recorded" in text, text  # his 84 mg is not the dose on record
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


CRISIS = [
    {"t": 1, "event": "hr", "hr": 70},
    {"t": 2, "event": "bp", "sys": 210, "dia": 125},
    {"t": 3600, "event": "end"},
]
RULES = f"[...document.querySelectorAll('{TILE} li.alert')].map((li) => li.dataset.rule)"


async def test_end_session_during_a_crisis_leaves_the_crisis_on_the_tile(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    """End session pressed while a crisis is active: the session's alerts go, the absolute
    ones carry on (clinical-rules.md, `session_end`). The tile, in IDLE, keeps the
    unacknowledged crisis with its ACK; `session.no_baseline` is gone."""
    async with chair_2_served(tmp_path, acl_broker, CRISIS) as url, browser() as b:
        page = await b.new_page()
        await login_page(page, url, "bob")
        await page.until(f"{RULES}.includes('bp.crisis')", 40, "the crisis on the tile")
        await confirm_as(page, "bob", "start")
        await page.until(phase_is("BASELINE"), 20, "baseline")
        await confirm_as(page, "bob", "dose_start")
        await page.until(f"{RULES}.includes('session.no_baseline')", 20, "no baseline")
        await confirm_as(page, "bob", "end")
        await page.until(phase_is("IDLE"), 20, "idle")
        rules = await page.until(
            f"!{RULES}.includes('session.no_baseline') && {RULES}", 20, "session alert gone"
        )
        assert rules == ["bp.crisis"], rules
        crisis = f"document.querySelector('{TILE} li.alert[data-rule=\"bp.crisis\"]')"
        assert await page.js(f"{crisis}.classList.contains('high')")
        assert await page.js(f"{crisis}.querySelector('button.ack') !== null")
        assert await page.js("document.title.startsWith('HIGH chair-2')")
        await page.close()
