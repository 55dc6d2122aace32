"""The alarm bar on a realistic 8-chair board at 1280x720 (a wallboard's usual screen):
every link says which chair and how urgent, legibly, in both halves of its flash
(docs/station.md "Alarm bar"). Before, a chair id of 32 characters filled its link and
cut off its priority and message (a yellow link that said only the chair's name), and a
flashing medium link's black words stood on near-black in the dark half of the flash,
unreadable half the time. Real station, real mosquitto, real headless Chromium.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.servers import Mosquitto
from tests.station.station_kit import ChairPublisher, alert, session, station_page, vitals

LONG = "chair-recovery-bay-west-window-7"  # 32 characters


async def eight_chairs(pub: ChairPublisher) -> None:
    dose, obs = session("dosing", "esketamine", 23), session("observation", "iv-ketamine", 95)
    long_msg = "; ".join(["SpO2 86 < 90 for 15 s, probe reseated twice"] * 4)
    chairs: dict[str, tuple[list[dict[str, Any]], dict[str, Any], bool]] = {
        "chair-1": ([alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 200/120")], dose, True),
        "chair-2": ([alert("chair-2", "spo2.low", "medium", "SpO2 88 < 90 for 15 s")], obs, True),
        "chair-3": ([], session("baseline", "esketamine", None), False),
        "chair-4": ([], {"phase": "idle"}, True),
        "chair-5": ([alert("chair-5", "bp.crisis", "high", "BP 205/118", ack=True)], dose, True),
        "chair-6": ([], session("observation", "esketamine", 130), True),
        "chair-7": ([alert("chair-7", "hr.low", "low", "HR 48 < 50 for 60 s")], dose, True),
        LONG: ([alert(LONG, "spo2.low", "medium", long_msg)], dose, True),
    }  # fmt: skip
    for cid, (alerts, sess, online) in chairs.items():
        await pub.status(cid, "online" if online else "offline")
        await pub.vitals(cid, vitals(cid, 131, 84, 71, 97, 200))
        await pub.active(cid, alerts, sess)


# Each link of the bar: its words and their parts' boxes, and the WCAG contrast of its
# words on its background, now and in the other half of its flash (its animations set
# there: the page is not waited on for it).
LINKS = """(() => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lin = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const lum = (c) => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const contrast = (el) => {
    const s = getComputedStyle(el), a = lum(rgb(s.color)), b = lum(rgb(s.backgroundColor));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  };
  return [...document.querySelectorAll('#alarm-bar a')].map((l) => {
    const box = l.getBoundingClientRect(), out = [];
    const whole = (e) => {
      const r = e.getBoundingClientRect();
      return r.right <= box.right + 0.5 && r.width >= e.scrollWidth - 0.5;
    };
    const anims = l.getAnimations();
    for (const half of [0.25, 0.75]) {
      for (const a of anims) {
        a.pause(); a.currentTime = a.effect.getComputedTiming().duration * half;
      }
      out.push(contrast(l));
    }
    for (const a of anims) a.play();
    const parts = [...l.querySelectorAll('.name, .tag')];
    return {chair: l.dataset.chair, whole: parts.every(whole), contrast: out, text: l.textContent};
  });
})()"""


async def test_the_alarm_bar_names_chair_and_priority_legibly_at_1280x720(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=(1280, 720)) as (page, pub):
        await eight_chairs(pub)
        await page.until("document.querySelectorAll('.tile').length === 8", 20, "8 tiles")
        await page.until("document.querySelectorAll('#alarm-bar a').length === 5", 20, "5 links")
        links = await page.js(LINKS)
        assert [x["chair"] for x in links] == ["chair-1", "chair-2", LONG, "chair-3", "chair-7"]
        for x in links:
            assert x["whole"], x  # which chair and how urgent, whole
            assert min(x["contrast"]) >= 4.5, x  # WCAG AA, in both halves of the flash
        # The bar sits under the header, on screen, above the first tiles.
        assert await page.js(
            "document.getElementById('alarm-bar').getBoundingClientRect().bottom < 720 / 2"
        )
