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

// What the page says by itself, in its live regions (index.html): assertive for a high
// alarm and the banners that the board or the sound cannot be trusted (STALE, audio not
// armed), polite for the rest. Each line is a new child (a screen reader says what is
// added), the last few kept. `window.__monitordSaid`: the lines said, for the tests, the
// last KEEP_LOG (audio.js): a wallboard's page is never reloaded, and kept all it grew by a
// line per alarm for months.
window.__monitordSaid = [];
function say(text, urgent) {
  const box = document.getElementById(urgent ? "say-urgent" : "say-polite");
  box.append(el("div", "", text));
  while (box.children.length > 4) box.firstElementChild.remove();
  keepLast(window.__monitordSaid, { urgent, text }); // audio.js
}
// A new alarm is said once, when it comes: a chair's every message (a reading a second)
// redraws its tile, and saying its alarms at each was a flood that hid the next alarm.
// Acknowledged or inhibited ones are not said (silent: no news); one that becomes active
// is. An offline chair that sounds the technical tone is said as it goes offline.
// `told`: what was said, by chair, forgotten once gone from the chair (bounded).
// `tally`: instead of saying each, count it (a board shown anew: announceBoard).
const told = new Map();
function announce(c, tally) {
  const now = new Set(), was = told.get(c.id) || new Set();
  for (const a of c.alerts || []) {
    if (a.ack || a.priority === "info" || a.state === "inhibited") { if (was.has(a.alert_id)) now.add(a.alert_id); continue; }
    now.add(a.alert_id);
    if (was.has(a.alert_id)) continue;
    if (tally) tally[a.priority] = (tally[a.priority] || 0) + 1;
    else say(`${c.id}: new ${alarmWords(a)}`, a.priority === "high");
  }
  if (offlineAlarm(c)) {
    const key = `offline|${offlineKey(c)}`;
    now.add(key);
    if (!was.has(key)) { if (tally) tally.offline = (tally.offline || 0) + 1; else say(`${c.id}: OFFLINE, not monitored`, false); }
  }
  told.set(c.id, now);
}
// The chairs of a hello (the stream's first message: the board as it is now). A board
// shown anew (the page opened, a login after a Log out) is said in one line, what is on
// it: "32 alarms active: 32 high", at once with a high among them. Before, each of its
// alarms was said as "new" (raised 20 min before), 32 lines one after another at a
// station start with 32 chairs in alarm, the reader busy with them for minutes. After a
// reconnect or a relogin (the board kept) only what came meanwhile is said, each.
let boardNew = true;
function announceBoard(list) {
  const tally = boardNew ? {} : null;
  boardNew = false;
  for (const c of list) announce(c, tally);
  if (!tally) return;
  const prios = ["high", "medium", "low"].filter((p) => tally[p]);
  const n = prios.reduce((s, p) => s + tally[p], 0);
  const words = [];
  if (n) words.push(`${n} alarm${n > 1 ? "s" : ""} active: ${prios.map((p) => `${tally[p]} ${p}`).join(", ")}`);
  if (tally.offline) words.push(`${tally.offline} chair${tally.offline > 1 ? "s" : ""} OFFLINE, not monitored`);
  if (words.length) say(words.join("; "), !!tally.high);
}
// Logged out: the next login shows the board anew (login.js showLogin).
function announceAfresh() { told.clear(); boardNew = true; }

// A banner coming up is said (its words, not its button's): STALE and AUDIO NOT ARMED
// at once, the others politely. Before, a screen reader said none of them. NOT LIVE stays
// until a nurse taps Seen: a second outage ending before that rewrites it in place, and is
// said too (before, only as the banner came up: the second outage's NOT LIVE was never
// said). Not the other banners' words changing (AUDIO PAUSED's time left, each second).
const URGENT_BANNERS = new Set(["stale-banner", "audio-banner"]);
new MutationObserver((changes) => {
  const tell = new Set(); // a banner shown and its words set in one task: said once
  for (const m of changes) {
    if (m.type === "childList") { if (m.target instanceof HTMLElement && m.target.id === "gap-text") tell.add(m.target.parentElement); continue; }
    const b = m.target;
    if (b instanceof HTMLElement && b.parentElement?.id === "banners" && m.oldValue !== null) tell.add(b);
  }
  for (const b of tell) {
    if (!b || b.hidden) continue;
    const words = [...b.childNodes].filter((n) => !(n instanceof HTMLButtonElement)).map((n) => n.textContent).join(" ");
    say(words.replace(/\s+/g, " ").trim(), URGENT_BANNERS.has(b.id));
  }
}).observe(document.getElementById("banners"), { subtree: true, childList: true, attributes: true, attributeFilter: ["hidden"], attributeOldValue: true });

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
