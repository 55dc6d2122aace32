"""A session command confirmed on a page that is behind the chair (docs/station.md "Session
controls", docs/mqtt.md `cmd/session`), with a real daemon, real mosquitto (the shipped
ACL), the real station and two nurses in two headless Chromiums.

bob's Dose start confirmation is open; alice ends the session and starts the next
patient's; bob confirms. Before, the page sent no `session_id` and the daemon ignored one
on anything but `start`: bob's Dose start was applied to the next patient's session (her
baseline fixed by his tap, her dose "started" before she was dosed), with no refusal.
clinical-rules.md "Session": commands out of order are refused, never implied. Now the
page sends the session its tile showed when bob pressed, the daemon refuses it (`code:
"session"` on `cmd/errors`) and both pages show it red, naming both sessions.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.station.session_kit import confirm_as, line, ok, open_dialog, phase_is, two_nurses

SID = "(chairs.get('chair-2')?.session?.session_id || null)"


async def test_a_dose_start_confirmed_after_the_next_patient_started_is_refused_red(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    async with two_nurses(tmp_path, acl_broker) as (alice, bob, _url):
        await confirm_as(alice, "alice", "start")
        for page in (alice, bob):
            await page.until(phase_is("BASELINE"), 20, "baseline")
        first = str(await bob.until(SID, 20, "the first session's id"))
        # bob at Dose start for the first patient, his confirmation open.
        await open_dialog(bob, "dose_start", {"#confirm-dose": "56"})
        # alice ends that session and starts the next patient's.
        await confirm_as(alice, "alice", "end")
        await alice.until(phase_is("IDLE"), 20, "idle")
        await confirm_as(alice, "alice", "start")
        second = str(
            await bob.until(f"{SID} !== {json.dumps(first)} && {SID}", 20, "the next session")
        )
        await bob.until(phase_is("BASELINE"), 20, "the next patient's baseline, under his dialog")
        await ok(bob)
        for name, page in (("bob", bob), ("alice", alice)):
            cls, text = await line(page, "Dose start by bob")
            await page.screenshot(shots / f"refused-{name}.png")
            assert cls == "refusal", (cls, text)
            assert text.startswith("Dose start by bob refused at "), text
            assert f"this Dose start was for session {first}, ended at " in text, text
            assert f"the chair now has session {second} (started at " in text, text
            assert text.endswith("press again on the board as it is now"), text
        # The next patient's session is untouched: still in baseline, no dose recorded.
        for page in (alice, bob):
            assert await page.js(phase_is("BASELINE")), "the next patient's dose started"
            assert await page.js("chairs.get('chair-2').session.dose_start") is None
        # Pressed again on the board as it is now, it is the next patient's Dose start.
        await confirm_as(bob, "bob", "dose_start")
        for page in (alice, bob):
            await page.until(phase_is("DOSING"), 20, "dosing")
