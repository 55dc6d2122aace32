// monitord nurses' station page: the station's clock and each chair's (docs/station.md
// "The chair's clock"). Loaded before station.js, which sets `stationOffset` at each hello
// and calls these when drawing.
"use strict";

const CLOCK_SLACK_MS = 2000; // the browser's clock is kept this close to the station's
const clocks = new Map();    // id -> {clock, offset, told}: the chair's clock against ours

// The station's clock, not the browser's: a wallboard's clock can be minutes off (no NTP
// on a kiosk PC), and counted on it a reading measured now read "15 min ago" and the
// observation time was met 15 min early. The offset is taken from each `hello` (the
// station's time as it sent it; the delivery delay is milliseconds on the LAN), so a
// browser clock stepped later is caught up at the next connection.
let stationOffset = 0;
const now = () => Date.now() + stationOffset;
let fmtTime = null;
let zoneNote = ""; // after the zone's name in the header when this browser does not know it
// A zone this browser's time zone data does not have (a name newer than a kiosk's old
// build: Europe/Kyiv, America/Ciudad_Juarez) threw a RangeError in the hello: no clock,
// no chairs, no alarms on the board. The times are then in UTC, named so on each time.
function setZone(tz) {
  const opts = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
  try {
    fmtTime = new Intl.DateTimeFormat("en-US", { ...opts, timeZone: tz }); zoneNote = "";
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    fmtTime = new Intl.DateTimeFormat("en-US", { ...opts, timeZone: "UTC" });
    zoneNote = " (not known to this browser: times in UTC)";
  }
}
const hhmm = (ms) => (fmtTime ? fmtTime.format(new Date(ms)) : new Date(ms).toISOString());
// Whole minutes since a time; a time ahead of the clock counts as now (0). With the sign
// dropped, a reading stamped ahead (a device clock up to 5 min fast, models.py) read
// "3 min ago" when it came and counted down to 0 as it aged.
const mins = (ms) => Math.max(0, Math.floor(ms / 60000));
// A length of time as a nurse reads it: "45 s", "2 min 5 s", "1 h 2 min" (the seconds of
// an hour's gap say nothing). In seconds alone, a minute or more read "(125 s)", which had
// to be worked out.
function spanWords(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ""}`;
}
// A number and its unit kept on one line where an alert row wraps: at a phone's width
// "for 30 s" broke as "for 30" / "s", "HR 130 bpm" as "HR 130" / "bpm", "(2 min)" as "(2" /
// "min)". Each pair goes in a span that does not wrap (station.css `.nb`), the text as it
// was (what a screen reader says, what a copy gets). For the daemon's messages (its words,
// monitord/engine) and the page's own minutes.
const UNIT_PAIR = /\d+(?:\.\d+)?[ \u00a0](?:s|min|h|bpm|mmHg|readings?)\b|\d+(?:\.\d+)? %/g;
function unitsWhole(text) {
  const f = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(UNIT_PAIR)) {
    const pair = document.createElement("span");
    pair.className = "nb"; pair.textContent = m[0];
    f.append(text.slice(last, m.index), pair);
    last = m.index + m[0].length;
  }
  f.append(text.slice(last));
  return f;
}
// The NOT LIVE banner's words, back live after `ms` not live from `from` to `to` (the
// station's times). One under a second (a broker restarted at once) read "from 09:18 to
// 09:18 (0 s)", which a nurse took for the page's fault; the gap is real (an alarm raised
// and cleared in it was neither shown nor sounded), so it is said, as under a second.
function notLiveWords(from, to, ms) {
  const span = ms < 1000 ? `for under a second at ${hhmm(from)}`
    : `from ${hhmm(from)} to ${hhmm(to)} (${spanWords(ms)})`;
  return `NOT LIVE ${span}: alarms raised and cleared in that time were not shown or sounded here.`;
}
// The chair's clock, for its durations (its session times are on it): ours plus an offset
// learnt only from messages that carry the chair's time (`clock`: its active set and alert
// events), never from vitals, which arrive every few seconds without it. Such a time is
// when the set changed, not "now" (a retained or republished set can be an hour old), so
// it only shows the chair's clock is at least that far ahead: the offset is the largest
// seen, never below zero (a chair behind ours cannot be told from an old message), and
// starts again when the chair comes back online (a new daemon, maybe a simulated clock).
// Unless the station says where the chair's clock is (`chair_now`: learnt from the chair's
// live `online`, docs/mqtt.md `chair_time`): then it is counted on that, also behind ours.
function noteClock(c, prev) {
  let k = clocks.get(c.id);
  if (!k || (prev && prev.online !== true && c.online === true)) {
    k = { clock: null, offset: -Infinity, told: NaN }; clocks.set(c.id, k);
  }
  if (c.clock && c.clock !== k.clock) {
    k.clock = c.clock;
    const seen = Date.parse(c.clock) - now();
    if (Number.isFinite(seen)) k.offset = Math.max(k.offset, seen);
  }
  k.told = c.chair_now ? Date.parse(c.chair_now) - now() : NaN; // as of this message
}
function chairNow(c) {
  const k = clocks.get(c.id);
  if (!k) return now();
  return now() + (Number.isFinite(k.told) ? Math.max(k.told, k.offset) : Math.max(k.offset, 0));
}
// A chair-clock time as HH:MM on the station's clock (the header's), which a nurse reads
// it against: a chair an hour behind read "observation met in 95 min (02:45)" at 02:10.
// Within CLOCK_SLACK_MS it is left as it is (the chair's offset is learnt a little late),
// unless `late` (a time waited for): then the later of the two, never read early.
function onStation(c, ms, late) { const d = chairNow(c) - now(); return Math.abs(d) >= CLOCK_SLACK_MS ? ms - d : late ? Math.max(ms, ms - d) : ms; }
// The header clock, drawn at each hello (its zone and time are known from then) and each
// second: drawn only by the second's timer, it was empty for up to a second after loading.
function drawClock() { if (fmtTime) $("clock").textContent = hhmm(now()); }
// An offline chair's last sign of life and how long ago. On the station's clock when the
// station heard the chair live (`heard_ago_s`: its last message before the `offline`).
// Else its chair-clock time (`offline_since`), on the station's clock as the alert lines'
// when the chair's clock is known (`chair_now`); not known, it is the chair's own time,
// said so, without a count: a chair an hour behind read "since 09:10 (60 min)" at 10:10,
// lost a minute before.
function offlineSince(c) {
  const heard = heardAt.get(c.id), at = c.offline_since ? Date.parse(c.offline_since) : NaN;
  if (heard !== undefined) { const ago = mono() - heard; return ` since ${hhmm(now() - ago)} (${mins(ago)} min)`; }
  if (!Number.isFinite(at)) return "";
  const k = clocks.get(c.id);
  if (k && Number.isFinite(k.told)) return ` since ${hhmm(onStation(c, at))} (${mins(chairNow(c) - at)} min)`;
  return ` since ${hhmm(at)} on the chair's clock (not known here)`;
}

// ---------------------------------------------------------------- a machine that slept
// A nurses' PC that slept (a power plan's idle sleep, a laptop's lid) ran nothing meanwhile,
// as a frozen tab, but its monotonic clock (performance.now: CLOCK_MONOTONIC on Linux,
// mach_absolute_time on a Mac) did not count the sleep; only the wall clock did. Measured on
// it, the last message was a moment ago: the stream's held updates played as live at the
// wake (an alarm raised and cleared while asleep sounded then), and a stream the station cut
// meanwhile read live for 6 s more, then NOT LIVE for those seconds, not the hours asleep.
// A wall clock run ahead of the monotonic one since the last look is such a wake, or a
// wall clock stepped forward (NTP), which cannot be told apart then: either way the page
// takes a new stream (the chairs as they are now), the old one's held updates dropped, and
// the station's clock (its hello's time against the last heartbeat's) says at that hello
// whether time passed that the page did not count. A step forward: none, nothing said.
const WAKE_MS = 3000;       // the wall clock this far ahead of the monotonic one: a wake
const WAKE_WAIT_MS = 1000;  // a wake's new stream awaited this long, the board is stale
let look = null;            // {wall, mono}: both clocks at the last look
let stationAt = null;       // {t, mono}: the station's time in the last heartbeat or hello read
let waking = null;          // {at, heard}: a wake seen, its stream's hello awaited (heard: below)
function wokeNow() {
  const w = Date.now(), m = mono(), was = look;
  look = { wall: w, mono: m };
  return !!was && w - was.wall - (m - was.mono) > WAKE_MS;
}
// The station's time of the last message heard (lastMsg), from the heartbeat before it.
const heardOnStation = () => (stationAt ? stationAt.t + (lastMsg - stationAt.mono) : null);
function noteStation(t) { if (Number.isFinite(t)) stationAt = { t, mono: mono() }; }
// At a hello (its station time `t`): how long the page was not live without counting it,
// as notLiveWords takes it, when a wake was seen; null when no time went uncounted. The
// Audio pause counts that time too: tapped before the sleep, it held the alarms silent
// for up to 2 min after the wake, however long the machine had slept.
function sleptGap(t) {
  const w = waking; waking = null;
  if (!w || w.heard === null || !Number.isFinite(t)) return null;
  const lost = t - w.heard - (mono() - lastMsg);
  if (lost <= WAKE_MS) return null;
  audio.pausedUntil -= lost; // audio.js
  return { from: w.heard, to: t, ms: t - w.heard };
}
// The machine woke (or the wall clock stepped forward): a new stream (station.js connect),
// the old one's held updates dropped. Not before the board was live: nothing to drop.
// Asleep with the login asked over the board (relogin: no stream until a login), the wake
// is kept for the hello after the login, which says the time asleep; ignored, the board
// not live all evening and night read "NOT LIVE for under a second" the next morning.
function checkWake() {
  if (!wokeNow() || !nurse || !everUp) return false;
  if (!waking) waking = { at: mono(), heard: heardOnStation() };
  if (relogin) return false;
  connect();
  return true;
}
