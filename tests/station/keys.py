"""A keyboard's keys for the station page, through DevTools (`Input.dispatchKeyEvent`):
trusted key events, as a nurse's keyboard sends them (docs/station.md "Keyboard and
screen reader")."""

from __future__ import annotations

import json
from typing import Any

from tests.station.cdp import Page

# key -> (code, Windows virtual key code, the text it types)
KEYS = {
    "Tab": ("Tab", 9, ""),
    "Enter": ("Enter", 13, "\r"),
    " ": ("Space", 32, " "),
    "Escape": ("Escape", 27, ""),
}


async def press(page: Page, key: str, shift: bool = False) -> None:
    code, vk, text = KEYS[key]
    down: dict[str, Any] = {"type": "keyDown" if text else "rawKeyDown", "text": text}
    for kind in (down, {"type": "keyUp"}):
        await page.send(
            "Input.dispatchKeyEvent",
            key=key,
            code=code,
            windowsVirtualKeyCode=vk,
            modifiers=8 if shift else 0,
            **kind,
        )


async def tab_to(page: Page, selector: str, most: int = 80) -> None:
    """Tab (forward) until the focus is on `selector`: it is reached by the keyboard."""
    match = f"document.activeElement?.matches({json.dumps(selector)})"
    for _ in range(most):
        if await page.js(match):
            return
        await press(page, "Tab")
    raise AssertionError(f"{selector} not reached with Tab in {most} presses")


async def focused(page: Page) -> str:
    """What has the focus: its id, or its tag when it has none (BODY: nothing)."""
    return str(await page.js("document.activeElement.id || document.activeElement.tagName"))
