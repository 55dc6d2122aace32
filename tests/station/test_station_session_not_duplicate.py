"""A refused session command shown as a harmless duplicate (not red) must be one: the same
command, already done (docs/station.md "Session controls"). Real daemon, real mosquitto
(the shipped ACL), the real station, two nurses in two headless Chromiums.

- A Start refused because a session of ANOTHER protocol is open on the chair: bob chose
  iv-ketamine for his patient while alice had just started an esketamine session there.
  Before, bob read, not in red, "Start session by bob at 14:02: the session had already
  started at 14:02 (esketamine)", as if his start were done: his patient would be watched
  on the esketamine rules (and discharge clock). Now it is a refusal, in red, naming the
  open session's protocol and what to do.
- A Dose start confirmed minutes after the chair's dose started (a confirmation left open,
  a page behind; or the previous patient's session nobody ended): before, green "the dose
  had already started at 14:02; this one was not recorded", a duplicate, hiding that the
  open session's dose is not the one the nurse is giving. Now only a Dose start within
  2 min of the dose start (a double tap, two nurses at once) is a duplicate; later it is
  a refusal, in red, saying when this session's dose started and what to do.
- A double-tapped Dose start (green, a duplicate) and then the session ended while its line
  is still up (10 min): before, the line was judged again against the chair's session of
  now (none) and turned red, "Dose start by bob refused at 14:02: ...; no session is open:
  Start session first", sending the nurse to start a session and record the dose again.
  Now a refusal is judged against the session open when it came (the station keeps it):
  it stays "the dose had already started at 14:02".
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.station.session_kit import (
    confirm_as,
    dose_started_under_bobs_dialog,
    line,
    ok,
    open_dialog,
    phase_is,
    two_nurses,
)


async def test_a_start_refused_for_a_session_of_another_protocol_is_red(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    async with two_nurses(tmp_path, acl_broker) as (alice, bob, _url):
        # bob's Start (iv-ketamine) open; alice starts an esketamine session first.
        await open_dialog(bob, "start")
        await bob.js(
            "(() => { const s = document.getElementById('confirm-protocol');"
            " s.value = 'iv-ketamine'; return s.value; })()"
        )
        await confirm_as(alice, "alice", "start")
        await bob.until(phase_is("BASELINE"), 20, "baseline on bob's page, under his dialog")
        await ok(bob)
        for page in (bob, alice):
            cls, text = await line(page, "Start session by bob")
            assert cls == "refusal", (cls, text)
            assert text.startswith("Start session by bob refused at "), text
            assert "esketamine" in text and "iv-ketamine" in text, text
            assert "End session first" in text, text
        await bob.screenshot(tmp_path / "bob.png")


async def test_a_dose_start_refused_minutes_after_the_dose_started_is_red(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    async with two_nurses(tmp_path, acl_broker) as (alice, bob, _url):
        await confirm_as(alice, "alice", "start")
        await bob.until(phase_is("BASELINE"), 20, "baseline")
        # bob's Dose start left open; alice records the dose; bob confirms past 2 min.
        await dose_started_under_bobs_dialog(alice, bob)
        await asyncio.sleep(130)  # past the 2 min of a double tap (START_AGAIN_MS)
        await ok(bob)
        for page in (bob, alice):
            cls, text = await line(page, "Dose start by bob")
            assert cls == "refusal", (cls, text)
            assert text.startswith("Dose start by bob refused at "), text
            assert "; this session's dose started at " in text, text
            assert text.endswith("End session first, then Start"), text
        await bob.screenshot(tmp_path / "bob.png")


async def test_a_duplicate_dose_start_stays_a_duplicate_after_end_session(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    async with two_nurses(tmp_path, acl_broker) as (alice, bob, url):
        await confirm_as(alice, "alice", "start")
        await bob.until(phase_is("BASELINE"), 20, "baseline")
        await dose_started_under_bobs_dialog(alice, bob)
        await ok(bob)
        cls, text = await line(bob, "Dose start by bob")
        assert cls == "answer session-done", (cls, text)
        # The session ended (the wrong chair, a patient who withdrew) within the 10 min.
        await confirm_as(alice, "alice", "dose_end")
        await alice.until(phase_is("OBSERVATION"), 20, "observation")
        await confirm_as(alice, "alice", "end")
        for page in (alice, bob):
            await page.until(phase_is("IDLE"), 20, "idle again")
        # alice's page loaded again after the end: it is told the refusal by the station.
        await alice.goto(url + "/")
        await alice.until("!document.getElementById('board').hidden", 20, "board again")
        for page in (bob, alice):
            cls, text = await line(page, "Dose start by bob")
            assert cls == "answer session-done", (cls, text)
            assert "the dose had already started at " in text, text
            assert "Start session first" not in text, text
        await bob.screenshot(tmp_path / "bob.png")
