"""The confirmation's Confirm, pressed again while its command is in flight, does nothing.

Before, Confirm stayed live until the station answered the POST: a nurse who pressed it
twice (a double tap, or again because nothing seemed to happen on a slow broker) sent the
command twice, and the second came back as a duplicate ("Start session by alice at 14:02:
the session had already started"), a line she had to read to learn that nothing was
wrong. Now Confirm is disabled from the press until the answer and reads "Sending…"; an
answer that is an error (the dialog stays open, saying why) gives it back, so she can
correct and press again.

Real daemon and station processes on the broker with the shipped ACL, alice in headless
Chromium pressing with trusted mouse events. The broker is paused (SIGSTOP) under the
first press, so its POST is in flight (the station answers after the broker's PUBACK) when
she presses again; the page counts the POSTs it sends (a pass-through wrapper of `fetch`).
"""

from __future__ import annotations

from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.station.session_kit import alice_at_start, open_dialog, phase_is

COUNT_POSTS = (
    "(() => { window.posts = 0; const f = window.fetch;"
    " window.fetch = (u, o) => { if (String(u).endsWith('/api/session')) window.posts++;"
    " return f(u, o); }; return true; })()"
)
STATE = (
    "({posts: window.posts, disabled: document.getElementById('confirm-ok').disabled,"
    " says: document.getElementById('confirm-ok').textContent,"
    " open: document.getElementById('confirm').open,"
    " error: document.getElementById('confirm-error').textContent})"
)


async def test_confirm_pressed_again_while_in_flight_sends_nothing(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    async with alice_at_start(tmp_path, acl_broker, COUNT_POSTS) as page:
        acl_broker.pause()
        try:
            await page.tap("#confirm-ok")
            await page.until("window.posts === 1", 10, "the first press's POST")
            await page.tap("#confirm-ok")  # its POST waits on the paused broker
            state = await page.js(STATE)
            said = {"posts": 1, "disabled": True, "says": "Sending…", "open": True, "error": ""}
            assert state == said, state
            await page.screenshot(tmp_path / "confirm_in_flight.png")
        finally:
            acl_broker.resume()
        await page.until("!document.getElementById('confirm').open", 20, "dialog closed")
        await page.until(phase_is("BASELINE"), 20, "the session started")
        assert (await page.js("window.posts")) == 1

        # An error answer gives Confirm back: the dose corrected, pressed again, sent.
        await open_dialog(page, "dose_start", {"#confirm-dose": "2000"})
        assert (await page.js(STATE))["disabled"] is False
        await page.tap("#confirm-ok")
        await page.until(
            "document.getElementById('confirm-error').textContent.includes('at most 1000')",
            20,
            "the station's refusal of 2000 mg",
        )
        state = await page.js(STATE)
        assert state["open"] and not state["disabled"] and state["posts"] == 2, state
        assert state["says"] == "Confirm", state
        await page.type_into("#confirm-dose", "56")
        await page.tap("#confirm-ok")
        await page.until("!document.getElementById('confirm').open", 20, "dialog closed")
        await page.until(phase_is("DOSING"), 20, "the dose started")
        assert (await page.js("window.posts")) == 3
        await page.close()


# The answers `post` (station.js) returned, counted once the press's own code has run on
# them: its continuation runs in the same task as the wrapper's, before any evaluate.
COUNT_ANSWERS = (
    "(() => { window.answers = 0; const f = window.post;"
    " window.post = async (...a) => { try { return await f(...a); }"
    " finally { window.answers++; } }; return true; })()"
)


async def test_confirm_comes_back_when_the_broker_never_answers(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    """A press whose command the broker never takes (paused for good): the station gives up
    at its MQTT timeout (mqtt.timeout_s, 3 s here) and answers an error, which gives Confirm
    back, the dialog saying why. The page has no timeout of its own: the station's is it."""
    async with alice_at_start(tmp_path, acl_broker, COUNT_POSTS) as page:
        acl_broker.pause()
        try:
            await page.tap("#confirm-ok")
            await page.until("window.posts === 1", 10, "the press's POST")
            await page.until(
                "document.getElementById('confirm-error').textContent !== ''",
                30,
                "the station's answer: the broker did not take it",
            )
            state = await page.js(STATE)
            assert state["open"] and not state["disabled"], state
            assert state["says"] == "Confirm" and "broker" in state["error"], state
        finally:
            acl_broker.resume()
        await page.close()


async def test_an_answer_to_a_cancelled_confirmation_leaves_the_next_alone(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    """Cancel while the press is in flight, the confirmation opened again: the first
    press's answer, when it came, acted on the dialog open then (the same element): its
    error was written into the new one, not yet pressed, and its Confirm given back while
    that one's own POST was in flight; an `ok` closed it, so a second press still in flight
    whose POST then failed said so in a closed dialog, the nurse taking it as done. Now an
    answer acts on its own confirmation only."""
    async with alice_at_start(tmp_path, acl_broker, COUNT_ANSWERS) as page:
        acl_broker.pause()
        try:
            await page.tap("#confirm-ok")
            await page.until("document.getElementById('confirm-ok').disabled", 10, "in flight")
            await page.tap("#confirm-cancel")
            await page.until("!document.getElementById('confirm').open", 10, "cancelled")
            await open_dialog(page, "start")
            # The first press's answer: an error at the station's MQTT timeout.
            await page.until("window.answers === 1", 30, "the cancelled press answered")
            state = await page.js(STATE)
            assert state["open"] and state["error"] == "", state
            assert not state["disabled"] and state["says"] == "Confirm", state
        finally:
            acl_broker.resume()
        await page.close()
