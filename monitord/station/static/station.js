// monitord nurses' station page (docs/station.md). No build step, no CDN.
// State comes from the station server over Server-Sent Events; commands go back as
// same-origin POSTs with the login's CSRF token. Tiles change only from what the daemon
// publishes (an ACK shows when the daemon's `acknowledged` event arrives).
"use strict";

const $ = (id) => document.getElementById(id);
const PRIO = { high: 0, medium: 1, low: 2, info: 3 };
const STALE_AFTER_MS = 6000; // three missed heartbeats of the server (2 s each)
let csrf = null, nurse = null, hello = null, es = null;
const chairs = new Map();    // id -> chair view (server model), plus recvAt
let lastMsg = Date.now(), brokerUp = true, streamUp = false, everUp = false;

// ---------------------------------------------------------------- time and units
let fmtTime = null;
function setZone(tz) {
  fmtTime = new Intl.DateTimeFormat("en-US", { timeZone: tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" });
}
const hhmm = (ms) => (fmtTime ? fmtTime.format(new Date(ms)) : new Date(ms).toISOString());
const mins = (ms) => Math.floor(Math.abs(ms) / 60000);
const mmHg = (v) => (v === null || v === undefined ? "--" : String(Math.round(v)));
function chairNow(c) { // the chair's clock: simulated chairs run faster than the wall
  return c.clock ? Date.parse(c.clock) + (Date.now() - c.recvAt) : Date.now();
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// ---------------------------------------------------------------- audio (IEC 60601-1-8)
// Pulse trains of the standard's priority signals, in seconds from the burst start:
// high = 10 pulses (3+2, 3+2) repeated; medium = 3 pulses repeated; low = 2 pulses once.
// IEC 60601-1-8 table 4: pulse 75-200 ms (high) / 125-250 ms (medium, low), spacing
// 50-125 ms (high) / 125-250 ms (medium, low), rise and fall 10-20 % of the pulse,
// 150-1000 Hz with harmonics; bursts 2.5-15 s apart (high), 2.5-30 s (medium).
const PATTERNS = {
  high: { offsets: [0, 0.25, 0.5, 1.0, 1.25, 2.25, 2.5, 2.75, 3.25, 3.5], pulse: 0.15, freq: 880, repeat_s: 8 },
  medium: { offsets: [0, 0.4, 0.8], pulse: 0.2, freq: 660, repeat_s: 10 },
  low: { offsets: [0, 0.45], pulse: 0.25, freq: 440, repeat_s: null },
  technical: { offsets: [0, 0.6], pulse: 0.3, freq: 520, repeat_s: 5 },
};
const audio = {
  ctx: null, timer: null, current: null, pausedUntil: 0, lowSeen: new Set(),
};
// Test hook: records what was scheduled; it never makes sound itself.
window.__monitordAudio = { log: [], current: null, armed: false, paused: false };
window.__monitordShown = []; // test hook: when each alert event reached the page

function ensureCtx() {
  if (!audio.ctx) {
    const AC = window.AudioContext || window.webkitAudioContext;
    audio.ctx = new AC();
    audio.ctx.onstatechange = () => { updateAudioBanner(); decideSound(); };
  }
  return audio.ctx;
}
function armed() { return !!audio.ctx && audio.ctx.state === "running"; }
function updateAudioBanner() {
  const a = armed();
  window.__monitordAudio.armed = a;
  $("audio-banner").hidden = a || !nurse;
}
function burst(kind) {
  const p = PATTERNS[kind], ctx = audio.ctx;
  const t0 = ctx.currentTime + 0.05;
  for (const off of p.offsets) {
    const osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.type = "square"; // harmonics, as the standard asks for (not a pure sine)
    osc.frequency.value = p.freq;
    gain.gain.setValueAtTime(0, t0 + off);
    const edge = p.pulse * 0.15; // rise and fall: 15 % of the pulse
    gain.gain.linearRampToValueAtTime(0.25, t0 + off + edge);
    gain.gain.setValueAtTime(0.25, t0 + off + p.pulse - edge);
    gain.gain.linearRampToValueAtTime(0, t0 + off + p.pulse);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t0 + off);
    osc.stop(t0 + off + p.pulse + 0.02);
  }
  window.__monitordAudio.log.push({ priority: kind, pulses: p.offsets.length, repeat_s: p.repeat_s, freq: p.freq, at: t0 });
}
function play(kind) { // kind: a repeating pattern, or null for silence
  if (audio.current === kind) return;
  clearInterval(audio.timer); audio.timer = null;
  audio.current = kind;
  window.__monitordAudio.current = kind ? { priority: kind, pulses: PATTERNS[kind].offsets.length, repeat_s: PATTERNS[kind].repeat_s } : null;
  if (!kind) return;
  burst(kind);
  audio.timer = setInterval(() => burst(kind), PATTERNS[kind].repeat_s * 1000);
}
function sounding(a) { return !a.ack && a.state !== "inhibited" && (a.priority === "high" || a.priority === "medium"); }
function decideSound() {
  const paused = Date.now() < audio.pausedUntil;
  window.__monitordAudio.paused = paused;
  $("paused-banner").hidden = !paused;
  if (paused) $("paused-left").textContent = `${Math.ceil((audio.pausedUntil - Date.now()) / 1000)} s left`;
  if (!armed()) { play(null); return; }
  if (isStale()) { play("technical"); return; }
  if (paused) { play(null); return; }
  let best = null; // the highest active priority wins
  for (const c of chairs.values()) for (const a of c.alerts || []) {
    if (sounding(a) && (best === null || PRIO[a.priority] < PRIO[best])) best = a.priority;
  }
  play(best);
  if (best === null) { // a new low alert: two pulses once, when nothing louder sounds
    for (const c of chairs.values()) for (const a of c.alerts || []) {
      if (a.priority === "low" && !a.ack && a.state !== "inhibited" && !audio.lowSeen.has(a.alert_id)) {
        audio.lowSeen.add(a.alert_id); burst("low");
      }
    }
  }
}

// ---------------------------------------------------------------- staleness
// Stale: the stream broke after it had worked, nothing came for three heartbeats (also
// when it never connected), or the station lost the broker.
function isStale() { return (everUp && !streamUp) || !brokerUp || Date.now() - lastMsg > STALE_AFTER_MS; }
function checkStale() {
  if (!nurse) return;
  const s = isStale();
  document.body.classList.toggle("stale", s);
  $("stale-banner").hidden = !s;
  decideSound();
}

// ---------------------------------------------------------------- rendering
function tileClass(c) {
  if (c.online === false) return "offline";
  let best = null;
  for (const a of c.alerts || []) {
    if (a.state === "inhibited" || a.priority === "info") continue;
    if (best === null || PRIO[a.priority] < PRIO[best.priority]) best = a;
  }
  if (!best) return "";
  const flash = best.priority === "high" && (c.alerts || []).some((a) => a.priority === "high" && !a.ack);
  return `p-${best.priority}${flash ? " flash" : ""}`;
}
function vital(label, text, r, c) {
  const d = el("div", "vital");
  d.append(el("div", "small", label), el("div", "v", text));
  if (r && r.measured_at) d.append(el("div", "age", `${mins(chairNow(c) - Date.parse(r.measured_at))} min ago`));
  return d;
}
function sessionLine(c) {
  const s = c.session || { phase: "idle" };
  const now = chairNow(c), parts = [s.phase.toUpperCase()];
  if (s.protocol && s.phase !== "idle") parts.push(s.protocol);
  if (s.dose_start) parts.push(`dose +${mins(now - Date.parse(s.dose_start))} min`);
  if (s.observation_met) {
    const left = Date.parse(s.observation_met) - now;
    parts.push(left > 0 ? `observation met in ${Math.ceil(left / 60000)} min (${hhmm(Date.parse(s.observation_met))})` : "observation time met");
  }
  return parts.join(" · ");
}
function bpDue(c) {
  const s = c.session;
  if (!s || !s.bp_due || (s.phase !== "dosing" && s.phase !== "observation")) return null;
  let due = Date.parse(s.bp_due);
  const bp = c.vitals && c.vitals.bp;
  if (bp && bp.valid && s.bp_cycle_s) due = Math.max(due, Date.parse(bp.measured_at) + s.bp_cycle_s * 1000);
  const left = due - chairNow(c);
  return left >= 0 ? `next BP due in ${Math.ceil(left / 60000)} min` : `BP overdue by ${mins(left)} min`;
}
function render(c) {
  let t = document.querySelector(`.tile[data-chair="${CSS.escape(c.id)}"]`);
  if (!t) {
    t = el("section", "tile"); t.dataset.chair = c.id;
    const board = $("board"), after = [...board.children].find((x) => x.dataset.chair > c.id);
    board.insertBefore(t, after || null);
  }
  t.className = `tile ${tileClass(c)}`;
  t.replaceChildren();
  const head = el("div", "head");
  head.append(el("span", "name", c.id));
  const st = c.online === true ? "ONLINE" : c.online === false ? "OFFLINE" : "NO STATUS";
  head.append(el("span", `state ${c.online === true ? "online" : c.online === false ? "offline" : "unknown"}`, st));
  t.append(head, el("div", "phase", sessionLine(c)));
  const v = c.vitals || {}, bp = v.bp, hr = v.hr, sp = v.spo2;
  const vit = el("div", "vitals");
  vit.append(
    vital("BP mmHg", bp ? `${mmHg(bp.sys_mmHg)}/${mmHg(bp.dia_mmHg)}` : "--", bp, c),
    vital("HR /min", hr ? mmHg(hr.hr_bpm) : "--", hr, c),
    vital("SpO2 %", sp ? mmHg(sp.spo2_pct) : "--", sp, c));
  t.append(vit);
  const due = bpDue(c);
  if (due) t.append(el("div", "small bpdue", due));
  const links = el("div", "links"), lost = new Set();
  for (const a of c.alerts || []) if (a.rule === "tech.device_lost" && a.value && a.value.device) lost.add(a.value.device);
  const devices = new Set([...Object.values(v).map((r) => r.device).filter(Boolean), ...lost]);
  links.append("devices: ");
  for (const d of [...devices].sort()) links.append(el("span", lost.has(d) ? "lost" : "", `${d} ${lost.has(d) ? "LOST" : "ok"} `));
  if (devices.size) t.append(links);
  const ul = el("ul", "alerts");
  for (const a of c.alerts || []) {
    const li = el("li", `alert ${a.priority} ${a.kind}${a.ack ? " acked" : ""}`);
    li.dataset.alertId = a.alert_id; li.dataset.rule = a.rule;
    const txt = el("span", "text");
    txt.append(el("span", "tag", `${(a.priority || "").toUpperCase()}${a.kind !== "physiological" ? " TECH" : ""}`));
    txt.append(a.message || a.rule);
    li.append(txt);
    if (a.ack) li.append(el("span", "ackby", `ACK ${a.by || ""}`.trim()));
    else if (a.priority !== "info") {
      const b = el("button", "ack", "ACK"); b.type = "button";
      b.addEventListener("click", () => ack(c.id, a.alert_id, b));
      li.append(b);
    }
    ul.append(li);
  }
  t.append(ul);
  t.append(controls(c));
  const err = (c.errors || [])[c.errors.length - 1];
  if (err) t.append(el("div", "refusal", `Refused${err.time ? " at " + hhmm(Date.parse(err.time)) : ""}: ${err.error}`));
}
function controls(c) {
  const d = el("div", "controls"), phase = (c.session || {}).phase || "idle";
  const add = (label, action) => {
    const b = el("button", `cmd ${action}`, label); b.type = "button"; b.dataset.action = action;
    b.addEventListener("click", () => confirmSession(c.id, action));
    d.append(b);
  };
  if (phase === "idle") add("Start session", "start");
  if (phase === "baseline") add("Dose start", "dose_start");
  if (phase === "dosing") add("Dose end", "dose_end");
  if (phase !== "idle") add("End session", "end");
  return d;
}
function renderAll() { for (const c of chairs.values()) render(c); }

// ---------------------------------------------------------------- commands
async function post(path, body) {
  const r = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf || "" },
    body: JSON.stringify(body),
  });
  let data = {};
  try { data = await r.json(); } catch (e) { /* empty */ }
  if (r.status === 401) showLogin("Logged out: log in again");
  return { ok: r.ok, status: r.status, data };
}
async function ack(chair, alertId, button) {
  button.disabled = true; button.textContent = "sent"; // the tile changes on the daemon's event
  const r = await post("/api/ack", { chair, alert_id: alertId });
  if (!r.ok) { button.disabled = false; button.textContent = "ACK"; alert(`ACK not sent: ${r.data.error || r.status}`); }
}
function confirmSession(chair, action) {
  const dlg = $("confirm"), fields = $("confirm-fields");
  fields.replaceChildren(); $("confirm-error").textContent = "";
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
  const ok = $("confirm-ok"), cancel = $("confirm-cancel");
  ok.onclick = async (ev) => {
    ev.preventDefault();
    const body = { chair, action };
    if (proto) body.protocol = proto.value;
    if (dose && dose.value) body.dose_mg = dose.value;
    if (lot && lot.value) body.lot = lot.value;
    const r = await post("/api/session", body);
    if (r.ok) dlg.close(); else $("confirm-error").textContent = r.data.error || `error ${r.status}`;
  };
  cancel.onclick = () => dlg.close();
  dlg.showModal();
}
function receipt(ev) { // after the event is on screen (next frame) and its sound decided
  requestAnimationFrame(() => setTimeout(() => {
    const sounded = armed() && !isStale() && audio.current === ev.priority &&
      (ev.priority === "high" || ev.priority === "medium") && (ev.event === "raised" || ev.event === "escalated");
    post("/api/receipt", { chair: ev.chair, alert_id: ev.alert_id, event: ev.event, level: ev.level ?? null, rule: ev.rule, sounded });
  }, 0));
}

// ---------------------------------------------------------------- the stream
function connect() {
  if (es) es.close();
  es = new EventSource("/api/events");
  lastMsg = Date.now();
  const seen = () => { lastMsg = Date.now(); streamUp = true; everUp = true; };
  es.addEventListener("hello", (m) => {
    seen(); hello = JSON.parse(m.data); setZone(hello.timezone);
    $("site").textContent = `${hello.site} · ${hello.timezone}`;
    chairs.clear(); $("board").replaceChildren();
    for (const c of hello.chairs) { c.recvAt = Date.now(); chairs.set(c.id, c); }
    brokerUp = hello.broker; renderAll(); checkStale();
  });
  es.addEventListener("chair", (m) => {
    seen(); const c = JSON.parse(m.data); c.recvAt = Date.now(); chairs.set(c.id, c); render(c); decideSound();
  });
  es.addEventListener("alert", (m) => {
    seen(); const ev = JSON.parse(m.data);
    window.__monitordShown.push({ alert_id: ev.alert_id, event: ev.event, time: ev.time, shown: Date.now() });
    receipt(ev);
  });
  es.addEventListener("stations", (m) => { seen(); brokerUp = JSON.parse(m.data).broker; checkStale(); });
  es.addEventListener("ping", () => { seen(); });
  es.addEventListener("logout", () => { es.close(); showLogin("Session expired: log in again"); });
  es.onerror = () => { streamUp = false; checkStale(); };
}

// ---------------------------------------------------------------- login
function showLogin(msg) {
  nurse = null; if (es) es.close(); play(null);
  $("board").hidden = true; $("login-view").hidden = false;
  $("logout").hidden = $("pause").hidden = true; $("stale-banner").hidden = true; $("audio-banner").hidden = true;
  document.body.classList.remove("stale");
  $("login-error").textContent = msg || "";
}
function loggedIn(data) {
  nurse = data.nurse; csrf = data.csrf;
  $("nurse").textContent = `nurse: ${nurse}`;
  $("login-view").hidden = true; $("board").hidden = false;
  $("logout").hidden = $("pause").hidden = false;
  ensureCtx(); updateAudioBanner(); connect();
}
async function start() {
  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    ensureCtx(); audio.ctx.resume(); // a login tap is a user gesture: it arms audio
    const r = await fetch("/api/login", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: $("login-name").value, pin: $("login-pin").value }),
    });
    const data = await r.json().catch(() => ({}));
    if (r.ok) { $("login-pin").value = ""; loggedIn(data); } else $("login-error").textContent = data.error || `error ${r.status}`;
  });
  $("arm").addEventListener("click", () => { ensureCtx().resume().then(() => { updateAudioBanner(); decideSound(); }); });
  $("pause").addEventListener("click", () => { audio.pausedUntil = Date.now() + 120000; decideSound(); });
  $("resume").addEventListener("click", () => { audio.pausedUntil = 0; decideSound(); });
  $("logout").addEventListener("click", async () => { await post("/api/logout", {}); showLogin(""); });
  setInterval(() => {
    if (fmtTime) $("clock").textContent = hhmm(Date.now());
    checkStale();
    if (nurse && Date.now() % 30000 < 1000) renderAll(); // ages and minutes move on
  }, 1000);
  const r = await fetch("/api/me", { credentials: "same-origin" });
  if (r.ok) loggedIn(await r.json()); else showLogin("");
}
start();
