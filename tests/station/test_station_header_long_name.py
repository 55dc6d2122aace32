"""A nurse's name as long as the nurses file allows (64 characters, `auth.NAME_RE`) stays
in the header, wrapped, with the Audio pause and Log out buttons on the screen, on a
wallboard (1280x720), a small touchscreen (800x480) and a phone (360x740). Before, the
name kept on one line widened the header past the screen: the page scrolled sideways,
and Audio pause and Log out were off it. Real station, real mosquitto, real headless
Chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitord.station.auth import hash_pin
from tests.servers import Mosquitto
from tests.station.station_kit import station_and_browser, station_config

NURSE = "Margaretha-" + "W" * 53  # 64 characters, no space to break at
PIN = "5307"

# The header's words and buttons, each inside the screen, and the page not scrolling sideways.
HEADER = """(() => {
  const vw = document.documentElement.clientWidth;
  const within = (r) => r.left >= 0 && r.right <= vw + 0.5;
  const box = (id) => document.getElementById(id).getBoundingClientRect();
  const g = document.createRange();
  g.selectNodeContents(document.getElementById('nurse'));
  return {
    nurse: document.getElementById('nurse').textContent,
    words: [...g.getClientRects()].every(within),
    buttons: ['pause', 'logout'].map((id) => within(box(id))),
    page: document.documentElement.scrollWidth <= vw,
    height: document.getElementById('bar').getBoundingClientRect().height,
  };
})()"""


@pytest.mark.parametrize("size", [(1280, 720), (800, 480), (360, 740)])
async def test_a_long_nurse_name_leaves_the_header_buttons_on_screen(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, size: tuple[int, int]
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    nurses = tmp_path / "nurses"
    nurses.write_text(nurses.read_text() + f"{NURSE}:{hash_pin(PIN, iterations=1000)}\n")
    setup = station_and_browser(tmp_path, mosquitto, mqtt_prefix, cfg=cfg, size=size)
    async with setup as (_, _, _, url, b):
        page = await b.new_page()
        await page.goto(url + "/")
        await page.until("!document.getElementById('login-view').hidden", 20, "login form")
        await page.type_into("#login-name", NURSE)
        await page.type_into("#login-pin", PIN)
        await page.tap("#login-go")
        await page.until("!document.getElementById('board').hidden", 20, "logged in")
        await page.screenshot(tmp_path / "header.png")
        got = await page.js(HEADER)
        # Its words wrapped, not squeezed a letter wide: the header stays a header.
        assert got.pop("height") <= 0.3 * size[1], got
        assert got == {
            "nurse": f"nurse: {NURSE}", "words": True, "buttons": [True, True], "page": True,
        }  # fmt: skip
