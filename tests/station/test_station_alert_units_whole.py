"""In a tile's alert rows a number and its unit stay on one line: at a phone's or a narrow
window's width, "for 30 s" broke as "for 30" / "s", "HR 130 bpm" as "HR 130" / "bpm", and
"(2 min)" after the raise time as "(2" / "min)" (docs/station.md "The page"). The messages
are the daemon's, in its words (tests/engine/test_messages.py); the page keeps each pair
whole where it draws them, the text itself unchanged. Real station, real mosquitto, real
headless Chromium at each width from 300 to 480 CSS pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page

# The daemon's messages (monitord/engine: vitals.py, bp.py, technical.py), numbers and units.
MESSAGES = [
    ("hr.high", "medium", "HR 130 bpm > 120 bpm for 5 min"),
    ("spo2.very_low", "high", "SpO2 81% < 85% for 10 s"),
    ("hr.very_low", "high", "HR 38 bpm < 40 bpm for 30 s"),
    ("bp.low", "medium", "BP 85/55 MAP 60 sys < 90 or MAP < 65 (2 readings)"),
]

# Each number and its unit in the alert rows' text (the message, the raise time's minutes):
# whether its first and last letters are drawn on one line.
SPLIT = r"""(() => {
  const out = [];
  for (const row of document.querySelectorAll('.alert .text')) {
    const nodes = [], w = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
    let text = "";
    // Each text node's apart ("for 5 min" then "since ..."): a pair is within one.
    while (w.nextNode()) {
      nodes.push([w.currentNode, text.length]); text += w.currentNode.data + "\n";
    }
    const at = (i) => { const [n, s] = nodes.findLast(([, s]) => s <= i); return [n, i - s]; };
    const top = (i) => {
      const g = document.createRange(), [n, o] = at(i);
      g.setStart(n, o); g.setEnd(n, o + 1);
      return g.getBoundingClientRect().top;
    };
    for (const m of text.matchAll(/\d+[ \u00a0](?:s|min|bpm|readings)\b/g)) {
      out.push([m[0], Math.abs(top(m.index) - top(m.index + m[0].length - 1)) < 1]);
    }
  }
  return out;
})()"""


async def test_a_number_and_its_unit_stay_on_one_line(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=(360, 740)) as (page, pub):
        alerts = [alert("chair-1", r, p, m, ago_s=150) for r, p, m in MESSAGES]
        await pub.chair("chair-1", alerts, sess=session("dosing", "esketamine", 10))
        await page.until("document.querySelectorAll('.alert .text').length === 4", 20, "rows")
        split: dict[int, list[str]] = {}
        for width in range(300, 481, 3):
            await page.send(
                "Emulation.setDeviceMetricsOverride",
                width=width, height=740, deviceScaleFactor=1, mobile=False,
            )  # fmt: skip
            pairs: list[Any] = await page.js(SPLIT)
            # Every pair found: each message's, and each row's "(2 min)".
            assert len(pairs) == 12, pairs
            if bad := [p for p, whole in pairs if not whole]:
                split[width] = bad
            if width == 330:
                await page.screenshot(tmp_path / "narrow.png")
        assert split == {}, split
        # The text as the daemon wrote it, spaces and all (a screen reader, a copy).
        texts = await page.js(
            "[...document.querySelectorAll('.alert .text')].map(e => e.textContent)"
        )
        assert all(any(m in t for t in texts) for _, _, m in MESSAGES), texts
