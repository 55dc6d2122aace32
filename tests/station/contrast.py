"""WCAG 2.x contrast of the station page's words as painted (docs/station.md "Keyboard and
screen reader"), measured in the real browser: each element's own text against what is
under it, the backgrounds of its ancestors composited with their opacity (a group's
opacity fades its words and its background alike), each colour of a striped background
tried. AA: 4.5:1, 3:1 for large text (24 px, or 18.66 px bold). Disabled controls are
exempt (WCAG 1.4.3), as are pseudo-elements' words (the STALE line of a tile: white on
dark red, checked by eye in the screenshots)."""

from __future__ import annotations

from typing import Any

from tests.station.cdp import Page

# Helpers of both checks: colours parsed, composited and compared; `pairs` gives the
# [foreground pixel, background pixel] pairs of a colour painted inside `chain`.
HELPERS = r"""
  const parse = (s) => {
    const m = /rgba?\(([^)]+)\)/.exec(s || "");
    if (!m) return null;
    const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (t, b) => [0, 1, 2].map((i) => t[i] * t[3] + b[i] * (1 - t[3])).concat(1);
  const mix = (x, b, o) => [0, 1, 2].map((i) => x[i] * o + b[i] * (1 - o)).concat(1);
  const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = (c) => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const ratio = (a, b) => {
    const x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  };
  // What an element paints under its content: its colour, or each colour of a gradient.
  const layers = (e) => {
    const s = getComputedStyle(e), c = parse(s.backgroundColor) || [0, 0, 0, 0];
    const g = [...(s.backgroundImage || "").matchAll(/rgba?\([^)]+\)/g)]
      .map((m) => over(parse(m[0]), c));
    return g.length ? g : [c];
  };
  // [text pixel, background pixel] pairs, from the root down to the element.
  const pairs = (chain, i, below, text) => {
    const e = chain[i], o = Number(getComputedStyle(e).opacity), out = [];
    for (const l of layers(e)) {
      const x = over(l, below);
      const inner = i + 1 < chain.length ? pairs(chain, i + 1, x, text) : [[over(text, x), x]];
      for (const [t, b] of inner) out.push([mix(t, below, o), mix(b, below, o)]);
    }
    return out;
  };
"""

JS = (
    "(() => {"
    + HELPERS
    + r"""
  const found = [];
  for (const e of document.body.querySelectorAll("*")) {
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !e.getClientRects().length || e.closest("[hidden], dialog:not([open])")) continue;
    const s = getComputedStyle(e);
    if (s.visibility !== "visible" || s.display === "none" || e.closest(":disabled")) continue;
    const r = e.getBoundingClientRect();
    if (r.width < 1 || r.height < 1 || e.closest(".sr-only")) continue;
    const chain = [];
    for (let x = e; x; x = x.parentElement) chain.unshift(x);
    const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
    const need = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    const worst = Math.min(...pairs(chain, 0, [255, 255, 255, 1], parse(s.color))
      .map(([t, b]) => ratio(t, b)));
    if (worst < need) {
      found.push({ what: `${e.tagName.toLowerCase()}.${[...e.classList].join(".")}`,
        text: e.textContent.trim().slice(0, 40), ratio: Math.round(worst * 100) / 100, need });
    }
  }
  return found;
})()
"""
)

# The focused control's ring (its outline, drawn outside it) against what is under it (its
# parent's background): style, width in px, and the worst contrast (WCAG 2.4.11: 3:1).
RING = (
    "(() => {"
    + HELPERS
    + r"""
  const e = document.activeElement, s = getComputedStyle(e), chain = [];
  for (let x = e.parentElement; x; x = x.parentElement) chain.unshift(x);
  const ring = parse(s.outlineColor) || [0, 0, 0, 0];
  const worst = Math.min(...pairs(chain, 0, [255, 255, 255, 1], ring).map(([t, b]) => ratio(t, b)));
  const r = Math.round(worst * 100) / 100;
  return { style: s.outlineStyle, width: parseFloat(s.outlineWidth), ratio: r };
})()
"""
)

# Every animation (the alarm's flashing) held at one point of its cycle: 0.25 is the
# first half of a 50 % duty cycle, 0.75 the second.
AT_PHASE = """((f) => { for (const a of document.getAnimations()) {
  a.pause(); a.currentTime = a.effect.getComputedTiming().duration * f; } return true; })(%s)"""
RESUME = "(() => { for (const a of document.getAnimations()) a.play(); return true; })()"


async def too_low(page: Page) -> list[dict[str, Any]]:
    """Words under AA on the page as it is painted now, at both halves of every flash."""
    found: list[dict[str, Any]] = []
    for phase in (0.25, 0.75):
        await page.js(AT_PHASE % phase)
        found += [{**f, "phase": phase} for f in await page.js(JS)]
    await page.js(RESUME)
    return found
