// monitord nurses' station page: what a screen reader says of it, and where the keyboard's
// focus goes (docs/station.md "Keyboard and screen reader"). Loaded before station.js,
// whose `el`, state (chairs) and functions (offlineAlarm, offlineKey: audio.js) these
// use when called.
"use strict";

// An alarm in words, as its tag on the tile reads it: "HIGH alarm: SpO2 86 < 90 for 15 s".
function alarmWords(a) {
  return `${(a.priority || "").toUpperCase()}${a.kind !== "physiological" ? " technical" : ""} alarm: ${a.message || a.rule}`;
}
// A control's accessible name: the words it shows first (what a nurse sees and may say to
// voice control), then its chair and, an ACK, its alarm. Before, eight tiles read "ACK",
// "Dose start", ... alike in a screen reader's list of buttons: no telling which chair's
// ACK, nor which alarm it silences.
function named(b, chair, a) {
  b.setAttribute("aria-label", `${b.textContent}, ${chair}${a ? ", " + alarmWords(a) : ""}`);
  return b;
}
// The tile's chair id as its heading (a screen reader jumps from chair to chair by them),
// and the tile a region named after it.
function tileHeading(t, c) {
  const h = el("span", "name", c.id);
  h.id = `name:${c.id}`; h.setAttribute("role", "heading"); h.setAttribute("aria-level", "2");
  t.setAttribute("aria-labelledby", h.id);
  return h;
}

// The confirmation closed (Escape, Cancel, Confirm): the focus back on the control that
// opened it, found again by its id (a reading redrew the tile meanwhile: the browser gave
// the focus back to the button gone, and it fell to the page's body), else on its chair's
// tile (the phase moved on: Dose start became Dose end). Left where the browser put it when
// that is on the page (the button itself, not redrawn).
function focusBack(chair, action) {
  const a = document.activeElement;
  if (a && a !== document.body && a.isConnected && !a.closest("dialog")) return; // (a field of the dialog closed)
  const to = document.getElementById(`cmd:${chair}:${action}`) || document.getElementById(`tile:${chair}`);
  if (to) to.focus({ preventScroll: true });
}
