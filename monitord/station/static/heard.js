// monitord nurses' station page: what proves an alarm was seen, and a chair not heard
// (docs/station.md). Loaded before station.js, whose state (chairs, isStale, post) these
// functions read when called.
"use strict";

// A streaming chair gone silent (its network cut, its daemon hung): said at once, where its
// Last Will takes up to 1.5 x keepalive (45 s) to say OFFLINE (docs/station.md).
const SILENT_WORDS = (s) => `NOT HEARD for ${s} s: its readings stopped coming (network cut? daemon stopped?); watch the chair directly`;
// A receipt the station could not send (no answer, 503) is tried again on its own, 1 s after
// the first failure, doubling to at most every 10 s, until it is answered: the daemon raises
// `delivery.unheard` 15 s after an alarm's event with no receipt. Before, only the chair's
// next message tried again, and the new alarm's own set was what brought it.
const RECEIPT_RETRY_FIRST_MS = 1000;
const RECEIPT_RETRY_MS = 10000;
const heardAt = new Map();   // id -> mono() of the chair's last live message (its heard_ago_s)
let silentAfterMs = 15000;   // the station's SILENT_AFTER_S, from each hello
const receipted = new Map(); // receiptKey -> {sent, sounded, busy, retryAt, fails}: alarm receipts
// One retry timer per receipt: a new failure replaces the last one's. Before, each failure
// left its own timer, each firing made the receipt due at once and failed again with a
// timer more, and a chair's messages tried a sounded receipt again with no backoff: a
// streaming chair's page POSTed faster and faster while the station answered 503.
const retryTimers = new Map(); // receiptKey -> setTimeout handle

// ---------------------------------------------------------------- silent chairs
// The station says whether a chair streams (a kind of reading arriving at least twice per
// SILENT_AFTER_S) and how long ago it last heard it live; the page counts on from there.
// A chair with no streaming device publishes nothing periodic: it is never said silent.
function noteHeard(c) {
  if (typeof c.heard_ago_s === "number") heardAt.set(c.id, mono() - c.heard_ago_s * 1000);
  else heardAt.delete(c.id);
}
function silentFor(c) { // seconds, or null when not silent (or not known: a stale board)
  const t = heardAt.get(c.id);
  if (c.online !== true || !c.streaming || t === undefined || isStale()) return null;
  const q = mono() - t;
  return q > silentAfterMs ? Math.floor(q / 1000) : null;
}

// Receipts (docs/station.md "MQTT"): the page sends them, as it is what shows and sounds
// an alarm. Each is sent after what it answers is on screen (next frame) and its sound
// decided. The station publishes each (alert, event, level) once, again if it now sounded.
const afterShown = (fn) => requestAnimationFrame(() => setTimeout(fn, 0));
// A chair's receipts asked after its next frame, once however many of its messages came
// before it: a hidden tab (the EHR in front for a shift) gets no frames, and one callback
// was kept per message, a streaming chair's several a second, all run at once back in view.
// setReceipts reads the chair as it is when it runs, so one ask covers them all.
const receiptsAsked = new Set(); // chair ids with an ask waiting for a frame
function receiptsWhenShown(id) {
  if (receiptsAsked.has(id)) return;
  receiptsAsked.add(id);
  afterShown(() => { receiptsAsked.delete(id); setReceipts(chairs.get(id)); });
}
const receiptKey = (chair, id, event, level) => `${chair}|${id}|${event}|${event === "raised" ? 0 : level ?? ""}`;
// The alert as chair `id`'s tile shows it now, or null: its line drawn on a live board,
// the tile's redraw not waiting under a finger. A receipt tells the daemon a nurse was
// shown the alarm, and it stops waiting (no `delivery.unheard`): before, an alarm gone
// from the board before it was drawn (raised and cleared under a finger, or within a
// frame) was receipted all the same, as was an event ahead of its chair's update.
function drawnAlert(id, alertId) {
  const c = chairs.get(id), t = $(`tile:${id}`);
  if (!c || !t || press.held === id || isStale()) return null;
  const a = (c.alerts || []).find((x) => x.alert_id === alertId);
  return a && [...t.querySelectorAll("li.alert")].some((li) => li.dataset.alertId === alertId) ? a : null;
}
async function sendReceipt(key, body) {
  const prev = receipted.get(key);
  receipted.set(key, { ...prev, busy: true });
  const r = await post("/api/receipt", body);
  receipted.delete(key); // re-inserted: the oldest are forgotten first
  if (r.ok) receipted.set(key, { sent: true, sounded: body.sounded || !!(prev && prev.sounded) });
  else {
    const fails = ((prev && prev.fails) || 0) + 1;
    const wait = Math.min(RECEIPT_RETRY_FIRST_MS * 2 ** (fails - 1), RECEIPT_RETRY_MS);
    const retryAt = mono() + wait;
    receipted.set(key, prev && prev.sent ? { ...prev, busy: false, fails, retryAt } : { sent: false, fails, retryAt });
    // setReceipts asks again only for what is still drawn, unacknowledged, on a live board;
    // a board stale meanwhile asks at its next hello (station.js).
    clearTimeout(retryTimers.get(key));
    retryTimers.set(key, setTimeout(() => {
      retryTimers.delete(key);
      const q = receipted.get(key);
      if (q && !q.busy) receipted.set(key, { ...q, retryAt: 0 }); // due now (a timer may run a tick early)
      setReceipts(chairs.get(body.chair));
    }, wait));
  }
  if (r.ok) { clearTimeout(retryTimers.get(key)); retryTimers.delete(key); }
  while (receipted.size > 2000) receipted.delete(receipted.keys().next().value);
  // Its tone may have started while it was on its way (a higher alarm acknowledged, the
  // pause over, audio armed): setReceipts skipped it as busy then, so it is asked now.
  // Before, `sounded: true` waited for the chair's next message (minutes for a chair with
  // no streaming reading). Sent, or failed and not due again, it sends nothing more.
  if (r.ok) setReceipts(chairs.get(body.chair));
}
function receipt(ev) { // a live event: every one is receipted once shown
  const alarm = ev.alert_id && (ev.event === "raised" || ev.event === "escalated");
  const key = alarm ? receiptKey(ev.chair, ev.alert_id, ev.event, ev.level) : null;
  if (key) receipted.set(key, { ...receipted.get(key), busy: true }); // not again from the set
  const send = () => {
    if (press.held === ev.chair) { whenDrawn(ev.chair, send); return; } // held again
    const body = { chair: ev.chair, alert_id: ev.alert_id, event: ev.event, level: ev.level ?? null, rule: ev.rule, sounded: false };
    if (!key) { post("/api/receipt", body); return; }
    const a = drawnAlert(ev.chair, ev.alert_id);
    if (!a) { // not on screen: none now; setReceipts sends it once a set draws it
      const r = receipted.get(key);
      if (r && r.sent) receipted.set(key, { ...r, busy: false }); else receipted.delete(key);
      return;
    }
    // Whether THIS alert sounds here (as setReceipts asks), not whether a tone of its
    // priority plays: another chair's alarm made an acknowledged or inhibited alert, silent
    // on this board, reported to its daemon as heard.
    body.sounded = armed() && sounding(a) && audio.current === a.priority;
    sendReceipt(key, body);
  };
  afterShown(() => whenDrawn(ev.chair, send));
}
// An alarm learnt from a chair's retained active set, not from a live event (a hello: a
// reload, a new stream, the station restarted; the station back on the broker) is
// receipted too: the daemon waits for the receipt of its latest event (`raised`, or
// `escalated` at its level: receipts.py), and `delivery.unheard` stood while a nurse
// already saw and heard it. High and medium, not acknowledged (an ACK came from a page),
// each once drawn (`drawnAlert`).
function setReceipts(c) {
  if (!c || isStale()) return;
  if (press.held === c.id) { whenDrawn(c.id, () => setReceipts(chairs.get(c.id))); return; } // not drawn yet
  for (const a of c.alerts || []) {
    if ((a.priority !== "high" && a.priority !== "medium") || a.ack || !drawnAlert(c.id, a.alert_id)) continue;
    const level = a.level || 0, event = level > 0 ? "escalated" : "raised";
    const sounded = armed() && audio.current === a.priority && sounding(a);
    const key = receiptKey(c.id, a.alert_id, event, level), r = receipted.get(key);
    // A page out of view (a background tab, a minimised window, a screen off) shows it to
    // nobody: its first receipt waits until the page is seen. Most asks wait for a frame
    // (afterShown), and a hidden page gets none; a receipt's retry or answer asks here at
    // once, and receipted the alarms of its chair drawn in the hidden tab from a set alone.
    // One already sent or tried was on screen then: its retry, or `sounded` once its tone
    // starts, goes on.
    if (!r && document.visibilityState !== "visible") continue;
    // A failed one waits out its backoff, also one sent silent now asked again sounded.
    if (r && (r.busy || (r.sent && (r.sounded || !sounded)) || mono() < (r.retryAt || 0))) continue;
    sendReceipt(key, { chair: c.id, alert_id: a.alert_id, event, level, rule: a.rule ?? null, sounded });
  }
}
// Back in view: what was drawn while hidden is on screen now, and receipted.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") afterShown(() => { for (const c of chairs.values()) setReceipts(c); });
});
