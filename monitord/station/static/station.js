// monitord nurses' station page (docs/station.md). No build step, no CDN.
// State comes from the station server over Server-Sent Events; commands go back as
// same-origin POSTs with the login's CSRF token. Tiles change only from what the daemon
// publishes (an ACK shows when the daemon's `acknowledged` event arrives).
"use strict";

const $ = (id) => document.getElementById(id);
const PRIO = { high: 0, medium: 1, low: 2, info: 3 };
const STALE_AFTER_MS = 6000; // three missed heartbeats of the server (2 s each)
const ACK_ANSWER_MS = 15000; // an ACK the daemon has not answered by then: "no answer, retry"
const TICK_MS = 5000;        // ages and minute counters are redrawn this often
const RETRY_MS = 3000;       // a stream the browser gave up on (an error answer) is retried
const REFUSAL_SHOWN_MS = 600000; // a daemon's refusal stays on its tile this long
// A chair whose status says `conflict` (docs/mqtt.md): two Pis run its chair id, and its
// readings interleave two patients'. A configuration fault, shown, never sounded.
const CONFLICT_WORDS = "TWO MONITORS REPORT AS THIS CHAIR — readings may be another patient's; call IT";
const STATE_WORDS = {     // alerts/active `state` (docs/mqtt.md), as a nurse reads it
  clear_pending: "LATCHED: condition over, ACK clears it",
  inhibited: "INHIBITED: silent while a higher alert of the chair is active",
};
let csrf = null, nurse = null, hello = null, es = null;
const chairs = new Map();    // id -> chair view (server model)
const ackSent = new Map();   // alert_id -> {chair, at}: an ACK sent, not answered yet
const offlineAck = new Set(); // `${chair}|${status_time}`: offline tone acknowledged here
// Intervals (staleness, stream retries, the audio pause) are measured on the
// monotonic clock: a browser clock stepped by minutes must not make a live stream look
// silent, nor end a pause early.
const mono = () => performance.now();
let lastMsg = mono(), brokerUp = true, streamUp = false, everUp = false, staleSince = null;
let staleWall = null;        // the station's time when the stale time began, to show
let staleWasUp = false;      // the stale time began after the board had been live
let attemptAt = mono();  // when the stream was last (re)opened or its login re-checked
let relogin = false;         // the station no longer knows this login: the board is kept, not live
let ticker = null;           // the worker of the stale check's tick (start), kept referenced

const mmHg = (v) => (v === null || v === undefined ? "--" : String(Math.round(v)));
// chair-2 before chair-10; the server orders alike (order.py natural_key).
function naturalKey(s) { return (s.match(/\d+|\D+/g) || []).map((r) => (/^\d/.test(r) ? [1, Number(r), r] : [0, 0, r])); }
function naturalCmp(a, b) {
  const x = naturalKey(a), y = naturalKey(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    for (let j = 0; j < 3; j++) if (x[i][j] !== y[i][j]) return x[i][j] < y[i][j] ? -1 : 1;
  }
  return x.length - y.length;
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// ---------------------------------------------------------------- staleness
// Stale: the stream broke after it had worked, nothing came for three heartbeats (also
// when it never connected), or the station lost the broker.
function isStale() {
  return (everUp && !streamUp) || !brokerUp || mono() - lastMsg > STALE_AFTER_MS ||
    (waking !== null && mono() - waking.at > WAKE_WAIT_MS); // a wake's new stream slow to come (clock.js)
}
function checkStale() {
  if (!nurse) return;
  checkWake();
  superviseStream();
  const s = isStale();
  if (s && staleSince === null) { // not live since the last word heard, when there was one
    staleSince = everUp ? Math.min(lastMsg, mono()) : mono();
    // Woken from a sleep its monotonic clock did not count: the last message's station time.
    staleWall = waking && waking.heard !== null ? waking.heard : now() - (mono() - staleSince); staleWasUp = everUp;
  }
  if (!s && staleSince !== null && staleWasUp) { // live again: say for how long it was not
    $("gap-text").textContent = notLiveWords(staleWall, now(), mono() - staleSince);
    $("gap-banner").hidden = false;
  }
  if (!s) staleSince = null;
  const was = document.body.classList.contains("stale");
  document.body.classList.toggle("stale", s);
  // What a tile says is known (its device links) changed, and the tab's title (NOT LIVE).
  if (was !== s) { renderAll(); renderSummary(); }
  $("stale-banner").hidden = !s;
  if (s) $("stale-since").textContent = `since ${hhmm(staleWall)}`;
  decideSound();
}

// The stream is watched, not trusted to end: a connection can stay open with nothing on it
// (a half-open TCP after a network fault, a proxy holding it), and the browser's own retry
// stops for good at an error answer (a 401 once the station restarted: logins live in its
// memory). Silent for STALE_AFTER_MS: the page is stale and opens a new stream; closed by
// the browser: the login is checked again every RETRY_MS, and if the station no longer
// knows it, the nurse is asked to log in over the board, which stays stale and sounding.
function superviseStream() {
  if (!nurse || relogin) return;
  const t = mono();
  if (es && es.readyState === EventSource.CLOSED) {
    if (t - attemptAt >= RETRY_MS) { attemptAt = t; recheck(); }
    return;
  }
  if (t - Math.max(lastMsg, attemptAt) > STALE_AFTER_MS) { streamUp = false; connect(); }
}

// ---------------------------------------------------------------- rendering
// The worst alert that is not inhibited, ack or not: the tile keeps its colour until the
// alert clears. It flashes while unacknowledged (IEC 60601-1-8: high ~2 Hz, medium
// ~0.6 Hz, low steady; station.css), also when the chair is offline or the board stale.
function worst(c, unacked) {
  let best = null;
  for (const a of c.alerts || []) {
    if (a.state === "inhibited" || a.priority === "info" || (unacked && a.ack)) continue;
    if (best === null || PRIO[a.priority] < PRIO[best.priority]) best = a;
  }
  return best;
}
function tileClass(c) {
  const cls = [], best = worst(c, false);
  if (best) {
    cls.push(`p-${best.priority}`);
    const open = worst(c, true);
    if (open && open.priority === best.priority && best.priority !== "low") cls.push("flash");
  }
  if (c.online === false) cls.push("offline");
  if (c.conflict) cls.push("conflict");
  return cls.join(" ");
}
// A reading the device or the artifact check marked invalid (`valid: false`, flag
// `implausible`) is shown apart, greyed, never as the chair's value: that stays the
// last valid one, with its own age. Two monitors as one chair: greyed as stale, as either
// patient's reading may be the one shown.
// When the daemon received a reading, on the chair's clock (`received_at`, the engine's
// clock): its age and the next BP due count from it, as tech.bp_overdue does. Not from
// `measured_at`, the device's clock when within 5 min of the daemon's: a cuff 4 min fast
// read "0 min ago" for 4 min too long and its next BP due 4 min late. The session report
// places a live reading on `received_at` too. A daemon older than it: `measured_at`.
function gotAt(x) { const t = Date.parse(x.received_at || x.measured_at); return Number.isFinite(t) ? t : null; }
// A reading's age: from the older of the two times, never fresher than either clock says.
// A device 4 min slow and a record a cuff pushed 4 min after measuring (out of range, then
// back) look the same; read from `received_at` alone, that BP read "0 min ago".
function tookAt(x) {
  const m = Date.parse(x.measured_at), g = gotAt(x);
  return g === null ? null : Number.isFinite(m) ? Math.min(g, m) : g;
}
function vital(label, kind, text, c) {
  const r = (c.vitals || {})[kind], bad = r && r.valid === false;
  const shown = bad ? (c.last_valid || {})[kind] : r, off = c.online === false || silentFor(c) !== null;
  const d = el("div", `vital${off || c.conflict ? " stale" : ""}`);
  d.append(el("div", "small", label), el("div", "v", shown ? text(shown) : "--"));
  const age = (x) => `${mins(chairNow(c) - tookAt(x))} min ago`;
  const mark = off ? ", STALE" : c.conflict ? ", NOT SURE WHOSE" : "";
  if (shown && gotAt(shown)) d.append(el("div", "age", age(shown) + mark));
  if (bad) {
    const why = (r.quality || []).join(", ") || "device";
    d.append(el("div", "invalid", `invalid (${why}): ${text(r)}${gotAt(r) ? ", " + age(r) : ""}`));
  }
  return d;
}
function sessionLine(c) {
  const s = c.session || { phase: "idle" };
  const now = chairNow(c), parts = [s.phase.toUpperCase()];
  if (s.protocol && s.phase !== "idle") parts.push(s.protocol);
  if (s.dose_start) parts.push(`dose +${mins(now - Date.parse(s.dose_start))} min`);
  if (s.observation_met) {
    const left = Date.parse(s.observation_met) - now;
    // Never early (a discharge waits for it): floored, met at 10:45:40 read "10:45" at 10:45:00.
    const at = onStation(c, Date.parse(s.observation_met), true);
    parts.push(left > 0 ? `observation met in ${Math.ceil(left / 60000)} min (${hhmm(Math.ceil(at / 60000) * 60000)})` : "observation time met");
  }
  // Discharge-ready is judged in observation only (clinical-rules.md): a Dose end not
  // recorded kept an esketamine chair "observation time met" for ever, never ready, and an
  // iv-ketamine chair without an observation clock, the page saying neither.
  if (s.phase === "dosing") parts.push(s.protocol === "iv-ketamine" ? "observation starts at Dose end" : "not discharge-ready before Dose end");
  return parts.join(" · ");
}
function bpDue(c) {
  const s = c.session;
  if (!s || !s.bp_due || (s.phase !== "dosing" && s.phase !== "observation")) return null;
  let due = Date.parse(s.bp_due);
  const bp = (c.last_valid || {}).bp;
  if (bp && s.bp_cycle_s && gotAt(bp)) due = Math.max(due, gotAt(bp) + s.bp_cycle_s * 1000);
  const left = due - chairNow(c);
  return left >= 0 ? `next BP due in ${Math.ceil(left / 60000)} min` : `BP overdue by ${mins(-left)} min`;
}
function offlineLine(c) {
  const d = el("div", "offline-banner");
  d.append(el("span", "", `OFFLINE — not monitored${offlineSince(c)}`));
  if (offlineAlarm(c)) {
    if (offlineAck.has(offlineKey(c))) d.append(el("span", "ackby", "ACK (this screen)"));
    else {
      const b = named(el("button", "ack offline-ack", "ACK offline"), c.id); b.type = "button"; b.id = `offack:${c.id}`;
      b.addEventListener("click", () => { offlineAck.add(offlineKey(c)); render(c); decideSound(); });
      d.append(b);
    }
  }
  return d;
}
function ackButton(c, a) {
  const b = el("button", "ack", "ACK"); b.type = "button"; b.id = `ack:${c.id}:${a.alert_id}`;
  const sent = ackSent.get(a.alert_id);
  if (sent && sent.sending) { b.disabled = true; b.textContent = "sending…"; }
  else if (sent && sent.failed) { b.textContent = "not sent, retry"; b.title = sent.failed; b.classList.add("retry"); }
  else if (sent && sent.unsure) { b.textContent = "not confirmed"; b.title = sent.unsure; b.classList.add("unconfirmed"); }
  else if (sent && mono() - sent.at < ACK_ANSWER_MS) { b.disabled = true; b.textContent = "sent"; }
  else if (sent) { b.textContent = "no answer, retry"; b.classList.add("retry"); }
  named(b, c.id, a); b.addEventListener("click", () => ack(c.id, a.alert_id));
  return b;
}
function render(c) {
  if (heldBack(c.id)) { renderSummary(); return; } // a finger on it: redrawn at the release (press.js); the bar is not
  let t = $(`tile:${c.id}`);
  if (!t) {
    t = el("section", "tile"); t.id = `tile:${c.id}`; t.dataset.chair = c.id; t.tabIndex = -1;
    const board = $("board"), after = [...board.children].find((x) => naturalCmp(x.dataset.chair, c.id) > 0);
    board.insertBefore(t, after || null);
  }
  // Redrawn from scratch on every message: the focused control is found again by its id.
  const focus = t.contains(document.activeElement) && document.activeElement !== t ? document.activeElement.id : null;
  t.className = `tile ${tileClass(c)}`;
  t.replaceChildren();
  const head = el("div", "head");
  head.append(tileHeading(t, c)); // a11y.js
  const quiet = silentFor(c);
  t.dataset.silent = quiet === null ? "" : "1"; // redrawn when this changes (start)
  const st = quiet !== null ? "NOT HEARD" : c.online === true ? "ONLINE" : c.online === false ? "OFFLINE" : "NO STATUS";
  head.append(el("span", `state ${quiet !== null ? "silent" : c.online === true ? "online" : c.online === false ? "offline" : "unknown"}`, st));
  t.append(head);
  if (c.online === false) t.append(offlineLine(c));
  if (quiet !== null) t.append(el("div", "silent-banner", SILENT_WORDS(quiet)));
  if (c.conflict) t.append(el("div", "conflict-banner", CONFLICT_WORDS));
  t.append(el("div", "phase", sessionLine(c)));
  const vit = el("div", "vitals");
  vit.append(
    vital("BP mmHg", "bp", (r) => `${mmHg(r.sys_mmHg)}/${mmHg(r.dia_mmHg)}`, c),
    vital("HR /min", "hr", (r) => mmHg(r.hr_bpm), c),
    vital("SpO2 %", "spo2", (r) => mmHg(r.spo2_pct), c));
  t.append(vit);
  const due = bpDue(c);
  if (due) t.append(el("div", "small bpdue", due));
  const v = c.vitals || {}, links = el("div", "links"), lost = new Set();
  for (const a of c.alerts || []) if (a.rule === "tech.device_lost" && a.value && a.value.device) lost.add(a.value.device);
  const devices = new Set([...Object.values(v).map((r) => r.device).filter(Boolean), ...lost]);
  links.append("devices: ");
  for (const d of [...devices].sort()) {
    // An offline or silent chair's links are not known: its last word is no "ok". Nor is
    // an "ok" on a stale board (its ONLINE badges are greyed alike): it read as a link seen
    // working now, on a board that has heard nothing since the connection was lost. A link
    // last known LOST still says so there (its alarm line is shown, last known, too).
    const unknown = c.online === false ? "not known (chair offline)" : quiet !== null ? "not known (not heard)"
      : isStale() && !lost.has(d) ? "not known (board not live)" : null;
    const word = unknown || (lost.has(d) ? "LOST" : "ok");
    links.append(el("span", lost.has(d) ? "lost" : unknown ? "unknown" : "", `${d} ${word} `));
  }
  if (devices.size) t.append(links);
  const ul = el("ul", "alerts");
  for (const a of c.alerts || []) {
    const li = el("li", `alert ${a.priority} ${a.kind}${a.ack ? " acked" : ""}`);
    li.dataset.alertId = a.alert_id; li.dataset.rule = a.rule;
    const txt = el("span", "text");
    txt.append(el("span", "tag", `${(a.priority || "").toUpperCase()}${a.kind !== "physiological" ? " TECH" : ""}`));
    txt.append(unitsWhole(String(a.message || a.rule)));
    // The daemon's state, in words: a latched alert whose condition is over still sounds
    // (only an ACK ends it), and an inhibited one is silent; without these both read as
    // an ongoing alarm beside readings that say otherwise.
    const word = STATE_WORDS[a.state];
    if (word) txt.append(el("span", `state-word ${a.state}`, word));
    // When it was raised (on the station's clock, in the site's zone) and how long ago: a nurse
    // reaching the board tells a fresh alarm from one that has sounded for 20 min.
    if (typeof a.raised_t === "number") {
      const at = a.raised_t * 1000;
      const since = el("span", "since");
      since.append(unitsWhole(`since ${hhmm(onStation(c, at))} (${mins(chairNow(c) - at)} min)`));
      txt.append(since);
    }
    li.append(txt);
    if (a.ack) li.append(el("span", "ackby", `ACK ${a.by || ""}`.trim()));
    else if (a.priority !== "info") li.append(ackButton(c, a));
    ul.append(li);
  }
  t.append(ul);
  t.append(controls(c));
  // A refusal answers a tap: shown while the nurse who tapped is there, not for hours
  // after, when it read as a problem of the next patient's session.
  const err = (c.errors || [])[c.errors.length - 1];
  const errAge = err && err.time ? chairNow(c) - Date.parse(err.time) : 0;
  if (err && !(errAge > REFUSAL_SHOWN_MS)) t.append(answerLine(err, c));
  // Gone or disabled (an ACK sent: "sending…"), the tile keeps it: else it fell to the body (a11y.js).
  if (focus) { const f = $(focus); (f && !f.disabled ? f : t).focus({ preventScroll: true }); }
  renderSummary();
}
// The daemon's answer to a command it did nothing with (`cmd/errors`, its `code`:
// docs/mqtt.md). Two nurses tap ACK on one alarm: the second ACK finds it acknowledged,
// or (a latched alert the first ACK ended) cleared. That is no failure: the alarm is
// taken care of, and every page says by whom and when. Shown as "Refused" it read as an
// ACK that failed, or an alarm chain that is broken, beside an alarm that IS
// acknowledged. A wrong ACK (an unknown alert, another chair's) and every other refusal
// still read "Refused".
// The tapped alert may be done while the same rule sounds again under a new id (a crisis
// cleared, then a new one; another monitor lost): then the answer says so, not in green.
// Before, "bp.crisis had already cleared" read as all clear beside a new, unacknowledged
// crisis.
function answerLine(err, c) {
  const session = appliedAnswer(err, c) || sessionAnswer(err, c);
  if (session) return session;
  const at = (x) => (x ? ` at ${hhmm(onStation(c, Date.parse(x)))}` : ""); // chair-clock times
  const whose = `ACK${err.sent_by ? " by " + err.sent_by : ""}${at(err.time)}`;
  const what = err.rule || "the alert";
  let said = null;
  if (err.code === "acknowledged") said = `was already acknowledged${err.acked_by ? ` by ${err.acked_by}` : ""}${at(err.acked_at)}`;
  if (err.code === "cleared") said = `had already cleared${at(err.cleared_at)}`;
  if (said === null) return el("div", "refusal", `Refused${at(err.time)}: ${err.error}`);
  const again = (c.alerts || []).some((a) => err.rule && a.rule === err.rule && a.alert_id !== err.alert_id && !a.ack && a.priority !== "info");
  if (again) return el("div", "answer again", `${whose}: that ${what} ${said}; another ${what} is active, NOT acknowledged`);
  return el("div", `answer ${err.code === "cleared" ? "cleared" : "acked"}-already`, `${whose}: ${what} ${said}`);
}
function controls(c) {
  const d = el("div", "controls"), phase = (c.session || {}).phase || "idle";
  const add = (label, action) => {
    const b = el("button", `cmd ${action}`, label); b.type = "button"; b.dataset.action = action;
    b.id = `cmd:${c.id}:${action}`;
    named(b, c.id); b.addEventListener("click", () => confirmSession(c.id, action));
    d.append(b);
  };
  if (phase === "idle") add("Start session", "start");
  if (phase === "baseline") add("Dose start", "dose_start");
  if (phase === "dosing") add("Dose end", "dose_end");
  if (phase !== "idle") add("End session", "end");
  return d;
}
// The alarm bar, always on screen (sticky under the header): every chair with an
// unacknowledged alarm, or offline with a patient, highest first, each a link to its tile,
// so an alarm on a tile below the fold is never only a sound; and, after them, each chair
// two monitors report as (silent: nothing the nurse can fix at the chair).
function renderSummary() {
  const items = [];
  for (const c of chairs.values()) {
    const a = worst(c, true), off = offlineAlarm(c), two = !!c.conflict;
    if (!a && !off && !two) continue;
    // An offline chair ranks after medium: its tone is the technical one (decideSound).
    items.push({ c, a, off, two, rank: Math.min(a ? PRIO[a.priority] : 9, off ? 1.5 : 9, two ? 5 : 9) });
  }
  items.sort((x, y) => x.rank - y.rank || naturalCmp(x.c.id, y.c.id));
  if (barHeld()) { drawTitle(items); return; } // a press on the bar: redrawn at its click (view.js)
  // Each chair's link is kept, changed in place only when its own item changes: rebuilt,
  // a link restarted its flashing at every reading, and the bar rebuilt at any change of
  // it between the press and the release of a tap on it lost the tap (the element pressed
  // was gone: no click), so the tile the nurse asked for was not brought into view.
  const bar = $("alarm-bar"), old = new Map([...bar.children].map((l) => [l.dataset.chair, l]));
  let changed = bar.hidden !== (items.length === 0) || old.size !== items.length;
  items.forEach(({ c, a, off, two }, i) => {
    let link = old.get(c.id);
    old.delete(c.id);
    if (!link) {
      link = el("a"); link.href = `#tile:${c.id}`; link.dataset.chair = c.id;
      link.addEventListener("click", (ev) => {
        ev.preventDefault();
        const t = $(`tile:${c.id}`);
        if (t) { showTile(t); t.focus({ preventScroll: true }); } // view.js
      });
    }
    const sig = JSON.stringify([off, two, a && [a.priority, a.kind, a.message || a.rule]]);
    if (link.dataset.sig !== sig) {
      link.dataset.sig = sig; changed = true;
      // A technical alarm reads as one here as on its tile (TECH, a dashed border): a lost
      // monitor is not the patient's BP, and the nurse knows which before reaching the chair.
      const tech = a && a.kind !== "physiological";
      link.className = `sum${a ? " p-" + a.priority : ""}${a && a.priority !== "low" ? " flash" : ""}${off ? " offline" : ""}${tech ? " technical" : ""}${two ? " conflict" : ""}`;
      link.replaceChildren(el("span", "name", c.id)); // its spans take no press (station.css)
      if (off) link.append(el("span", "tag", "OFFLINE"));
      if (two) link.append(el("span", "tag", "TWO MONITORS"));
      if (a) link.append(el("span", "tag", `${a.priority.toUpperCase()}${tech ? " TECH" : ""}`), el("span", "msg", a.message || a.rule));
    }
    if (bar.children[i] !== link) { bar.insertBefore(link, bar.children[i] || null); changed = true; }
  });
  for (const l of old.values()) l.remove();
  bar.hidden = items.length === 0;
  // Fitted again only when it changed: every reading of every chair comes here (view.js).
  if (changed) fitBar();
  drawTitle(items);
}
function renderAll() { for (const c of chairs.values()) render(c); }

// ---------------------------------------------------------------- commands
async function post(path, body, again = false) {
  let r;
  try {
    r = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf || "" },
      body: JSON.stringify(body),
    });
  } catch (e) { return { ok: false, status: 0, data: { error: "the station does not answer" } }; }
  let data = {};
  try { data = await r.json(); } catch (e) { /* empty */ }
  if (r.status === 401) needLogin(LOGIN_ENDED);
  // Another tab of this browser logged in: the cookie is its login's, this page's token is
  // not. Going on, every ACK and receipt of this page was refused, under its nurse's name.
  // The same nurse's login (logged in again there) is taken on, as at a reconnect
  // (recheck), and the command sent again: refused 403, the station did nothing with it.
  // Before, the tab asked her PIN, and her login there replaced the other tab's in turn.
  if (r.status === 403 && data.code === "csrf") {
    if (!again && (await ownLogin())) return post(path, body, true);
    if (!relogin) needLogin(LOGIN_REPLACED);
  }
  return { ok: r.ok, status: r.status, data };
}
// "sent" is kept here, not in the button (tiles are redrawn on every message), until the
// daemon's `acknowledged` or `cleared` arrives, or ACK_ANSWER_MS pass: "no answer, retry".
// It says "sent" only once the broker took it (the station answers after its PUBACK):
// "sending…" until then, so a broker that stopped answering (up to the station's MQTT
// timeout) is never shown as an ACK on its way to the chair. ACK_ANSWER_MS is counted on
// the monotonic clock: on the wall clock, one stepped back (NTP) kept "sent" on an ACK
// nobody answered for as long as the step.
async function ack(chair, alertId) {
  const redraw = () => { const c = chairs.get(chair); if (c) render(c); };
  ackSent.set(alertId, { chair, at: mono(), sending: true }); redraw();
  const r = await post("/api/ack", { chair, alert_id: alertId });
  if (!ackSent.has(alertId)) return; // answered already (acknowledged or cleared)
  // Said on the button, not in a dialog: a modal alert() would stop this page's timers.
  const unsure = unconfirmedWords(r, chair); // session.js: it may still silence the alarm
  if (unsure) ackSent.set(alertId, { chair, at: mono(), unsure: `ACK ${unsure[0].toLowerCase()}${unsure.slice(1)}` });
  else if (!r.ok) ackSent.set(alertId, { chair, at: mono(), failed: `ACK not sent: ${r.data.error || r.status}` });
  else { ackSent.set(alertId, { chair, at: mono() }); setTimeout(redraw, ACK_ANSWER_MS + 100); }
  redraw();
}
function answered(c) { // the daemon answered (acknowledged, or the alert cleared)
  for (const [id, s] of ackSent) {
    if (s.chair !== c.id) continue;
    const a = (c.alerts || []).find((x) => x.alert_id === id);
    if (!a || a.ack) ackSent.delete(id);
  }
}

// ---------------------------------------------------------------- the stream
function connect() {
  if (es) es.close();
  const me = new EventSource("/api/events");
  es = me;
  attemptAt = mono();
  if (!everUp) lastMsg = attemptAt; // the first hello is awaited from here, not the page load
  // A message read more than STALE_AFTER_MS after the last one, with the board not yet
  // found stale, comes to a page that did not run meanwhile: a tab the browser froze (its
  // timers, the stale check too, stopped with it) and resumed. Its stream then hands over
  // what it held back: taken as live, the board never said it had not been, and the
  // alarms raised and cleared meanwhile (not shown, not sounded then) went by as a burst
  // of tones. Now the page is found stale from its last message, that stream is dropped
  // for a new one (its hello: the state now), and the NOT LIVE banner says for how long.
  const seen = () => {
    if (checkWake()) return false; // held while the machine slept: this stream is dropped
    if (mono() - lastMsg > STALE_AFTER_MS) { checkStale(); if (es !== me) return false; }
    lastMsg = mono(); streamUp = true; everUp = true; return true;
  };
  es.addEventListener("hello", (m) => {
    const woke = waking && es === me ? sleptGap(Date.parse(JSON.parse(m.data).time)) : null; // before seen() moves lastMsg
    if (!seen()) return;
    hello = JSON.parse(m.data); setZone(hello.timezone); noteStation(Date.parse(hello.time));
    // Read late by the delivery (tens of ms), the station's time is always a little behind:
    // within CLOCK_SLACK_MS the browser's clock is kept (minutes are shown, not seconds),
    // so a clock that is right is never set back by that delay.
    const d = Date.parse(hello.time) - Date.now();
    if (Number.isFinite(d)) stationOffset = Math.abs(d) < CLOCK_SLACK_MS ? 0 : d;
    $("site").textContent = `${hello.site} · ${hello.timezone}${zoneNote}`; drawClock();
    if (typeof hello.silent_after_s === "number") silentAfterMs = hello.silent_after_s * 1000;
    // A station away from the broker may know fewer chairs than this board: restarted
    // meanwhile, it knows none until the broker replays them. Those it does not know stay
    // as last known (not live, their alarms sounding), never an empty board, until the
    // broker is back and says what they are.
    const known = new Set(hello.chairs.map((c) => c.id));
    const kept = hello.broker ? [] : [...chairs.values()].filter((c) => !known.has(c.id));
    // A chair kept keeps what the page learnt of it: its last message's `heard_ago_s` and
    // `chair_now` were as of when it came, and taken as of now its offline banner and its
    // durations read short by all the time since (lost 30 min before: "(0 min)").
    const was = { clocks: new Map(clocks), heard: new Map(heardAt) };
    chairs.clear(); clocks.clear(); heardAt.clear();
    for (const c of hello.chairs) { noteClock(c, null); noteHeard(c); answered(c); chairs.set(c.id, c); }
    announceBoard(hello.chairs); // a11y.js
    for (const c of kept) {
      for (const [m, old] of [[clocks, was.clocks], [heardAt, was.heard]]) if (old.has(c.id)) m.set(c.id, old.get(c.id));
      answered(c); chairs.set(c.id, c);
    }
    // Each tile redrawn in place, the one under a finger at its release (press.js), and
    // only the tiles of chairs gone taken off: emptied and drawn anew, the board lost a
    // tap under way (the button pressed was gone at the release: an ACK not sent).
    for (const t of [...$("board").children]) if (!chairs.has(t.dataset.chair)) t.remove();
    brokerUp = hello.broker; renderAll(); renderSummary(); checkStale();
    if (woke) { $("gap-text").textContent = notLiveWords(woke.from, woke.to, woke.ms); $("gap-banner").hidden = false; }
    afterShown(() => { for (const c of chairs.values()) setReceipts(c); });
  });
  es.addEventListener("chair", (m) => {
    if (!seen()) return;
    const c = JSON.parse(m.data);
    noteClock(c, chairs.get(c.id)); noteHeard(c); answered(c); chairs.set(c.id, c); render(c); decideSound(); announce(c);
    receiptsWhenShown(c.id); // heard.js
  });
  es.addEventListener("alert", (m) => {
    if (!seen()) return;
    const ev = JSON.parse(m.data);
    noteShown(ev); // audio.js
    receipt(ev);
  });
  es.addEventListener("stations", (m) => { if (!seen()) return; brokerUp = JSON.parse(m.data).broker; checkStale(); });
  es.addEventListener("ping", (m) => { if (seen()) noteStation(Date.parse(JSON.parse(m.data || "{}").time)); });
  es.addEventListener("logout", (m) => { // why (server.py): a tab of this browser logged out, or the login's time is over
    es.close(); const out = JSON.parse(m.data || "{}").reason === "logged_out";
    needLogin(`${out ? "Logged out on another tab of this browser" : "Login expired"}: log in again. The board below is NOT LIVE.`);
  });
  es.onerror = () => { streamUp = false; checkStale(); };
}

// ---------------------------------------------------------------- start
// (the login itself: login.js)
async function start() {
  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    ensureCtx(); audio.ctx.resume(); // a login tap is a user gesture: it arms audio
    let r;
    try {
      r = await fetch("/api/login", {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: $("login-name").value, pin: $("login-pin").value }),
      });
    } catch (e) { $("login-error").textContent = NO_STATION; return; } // login.js
    const data = await r.json().catch(() => ({}));
    if (r.ok) { $("login-pin").value = ""; loggedIn(data); } else $("login-error").textContent = data.error || `error ${r.status}`;
  });
  $("arm").addEventListener("click", () => { ensureCtx().resume().then(() => { updateAudioBanner(); decideSound(); }); });
  $("pause").addEventListener("click", pauseAudio);
  $("resume").addEventListener("click", () => { audio.pausedUntil = 0; decideSound(); });
  $("gap-ok").addEventListener("click", () => { $("gap-banner").hidden = true; });
  // A frozen tab resumed (Page Lifecycle): found stale at once, before its stream's held
  // messages or its timers run (seen() above catches it too, whichever comes first).
  document.addEventListener("resume", checkStale);
  // The alarm bar's share of the top is what the header and banners leave (station.css).
  const above = new ResizeObserver(() => { $("top").style.setProperty("--above",
    `${$("bar").getBoundingClientRect().height + $("banners").getBoundingClientRect().height}px`); fitBar(); });
  above.observe($("bar")); above.observe($("banners"));
  $("logout").addEventListener("click", logOut); // login.js
  const everySecond = () => {
    drawClock();
    checkStale();
    for (const c of chairs.values()) { // a chair going silent (or heard again) is redrawn now
      const t = $(`tile:${c.id}`);
      if (nurse && t && (silentFor(c) !== null) !== (t.dataset.silent === "1")) render(c);
    }
  };
  setInterval(everySecond, 1000);
  // And from a worker (tick.js): in a tab hidden for a minute and silent (the EHR in front),
  // Chromium runs the page's own timers once a minute, and a station gone silent (hung, a
  // half-open connection) was found STALE, its technical tone with it, up to a minute late.
  // Both run it: it only looks at the time, and a worker that cannot start leaves the timer.
  try { ticker = new Worker("/static/tick.js"); ticker.onmessage = everySecond; } catch (e) { /* the timer alone */ }
  setInterval(() => { if (nurse) renderAll(); }, TICK_MS); // ages and minutes move on
  await firstCheck(); // login.js
}
start();
