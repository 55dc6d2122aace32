// monitord nurses' station page: what a screen reader says of it, and where the keyboard's
// focus goes (docs/station.md "Keyboard and screen reader"). Loaded before station.js,
// whose `el`, state (chairs) and functions (offlineAlarm, offlineKey: audio.js) these
// use when called.
"use strict";

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
