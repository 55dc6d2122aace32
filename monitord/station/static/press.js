// monitord nurses' station page: a tap on a tile is not lost to its redraw (docs/station.md
// "ACK"). Loaded before station.js, which asks `heldBack` in render.
"use strict";

// A tile is redrawn from scratch on every message (each reading, every TICK_MS). A click is
// the press and the release on one element: redrawn between them (a finger down ~100 ms,
// readings each second), the button pressed was gone at the release and the tap did
// nothing: an ACK tapped on a sounding alarm was not sent. While a pointer is down on a
// tile its redraw waits for the release (and its click, CLICK_WAIT_MS below), at most
// PRESS_HOLD_MS while down: a hand resting on the screen must not freeze a tile's alarms
// (the sound is decided apart, never held).
const PRESS_HOLD_MS = 1000;
// A touchscreen's click is not its release's: Chromium makes it from the tap gesture, an
// input event of its own after the pointerup, hit-tested then (a mouse's click is
// dispatched with its release). Let go at the pointerup, the board shifted back and the
// tile redrawn before the tap was hit-tested: it landed on what was then under the finger,
// another chair's ACK (another patient's alarm silenced) or a node gone (no ACK). So the
// hold lasts past the release until the click, at most CLICK_WAIT_MS (no click comes
// after a drag or a long press). From the release the wait replaces PRESS_HOLD_MS (the
// hand is off the screen): at the cap a click may still be on its way.
const CLICK_WAIT_MS = 400;
// `waiting`: what must follow the held redraw (an alarm's receipt says it is on screen:
// sent while its tile was held, it told the daemon of an alarm not drawn yet). `pointer`:
// the pointer pressing the tile (another finger's release is not its); `downs`: what each
// pointer last pressed, and whether in a tile (a click is checked against its own
// pointer's press: a tap's click carries its touch's pointerId, and comes after its
// release, when the next tap's finger may be down already); `down`: the last pointer's.
const press = {
  chair: null, timer: null, held: null, waiting: [], tile: null, spot: null, at: null, dx: 0, dy: 0,
  pointer: null, down: null, downs: new Map(), heldAt: 0,
};
// The pressed tile stays under the finger until the release: a change above it (the alarm
// bar or a banner shown or gone, a tile of a row above grown) moved the board, the release
// landed beside the button pressed, and the tap did nothing (an ACK not sent). The board
// is shifted back (a transform: no layout change) as long as its redraw is held;
// checked after every change of the page (a mutation observer's turn comes before the
// next input event's) and every scroll. Where the finger is, is the viewport's: on the
// page's, a scrolled board was shifted off the finger, as the browser already keeps what
// is on screen in place when content above it grows (scroll anchoring), moving the page.
const pinned = new MutationObserver(() => pin());
const onScreen = (t) => { const r = t.getBoundingClientRect(); return { x: r.left, y: r.top }; };
// What is kept in place is what was pressed (`spot`), not only its tile: a change inside
// the held tile that no redraw makes moved the button within it (the board gone stale
// puts its "STALE: last known, not live" line at the top of every tile, CSS): the tile
// stayed, its ACK went down by a line under the finger, the release landed above it and
// the ACK was not sent. Once what was pressed is gone (its tile redrawn after its
// click), the tile is kept in place from where it is then.
function spotOf(tile, target) {
  return target instanceof Element && tile.contains(target) ? target : tile;
}
function pin() {
  const t = press.tile;
  if (!t || !t.isConnected) return;
  if (!press.spot.isConnected || !t.contains(press.spot)) { press.spot = t; press.at = onScreen(t); }
  const p = onScreen(press.spot);
  press.dx -= p.x - press.at.x; press.dy -= p.y - press.at.y;
  const to = press.dx || press.dy ? `translate(${press.dx}px, ${press.dy}px)` : "";
  // set only on a change: the observer sees attribute changes (no feedback loop)
  if ($("board").style.transform !== to) $("board").style.transform = to;
}
function letGo() {
  clearTimeout(press.timer); press.timer = null; press.chair = null; press.pointer = null;
  pinned.disconnect(); press.tile = press.spot = null; press.dx = press.dy = 0; $("board").style.transform = "";
  drawHeld();
}
function drawHeld() {
  const id = press.held, c = id ? chairs.get(id) : null, after = press.waiting.splice(0);
  press.held = null;
  if (c) render(c);
  for (const fn of after) afterShown(fn);
}
// Runs fn now, or after chair `id`'s held redraw (its receipts: heard.js).
function whenDrawn(id, fn) { if (press.held === id) press.waiting.push(fn); else fn(); }
document.addEventListener("pointerdown", (e) => {
  const t = e.target instanceof Element ? e.target.closest(".tile") : null;
  press.down = { target: e.target, tile: !!t };
  press.downs.delete(e.pointerId); press.downs.set(e.pointerId, press.down);
  if (press.downs.size > 16) press.downs.delete(press.downs.keys().next().value); // the oldest
  if (!t) return;
  // A press while the last is still held (released, its click awaited and none came: a
  // long press; or another finger's). Let go of first, the tile was redrawn and the board
  // moved back under this finger between its press and its click: the tap was dropped
  // (the button pressed gone or moved). The board stays, this tile is pinned from where
  // it is, and the held tile is redrawn now only if it is another; this one's held redraw
  // waits on, within PRESS_HOLD_MS of its start (tapping again must not freeze it).
  const now = performance.now(), same = press.tile === t;
  if (press.tile && !(same && press.held && now - press.heldAt >= PRESS_HOLD_MS)) {
    clearTimeout(press.timer);
    press.chair = t.dataset.chair; press.tile = t; press.spot = spotOf(t, e.target);
    press.at = onScreen(press.spot); press.pointer = e.pointerId;
    press.timer = setTimeout(letGo, same && press.held ? PRESS_HOLD_MS - (now - press.heldAt) : PRESS_HOLD_MS);
    if (!same) drawHeld();
    return;
  }
  letGo(); press.chair = t.dataset.chair; press.timer = setTimeout(letGo, PRESS_HOLD_MS);
  press.tile = t; press.spot = spotOf(t, e.target); press.at = onScreen(press.spot); press.pointer = e.pointerId;
  pinned.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
}, true);
addEventListener("scroll", () => pin(), { capture: true, passive: true });
// Released: held on until its click (or CLICK_WAIT_MS). Cancelled (the touch became a
// scroll, the browser took it): no click follows, let go at once.
document.addEventListener("pointerup", (e) => {
  if (!press.tile || e.pointerId !== press.pointer) return;
  clearTimeout(press.timer); press.timer = setTimeout(letGo, CLICK_WAIT_MS);
}, true);
document.addEventListener("pointercancel", (e) => { if (press.tile && e.pointerId === press.pointer) letGo(); }, true);
// A pointer's click whose target does not hold what its press was on, where either is on a
// tile: the page moved between the press and the click's hit test (a click later than
// CLICK_WAIT_MS, or after the cap). It is dropped: a tap that lands on another chair's
// ACK would silence another patient's alarm; lost, it is tapped again (the ACK still
// reads ACK). A mouse's click goes to what holds both its press and its release, so a
// click on what was pressed is never dropped. The keyboard's (detail 0) goes where the
// focus is, not where a pointer was.
// A click of no pointer seen pressing (a synthetic one) is checked against the last press.
function stray(e) {
  const d = press.downs.get(e.pointerId) || press.down, to = e.target instanceof Node ? e.target : null;
  if (e.detail === 0 || !(d?.tile || (to instanceof Element && to.closest(".tile")))) return false;
  return !(d && to && to.contains(d.target));
}
document.addEventListener("click", (e) => {
  if (stray(e)) {
    e.preventDefault(); e.stopImmediatePropagation();
    console.warn("station: a tap's click landed away from what was pressed (the page moved under it): dropped");
  }
  // The click is on its way (its target found): what its handler redraws is drawn at once,
  // the rest at the next task (the click has run). Only the pressing pointer's click (or
  // one of no pointer seen pressing): an earlier tap's click, come after the next finger
  // went down, let go of the tile under that finger, redrawn before its release.
  const own = e.pointerId === press.pointer || !press.downs.has(e.pointerId);
  press.downs.delete(e.pointerId);
  if (!own) return;
  press.chair = null;
  if (press.tile && e.detail > 0) { clearTimeout(press.timer); press.timer = setTimeout(letGo, 0); }
}, true);
// Whether chair `id`'s redraw waits for a pointer's release (render asks; done at letGo).
function heldBack(id) {
  if (press.chair !== id) return false;
  if (press.held !== id) press.heldAt = performance.now(); // since when it waits
  press.held = id;
  return true;
}
