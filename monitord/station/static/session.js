// monitord nurses' station page: the daemon's answer to a session command it refused
// (docs/station.md "Session controls") and the confirmation of a session command. Loaded
// before station.js, whose answerLine calls `appliedAnswer` and `sessionAnswer` and its controls
// `confirmSession`, and whose `el`, `post` and state (chairs, nurse) these use when called.
"use strict";

const SESSION_WORDS = { start: "Start session", dose_start: "Dose start", dose_end: "Dose end", end: "End session" };
// A Start refused this soon after the open session's own start is the same start twice
// (a double tap, two nurses at once); later it is a session nobody ended.
const START_AGAIN_MS = 120000;
// The refusal's time is the daemon's wall clock, the session's times its engine's
// (docs/mqtt.md): they may differ by this much.
const SESSION_CLOCK_SLACK_MS = 5000;

// The session a Dose start, Dose end or End session is for: the one the tile showed when
// the nurse pressed, kept from then, not read when she confirms (by then the tile may show
// the next patient's). The daemon refuses it if the chair has another session open by
// then (a colleague ended this one and started the next patient's): before, the page sent
// none, and the tap was applied to the next patient's session (docs/station.md).
function sessionShown(c, action) {
  const id = ((c || {}).session || {}).session_id;
  return action !== "start" && id ? { session_id: id } : {};
}

// Before, every refused session command read "Refused at 22:01: chair-2: dose_start needs a
// session in baseline (dosing)" in red, on every page: a second Dose start (a double tap,
// two nurses at once) that changed nothing looked like a failed dose start, and each nurse
// read another's refusal as her own. Now the line names the command and who pressed it; a
// command already done (the dose started before it) says so, not in red; a real refusal
// says what to do. Null for anything that is not a session command's refusal.
function sessionAnswer(err, c) {
  const what = SESSION_WORDS[err.sent_action];
  if (!what || !String(err.topic || "").endsWith("/cmd/session")) return null;
  const at = (x) => (x ? ` at ${hhmm(onStation(c, Date.parse(x)))}` : "");
  const who = `${what}${err.sent_by ? " by " + err.sent_by : ""}`;
  if (err.code === "session") {
    // For a session no longer open (this page was behind: a colleague ended it and
    // started the next patient): never applied, never a duplicate; always red, saying
    // which session it was for and which is open now.
    const was = `session ${err.sent_session_id || "?"}${err.sent_session_ended ? `, ended${at(err.sent_session_ended)}` : ""}`;
    const now = `the chair now has session ${err.open_session_id || "?"} (started${at(err.open_session_started)})`;
    return el("div", "refusal", `${who} refused${at(err.time)}: this ${what} was for ${was}; ${now}: press again on the board as it is now`);
  }
  const t = Date.parse(err.time || "");
  // Done before the refused command (of this session, not the next patient's).
  const before = (x) => Boolean(x) && !(Date.parse(x) > t + SESSION_CLOCK_SLACK_MS);
  // Judged against the session open at the refusal: the chair's now (its latest times)
  // while it is that one, else the one the station kept with the refusal. Before, a
  // duplicate Dose start turned red "no session is open: Start session first" once the
  // session ended, sending the nurse to record the dose again.
  const now = c.session || { phase: "idle" };
  const then = err.session_then === undefined ? null : err.session_then || { phase: "idle" };
  const s = (now.session_id && before(now.started)) || !then ? now : then;
  let done = null;
  // Done just before it (a double tap, two nurses at once); hours before, it is a session
  // nobody ended (the previous patient's) or a page left open, never a duplicate.
  const just = (x) => before(x) && !(t - Date.parse(x) > START_AGAIN_MS);
  // A Start of another protocol is another start (the wrong session open for its patient),
  // shown green it read as started as asked.
  const same = !err.sent_protocol || err.sent_protocol === s.protocol;
  if (err.sent_action === "start" && s.phase === "baseline" && same && just(s.started)) {
    done = `the session had already started${at(s.started)} (${s.protocol || "protocol unknown"})`;
  }
  if (err.sent_action === "dose_start" && before(s.started) && just(s.dose_start)) {
    done = `the dose had already started${at(s.dose_start)}; this one (its dose and lot) was not recorded`;
  }
  if (err.sent_action === "dose_end" && before(s.started) && just(s.dose_end)) {
    done = `the dose had already ended${at(s.dose_end)}`;
  }
  if (err.sent_action === "end" && s.phase === "idle") done = "no session was open (already ended)";
  if (done) return el("div", "answer session-done", `${who}${at(err.time)}: ${done}`);
  let todo = "";
  if (err.sent_action === "start" && s.phase !== "idle") {
    const asked = err.sent_protocol && err.sent_protocol !== s.protocol ? `, not ${err.sent_protocol}` : "";
    todo = `; the open session is ${s.protocol || "of unknown protocol"}${asked}, started${at(s.started)}; End session first, then Start`;
  } else if (s.phase !== "idle" && s.dose_start && err.sent_action === "dose_start") {
    todo = `; this session's dose started${at(s.dose_start)}; if this is another patient, End session first, then Start`;
  }
  if (s.phase === "idle") todo = err.sent_action === "dose_start" ? "; no session is open: Start session first" : "; no session is open";
  return el("div", "refusal", `${who} refused${at(err.time)}: ${err.error}${todo}`);
}

// A command the daemon APPLIED while its store could not take it (`code: "not_stored"`,
// docs/mqtt.md) is no refusal. Before, an ACK that silenced the alarm read "Refused at
// 14:02: applied, but ..." in red, and the Dose start that started the dose read "the
// dose had already started at 14:02; this one (its dose and lot) was not recorded". Said
// in amber: the alarm of a store that hangs or is full stands. Null for anything else.
function appliedAnswer(err, c) {
  if (err.code !== "not_stored") return null;
  const at = err.time ? ` at ${hhmm(onStation(c, Date.parse(err.time)))}` : "";
  const session = String(err.topic || "").endsWith("/cmd/session");
  const what = (session && SESSION_WORDS[err.sent_action]) || (session ? "Session command" : "ACK");
  return el("div", "answer not-stored", `${what}${err.sent_by ? " by " + err.sent_by : ""}${at}: ${err.error}`);
}

// A command the broker did not confirm in time (`code: "not_confirmed"`): written to it,
// it may still be carried out (a paused broker resumed delivers it). Before, it read as a
// failure ("the broker did not take it: Operation timed out") and a nurse pressed again:
// a second Start or Dose start, an ACK believed not to have silenced. Said in amber.
function unconfirmedWords(r, chair) {
  if (r.data.code !== "not_confirmed") return null;
  return `Not confirmed: ${r.data.error}: look at ${chair}'s tile before pressing again`;
}

// The confirmations opened so far: an answer acts on its own only (`confirmSession`).
let confirmsOpened = 0;

function confirmSession(chair, action) {
  const dlg = $("confirm"), fields = $("confirm-fields");
  // One dialog element for all: a press's answer that came after Cancel and another open
  // acted on that one (its error shown there, its Confirm given back while its own POST
  // was in flight; an ok closed it, a failure of its own press then said in a closed one).
  const mine = ++confirmsOpened, current = () => mine === confirmsOpened;
  fields.replaceChildren(); $("confirm-error").textContent = ""; $("confirm-error").classList.remove("unconfirmed");
  const words = { start: "Start a session", dose_start: "Record DOSE START", dose_end: "Record DOSE END", end: "END the session" };
  $("confirm-text").textContent = `${words[action]} on ${chair}, as ${nurse}?`;
  const input = (label, id, type) => {
    const l = el("label", "", label + " "), i = el("input"); i.id = id; i.type = type || "text";
    l.append(i); fields.append(l); return i;
  };
  let proto = null, dose = null, lot = null;
  if (action === "start") {
    const l = el("label", "", "Protocol "); proto = el("select"); proto.id = "confirm-protocol";
    for (const p of ["esketamine", "iv-ketamine"]) { const o = el("option", "", p); o.value = p; proto.append(o); }
    l.append(proto); fields.append(l);
  }
  if (action === "dose_start") { dose = input("Dose (mg, optional)", "confirm-dose", "number"); lot = input("Lot (optional)", "confirm-lot"); }
  const shown = sessionShown(chairs.get(chair), action); // as pressed, not as confirmed
  const ok = $("confirm-ok"), cancel = $("confirm-cancel");
  const idle = () => { ok.disabled = false; ok.textContent = "Confirm"; };
  idle();
  ok.onclick = async (ev) => {
    ev.preventDefault();
    // Disabled while its POST is in flight, and says so: a second press (a double tap, or
    // again on a slow broker) sent the command twice, the second answered as a duplicate.
    if (ok.disabled) return;
    ok.disabled = true; ok.textContent = "Sending…";
    const body = { chair, action, ...shown };
    if (proto) body.protocol = proto.value;
    if (dose && dose.value) body.dose_mg = dose.value;
    if (lot && lot.value) body.lot = lot.value;
    let r;
    try { r = await post("/api/session", body); } finally { if (current()) idle(); }
    if (!current()) return; // another opened since: the tile shows what became of it
    const unsure = unconfirmedWords(r, chair), said = $("confirm-error");
    said.classList.toggle("unconfirmed", Boolean(unsure));
    if (r.ok) dlg.close(); else said.textContent = unsure || r.data.error || `error ${r.status}`;
  };
  cancel.onclick = () => dlg.close();
  dlg.onclose = () => focusBack(chair, action); // a11y.js
  dlg.showModal();
}
