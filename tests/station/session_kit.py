"""Shared parts of the session-control tests (docs/station.md "Session controls"): chair-2
idle on a real daemon behind the shipped ACL, the real station, and two nurses (alice and
bob) logged in on two headless Chromiums; a control's confirmation dialog opened, filled
and confirmed as a nurse does; the tile's answer line read."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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

IDLE = [
    {"t": 1, "event": "hr", "hr": 70},
    {"t": 2, "event": "bp", "sys": 118, "dia": 76},
    {"t": 3600, "event": "end"},
]
TILE = '.tile[data-chair="chair-2"]'
ANSWER = f"document.querySelector('{TILE} .answer, {TILE} .refusal')"


def phase_is(phase: str) -> str:
    return f"document.querySelector('{TILE} .phase')?.textContent.startsWith('{phase}') === true"


async def open_dialog(page: Page, action: str, fields: dict[str, str] | None = None) -> None:
    """The nurse taps a session control and fills its confirmation, not yet confirmed."""
    await page.tap(f"{TILE} button.cmd.{action}")
    await page.until("document.getElementById('confirm').open", 10, "confirmation")
    for sel, value in (fields or {}).items():
        await page.type_into(sel, value)


async def ok(page: Page) -> None:
    await page.tap("#confirm-ok")
    await page.until("!document.getElementById('confirm').open", 10, "dialog closed")


async def confirm_as(
    page: Page, nurse: str, action: str, fields: dict[str, str] | None = None
) -> None:
    """A control tapped, its dialog (naming chair-2 and the nurse logged in) confirmed."""
    await open_dialog(page, action, fields)
    text = await page.js("document.getElementById('confirm-text').textContent")
    assert "chair-2" in text and nurse in text, text
    await ok(page)


async def line(page: Page, has: str) -> tuple[str, str]:
    """The tile's answer line once it says `has`: (its class, its text)."""
    got = await page.until(
        f"{ANSWER}?.textContent.includes({has!r})"
        f" ? [{ANSWER}.className, {ANSWER}.textContent] : null",
        20,
        f"the tile's answer saying {has!r}",
    )
    return str(got[0]), str(got[1])


@contextlib.asynccontextmanager
async def chair_2_served(
    tmp: Path, broker: AclMosquitto, scenario: list[dict[str, Any]]
) -> AsyncIterator[str]:
    """chair-2's daemon (its simulated devices playing `scenario`) and the station, both
    real processes on the broker with the shipped ACL: the station's URL. Their logs are
    printed if the test fails."""
    scfg = station_config(tmp, broker)
    ccfg = chair_config(tmp, broker, "chair-2", scenario)
    async with (
        station_process(scfg, tmp / "station.log") as (station, url),
        daemon_process(ccfg, tmp / "chair-2.log") as daemon,
        show_logs(station, daemon),
    ):
        yield url


@contextlib.asynccontextmanager
async def alice_at_start(
    tmp: Path, broker: AclMosquitto, watch: str | None = None
) -> AsyncIterator[Page]:
    """alice's page showing chair-2 idle (chair_2_served), its Start confirmation open;
    `watch`: a script run on the page first (one counting its requests)."""
    async with chair_2_served(tmp, broker, IDLE) as url, browser() as b:
        page = await b.new_page()
        await login_page(page, url, "alice")
        await page.until(phase_is("IDLE"), 40, "chair-2 idle")
        if watch is not None:
            await page.js(watch)
        await open_dialog(page, "start")
        yield page


@contextlib.asynccontextmanager
async def two_nurses(tmp: Path, broker: AclMosquitto) -> AsyncIterator[tuple[Page, Page, str]]:
    """(alice's page, bob's page, the station's URL): each logged in on a browser of her
    own and showing chair-2 idle (no session)."""
    async with chair_2_served(tmp, broker, IDLE) as url, browser() as ba, browser() as bb:
        alice, bob = await ba.new_page(), await bb.new_page()
        await login_page(alice, url, "alice")
        await login_page(bob, url, "bob")
        for page in (alice, bob):
            await page.until(phase_is("IDLE"), 40, "chair-2 idle")
        yield alice, bob, url
        await alice.close()
        await bob.close()


async def dose_started_under_bobs_dialog(alice: Page, bob: Page) -> None:
    """Both at Dose start on a session in baseline: bob's confirmation open (84 mg), alice
    confirms hers (56 mg) first; returns once bob's page shows the chair dosing under his
    dialog, still open (he confirms it, or not, after)."""
    await open_dialog(bob, "dose_start", {"#confirm-dose": "84"})
    await confirm_as(alice, "alice", "dose_start", {"#confirm-dose": "56"})
    await bob.until(phase_is("DOSING"), 20, "dosing on bob's page, under his dialog")
