// monitord nurses' station page: what the page brings into view goes below the sticky top
// (header, banners, alarm bar), never under it (docs/station.md "Alarm bar"). Loaded
// before station.js, whose alarm bar links call `showTile`.
"use strict";

// Not station.js's `$`: a fit asked for while the page loads (a resize, the bar's observer)
// runs at the next frame, and the browser paints frames before station.js has run; with `$`
// it threw `ReferenceError: $ is not defined` at many a page load.
const byId = (id) => document.getElementById(id);

// A tap on a chair in the alarm bar. Centred in the whole window (`scrollIntoView`), a
// tile taller than the space under the top (a 64-character id at 800x480; any tile with
// the audio paused and the board NOT LIVE) had its heading, the chair id, under the top.
// Now centred in the space under the top where it fits; else its top first, or its
// heading's where the tile's top and heading do not fit together (an id of eight lines):
// the chair id tells the nurse where to go, the ACK follows it on the tile. The top is
// measured now: a banner may have come or gone since the last frame. (Not the root's
// scroll-padding: with it the browser took the top's own controls for hidden, and a
// Tab to Audio pause or Resume scrolled the board away.)
function showTile(t, again = false) {
  const top = byId("top").getBoundingClientRect().bottom, space = innerHeight - top;
  const box = t.getBoundingClientRect(), head = t.querySelector(".head");
  const h = head ? head.getBoundingClientRect() : box;
  let y; // where the tile's top goes
  if (box.height <= space) y = top + (space - box.height) / 2;
  else if (h.bottom - box.top <= space) y = top;
  else y = top - (h.top - box.top);
  window.scrollBy(0, box.top - y);
  if (!again) { fit.shown = t; fitBar(); } // looked at again once the bar is fitted (fitNow)
}

// A control reached with the keyboard (Tab, Shift+Tab) under the top: the browser
// scrolls only for what is out of the window, and the top is in it; the ACK took the
// focus where nobody saw it. Brought out below the top. Only the keyboard's, and only
// on the board: a redraw focuses its control again (station.js render) and must not
// move the board under a finger, and the top's own controls are never under it.
let tabbing = false;
document.addEventListener("keydown", (e) => {
  if (e.key !== "Tab") return;
  tabbing = true; setTimeout(() => { tabbing = false; }); // the focus moves within this task
}, true);
document.addEventListener("focusin", (e) => {
  if (!tabbing || !(e.target instanceof Element) || !e.target.closest("#board")) return;
  const top = byId("top").getBoundingClientRect().bottom, r = e.target.getBoundingClientRect();
  if (r.top < top) window.scrollBy(0, r.top - top - 8); // 8 px: its focus ring too
});

// The alarm bar with more chairs in alarm than it shows whole: each link keeps its chair
// and priority only (station.css `.crowded`), the message is on the tile. Before, every
// link kept its message, one or two links a row: a portrait tablet showed 6 of 8 chairs
// in alarm, a laptop 9 of 16, and the rest only by scrolling the bar, which nobody does
// from across the room. Measured without it first, so a bar that empties gets its
// messages back; the bar still scrolls where even the short links do not fit.
// The measure is a layout of the page: asked for at every change of the bar or of its
// room (fitBar), it is done once, at the next frame (fitNow). Done at once on every
// redraw (each reading of each chair redraws the bar), 32 chairs with readings each
// second were 32 forced layouts a second, one a frame does.
// Not while a pointer presses a link of the bar: gone crowded under the finger (chairs
// raising alarms meanwhile), the link pressed shrank, the release landed on another link
// or between two, and the tap did nothing (a mouse's click) or brought another chair into
// view (a touchscreen's, hit-tested after the release). Nor is the bar redrawn then
// (barHeld): a higher alarm's link come before the one pressed moved it from under the
// finger, with the same outcome. Both wait for the press's click, or CLICK_WAIT_MS after
// its release (press.js), at most PRESS_HOLD_MS while down: a hand resting on the bar
// must not keep chairs in alarm out of it. The tiles, the sound and the tab's title are
// not held.
// `shown`: the tile a tap brought into view, placed under the top as it was then. The
// bar's redraw held for the tap and its fit follow (barLetGo), and the top grows with
// them (a tablet: one link at the tap, three crowded rows after); Chromium's scroll
// anchoring keeps the tile where it was on screen, so its heading, the chair id, went
// under the bar. At the first fit after the tap it is brought out again if it is still
// focused and under the top; never later (a redraw moves nothing under a nurse reading).
const fit = { frame: 0, pointer: null, timer: null, summary: false, shown: null };
function fitBar() { if (!fit.frame) fit.frame = requestAnimationFrame(fitNow); }
function fitNow() {
  fit.frame = 0;
  if (fit.pointer !== null) return; // fitted at the press's end (barLetGo)
  const bar = byId("alarm-bar");
  bar.classList.remove("crowded");
  if (!bar.hidden && bar.scrollHeight > bar.clientHeight + 1) bar.classList.add("crowded");
  const t = fit.shown; fit.shown = null;
  if (t && document.activeElement === t
      && t.getBoundingClientRect().top < byId("top").getBoundingClientRect().bottom) showTile(t, true);
}
// Whether the alarm bar's redraw waits for a press on it (renderSummary asks).
function barHeld() { if (fit.pointer === null) return false; fit.summary = true; return true; }
function barLetGo() {
  clearTimeout(fit.timer); fit.timer = null; fit.pointer = null;
  // (Not after a logout meanwhile: its login form has no alarm bar.)
  if (fit.summary && nurse) renderSummary(); // station.js
  fit.summary = false;
  fitBar();
}
document.addEventListener("pointerdown", (e) => {
  if (!(e.target instanceof Element) || !e.target.closest("#alarm-bar")) return;
  clearTimeout(fit.timer); fit.pointer = e.pointerId; fit.timer = setTimeout(barLetGo, PRESS_HOLD_MS);
}, true);
document.addEventListener("pointerup", (e) => {
  if (e.pointerId !== fit.pointer) return;
  clearTimeout(fit.timer); fit.timer = setTimeout(barLetGo, CLICK_WAIT_MS);
}, true);
document.addEventListener("pointercancel", (e) => { if (e.pointerId === fit.pointer) barLetGo(); }, true);
// After the click's own handler (the tile brought into view), not before it.
document.addEventListener("click", (e) => { if (e.pointerId === fit.pointer) setTimeout(barLetGo); }, true);
// Its room changed: the window (a resize, a zoom), the bar's own width (the page's
// scrollbar come or gone). The header's and banners' share: station.js's observer.
addEventListener("resize", fitBar);
new ResizeObserver(() => fitBar()).observe(byId("alarm-bar"));
