// monitord nurses' station page: its alarm sounds (docs/station.md "Sound"). Loaded before
// station.js, whose state (chairs, nurse, isStale) these functions read when called.
"use strict";

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
  pausedFor: new Set(), // the alarms sounding when the pause was tapped (soundingKeys)
};
// Test hook: records what was scheduled (the last KEEP_LOG bursts, and how many in all);
// it never makes sound itself.
window.__monitordAudio = { log: [], bursts: 0, current: null, armed: false, paused: false };
window.__monitordShown = []; // test hook: when each alert event reached the page (the last KEEP_LOG)
// A wallboard's page is never reloaded: what it keeps per alarm, burst and offline episode
// is forgotten once over, or it grew for as long as the page was open (months): an entry
// per burst of each tone (every 5 to 10 s while one sounds), per alert event, per low alert
// (docs/station.md "A page left open"; tests/station/test_station_long_open.py).
const KEEP_LOG = 200;
// Low alerts already sounded are forgotten once more than this, those off the board: an id
// is one episode's (docs/mqtt.md), one gone does not come back. Not at every message: a
// chair missing from one hello (the station restarted, the broker not yet replayed it)
// would sound its low alert again when back.
const LOW_SEEN_KEEP = 64;
function keepLast(list, entry) { list.push(entry); if (list.length > KEEP_LOG) list.splice(0, list.length - KEEP_LOG); }
function noteShown(ev) { keepLast(window.__monitordShown, { alert_id: ev.alert_id, event: ev.event, time: ev.time, shown: Date.now() }); }
function forgetOver() {
  // An offline episode acknowledged here is over once its chair says another status (the
  // key is its status's time). A chair off the board keeps its key, for its return as it
  // was (the station restarted, not yet replayed it): one per chair at most.
  for (const k of offlineAck) {
    const c = chairs.get(k.slice(0, k.indexOf("|")));
    if (c && offlineKey(c) !== k) offlineAck.delete(k);
  }
  if (audio.lowSeen.size <= LOW_SEEN_KEEP) return;
  const on = new Set();
  for (const c of chairs.values()) for (const a of c.alerts || []) on.add(a.alert_id);
  for (const id of audio.lowSeen) if (!on.has(id)) audio.lowSeen.delete(id);
}

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
  keepLast(window.__monitordAudio.log, { priority: kind, pulses: p.offsets.length, repeat_s: p.repeat_s, freq: p.freq, at: t0 });
  window.__monitordAudio.bursts += 1;
}
function play(kind) { // kind: a repeating pattern, or null for silence
  if (audio.current === kind) return;
  clearInterval(audio.timer); audio.timer = null;
  audio.current = kind;
  window.__monitordAudio.current = kind ? { priority: kind, pulses: PATTERNS[kind].offsets.length, repeat_s: PATTERNS[kind].repeat_s } : null;
  if (!kind) return;
  // An alarm receipted silent (a higher one sounding, audio paused or not yet armed) that
  // sounds now is receipted again, sounded (heard.js): before, only at its chair's next
  // message, which a chair with no streaming reading may not send for many minutes.
  afterShown(() => { for (const c of chairs.values()) setReceipts(c); });
  burst(kind);
  audio.timer = setInterval(() => burst(kind), PATTERNS[kind].repeat_s * 1000);
}
function sounding(a) { return !a.ack && a.state !== "inhibited" && (a.priority === "high" || a.priority === "medium"); }
// What calls for sound now: each alarm with its priority, each chair lost (unacknowledged
// here) and a stale board. The pause silences these only (decideSound).
function soundingKeys() {
  const keys = new Set();
  for (const c of chairs.values()) {
    for (const a of c.alerts || []) if (sounding(a)) keys.add(`${c.id}|${a.alert_id}|${a.priority}`);
    if (offlineAlarm(c) && !offlineAck.has(offlineKey(c))) keys.add(`lost|${offlineKey(c)}`);
  }
  // One key per stale time (`staleSince`, set by checkStale as it begins), as a lost
  // chair's is per time offline: keyed "stale" alone, a board stale again during a pause
  // tapped over an earlier stale time read as already paused, its tone off, NOT LIVE on
  // screen only (tests/station/test_station_pause_stale_again.py).
  if (isStale()) keys.add(`stale|${staleSince}`);
  return keys;
}
function pauseAudio() { audio.pausedUntil = mono() + 120000; audio.pausedFor = soundingKeys(); decideSound(); }
// A chair gone offline (Last Will or a clean stop) while a patient may depend on it: a
// session open, or alerts active. Its daemon's own alarms died with it; only we can tell.
function offlineAlarm(c) {
  return c.online === false && ((!!c.session && !!c.session.phase && c.session.phase !== "idle") ||
    (c.alerts || []).some((a) => a.priority !== "info"));
}
const offlineKey = (c) => `${c.id}|${c.status_time || ""}`; // one key per offline episode
// The station's own technical condition: the board is not live, or a chair was lost and
// nobody here acknowledged it. It sounds below high and medium (one of those already
// calls a nurse to the board, where the banner and the alarm bar name the lost chair).
function technicalNow() {
  // Not before a login: the audio is armed at the login tap, before the stream is opened,
  // and the time on the form (a nurse typing her PIN) read as a board silent that long.
  if (nurse && isStale()) return true;
  for (const c of chairs.values()) if (offlineAlarm(c) && !offlineAck.has(offlineKey(c))) return true;
  return false;
}
function decideSound() {
  forgetOver();
  // The pause is for the alarms the nurse heard when tapping it: on a board of many
  // chairs, a new one (another chair, another episode, a higher priority, a chair lost,
  // the board gone stale) ends it at once, or it would be on screen only, for up to
  // 2 min, where nobody may be looking.
  if (mono() < audio.pausedUntil && [...soundingKeys()].some((k) => !audio.pausedFor.has(k))) {
    audio.pausedUntil = 0;
  }
  const paused = mono() < audio.pausedUntil;
  window.__monitordAudio.paused = paused;
  $("paused-banner").hidden = !paused;
  if (paused) $("paused-left").textContent = `${Math.ceil((audio.pausedUntil - mono()) / 1000)} s left`;
  if (!armed() || paused) { play(null); return; } // the pause silences everything, technical too
  // The highest unacknowledged priority wins, also while the board is stale: the last
  // known alarms may not have been acknowledged, and the tone says so until we know.
  let best = null;
  for (const c of chairs.values()) for (const a of c.alerts || []) {
    if (sounding(a) && (best === null || PRIO[a.priority] < PRIO[best])) best = a.priority;
  }
  if (best === null && technicalNow()) best = "technical";
  play(best);
  if (best === null) { // a new low alert: two pulses once, when nothing louder sounds
    for (const c of chairs.values()) for (const a of c.alerts || []) {
      if (a.priority === "low" && !a.ack && a.state !== "inhibited" && !audio.lowSeen.has(a.alert_id)) {
        audio.lowSeen.add(a.alert_id); burst("low");
      }
    }
  }
}
