"""The alarm bar with many chairs in alarm, chair ids as long and as wide as a config
allows (64 characters, `Ident`), on a wallboard (1280x720) and a small touchscreen
(800x480): every link names its chair and its priority whole, and the bar never covers
the board (docs/station.md "Alarm bar"). Before, an id of 32 capitals (or any of 64)
was wider than its link: the id was cut and the priority never showed; and twelve chairs
in alarm made the sticky bar taller than the screen, the board hidden under it and the
last links off the screen for good. Real station, real mosquitto, real headless Chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import Mosquitto
from tests.station.station_kit import ChairPublisher, alert, session, station_page, vitals

WIDE = "CHAIR-" + "M" * 26  # 32 characters, the widest letters
LONGEST = "W" * 64  # Ident's max_length
IDS = [LONGEST, WIDE, "chair-recovery-bay-west-window-7", "c1"] + [
    f"chair-{i}-bay-northeast-corner-room-{i:02d}" for i in range(8)
]
MSG = "; ".join(["SpO2 86 < 90 for 15 s, probe reseated twice"] * 4)


async def in_alarm(pub: ChairPublisher, n: int) -> None:
    for i, cid in enumerate(IDS[:n]):
        kind = "technical" if i == 3 else "physiological"
        a = alert(cid, "spo2.low", ["high", "medium"][i % 2], MSG, kind=kind)
        await pub.status(cid, "online")
        await pub.vitals(cid, vitals(cid, 131, 84, 71, 97, 200))
        await pub.active(cid, [a], session("dosing", "esketamine", 20))


# Each link: its chair id and priority tag whole inside it (not cut, not pushed out).
PARTS = """[...document.querySelectorAll('#alarm-bar a')].map((l) => {
  const box = l.getBoundingClientRect();
  const whole = (e) => {
    const r = e.getBoundingClientRect();
    return r.left >= box.left - 0.5 && r.right <= box.right + 0.5 && r.bottom <= box.bottom + 0.5
      && e.scrollWidth <= Math.ceil(r.width) + 0.5;
  };
  const parts = [...l.querySelectorAll('.name, .tag')];
  const words = parts.map((e) => e.textContent);
  return {chair: l.dataset.chair, parts: words, whole: parts.every(whole)};
})"""


@pytest.mark.parametrize("size", [(1280, 720), (800, 480)])
async def test_each_link_names_its_chair_and_priority_whole_however_long_the_id(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, size: tuple[int, int]
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=size) as (page, pub):
        await in_alarm(pub, 4)
        await page.until("document.querySelectorAll('#alarm-bar a').length === 4", 20, "links")
        await page.screenshot(tmp_path / "bar.png")
        links = await page.js(PARTS)
        assert sorted(x["chair"] for x in links) == sorted(IDS[:4])
        for x in links:
            assert x["whole"], x
            assert x["parts"][0] == x["chair"] and x["parts"][1].split()[0] in ("HIGH", "MEDIUM")


@pytest.mark.parametrize("size", [(1280, 720), (800, 480)])
async def test_twelve_chairs_in_alarm_leave_the_board_on_screen(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, size: tuple[int, int]
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=size) as (page, pub):
        await in_alarm(pub, 12)
        await page.until("document.querySelectorAll('#alarm-bar a').length === 12", 20, "links")
        await page.screenshot(tmp_path / "bar.png")
        # The sticky top (header, banners, bar) leaves at least 40 % of the screen to
        # the board, and a tile's ACK can be reached there.
        top = await page.js("document.getElementById('top').getBoundingClientRect().bottom")
        assert top <= 0.6 * size[1], top
        # Every link can be reached: the bar scrolls within its own box, the last link
        # brought into view inside the screen, and a tap on it brings its tile into view.
        last = "document.querySelector('#alarm-bar a:last-child')"
        await page.js(f"{last}.scrollIntoView({{block: 'nearest'}})")
        box = await page.js(
            f"(() => {{ const r = {last}.getBoundingClientRect(); return [r.top, r.bottom]; }})()"
        )
        assert 0 <= box[0] and box[1] <= size[1], box
        chair = await page.js(f"{last}.dataset.chair")
        await page.tap("#alarm-bar a:last-child")
        await page.until(
            f"(() => {{ const t = document.getElementById('tile:{chair}').getBoundingClientRect();"
            " const top = document.getElementById('top').getBoundingClientRect().bottom;"
            " return t.top < innerHeight && t.bottom > top; })()",
            10,
            "the tapped chair's tile below the bar, on screen",
        )
