// monitord nurses' station page: the nurse's login as this page holds it (docs/station.md
// "Reconnecting"). Loaded before station.js, whose state (nurse, csrf, relogin, es) and
// functions (connect, checkStale) these read and call when called.
"use strict";

// The station not answering at all (no connection: a PC booted before its Wi-Fi, the
// station restarting), at the page's start or a login tap.
const NO_STATION = "The station does not answer (network or station down): trying again. Nothing here is live.";
// Answered 401, the page cannot tell why; the stream's `logout` says which (server.py).
const LOGIN_REPLACED = "Another login on this browser (another tab) replaced this one: log in again. The board below is NOT LIVE.";
const LOGIN_ENDED = "The station no longer knows this login (logged out on another tab of this browser, expired, or the station restarted): log in again. The board below is NOT LIVE.";

// A login the nurse did not end (it expired, or the station restarted and forgot it): the
// form shows above the board, which stays as last known, stale, its alarms sounding,
// until someone logs in. Only "Log out" (showLogin) empties and silences the screen.
function needLogin(msg) {
  if (!nurse) { showLogin(msg); return; }
  relogin = true; streamUp = false; everUp = true; if (es) es.close();
  $("login-view").hidden = false; $("login-error").textContent = msg;
  checkStale();
}
// The last nurse's Audio pause and ACK offline, which the next nurse does not inherit.
function endSilences() { audio.pausedUntil = 0; audio.pausedFor = new Set(); offlineAck.clear(); }
function showLogin(msg) {
  nurse = null; relogin = false; if (es) es.close(); play(null);
  // The next login starts a board anew, as a fresh page does: kept, the last message from
  // before the logout made the next login's first one read as a tab resumed from frozen
  // (station.js seen()), and each login after a logout sounded the technical tone and said
  // NOT LIVE for the time on this form.
  everUp = false; streamUp = false; brokerUp = true; staleSince = null; waking = null;
  // Nor does the next nurse inherit this one's silences: an Audio pause kept held her
  // alarms silent for up to 2 min after her login, and an ACK offline kept a lost chair's
  // tone off, though she never heard it (a fresh page has neither).
  endSilences();
  $("board").hidden = true; $("alarm-bar").hidden = true; $("login-view").hidden = false;
  $("logout").hidden = $("pause").hidden = true; $("stale-banner").hidden = true; $("audio-banner").hidden = true;
  $("gap-banner").hidden = true;
  document.body.classList.remove("stale"); document.title = TITLE;
  $("login-error").textContent = msg || "";
  announceAfresh(); // a11y.js
}
function loggedIn(data) {
  // Another nurse over a board whose login ended without a Log out (expired, the station
  // restarted): she inherits no silence of the last one's either (as after showLogin).
  if (nurse && data.nurse !== nurse) endSilences();
  nurse = data.nurse; csrf = data.csrf; relogin = false;
  $("nurse").textContent = `nurse: ${nurse}`;
  $("login-view").hidden = true; $("board").hidden = false;
  $("logout").hidden = $("pause").hidden = false;
  $("logout").textContent = "Log out"; $("logout").title = ""; // a failed one's words gone
  ensureCtx(); updateAudioBanner(); connect();
}

// The browser's login checked again (a stream the browser gave up on, station.js).
async function recheck() {
  let r;
  try { r = await fetch("/api/me", { credentials: "same-origin" }); } catch (e) { return; } // station down: later
  if (r.status === 401) { needLogin(LOGIN_ENDED); return; }
  if (!r.ok || relogin) return;
  // The browser's login may be another nurse's now (logged in on another tab): taken on,
  // this page's commands went out under that name beside this nurse's in its header.
  const me = await r.json();
  if (me.nurse !== nurse) needLogin(LOGIN_REPLACED); else { csrf = me.csrf; connect(); }
}
// The browser's login is this page's nurse's: its token taken on. Another nurse's, or none
// (401: needLogin), is not.
async function ownLogin() {
  let r;
  try { r = await fetch("/api/me", { credentials: "same-origin" }); } catch (e) { return false; }
  if (r.status === 401) { needLogin(LOGIN_ENDED); return false; }
  const me = r.ok ? await r.json().catch(() => ({})) : {};
  if (!nurse || relogin || me.nurse !== nurse) return false;
  csrf = me.csrf; return true;
}

// The Log out button. Not taken by the station (the tablet off the Wi-Fi, an error there):
// the login goes on in the station and in this browser's cookie. Shown as logged out, a
// reload of the tab (the next nurse's) came up under this nurse's name and ACKed in it.
// Said, and a tap again retries. A 401 (the station knows the login no more) or another
// tab's login in the cookie (post: relogin) ends this tab's as before.
async function logOut() {
  const r = await post("/api/logout", {});
  if (!r.ok && r.status !== 401 && !relogin) {
    $("logout").textContent = "Log out failed: retry";
    $("logout").title = `Still logged in: ${r.data.error || `error ${r.status}`}`;
    return;
  }
  showLogin("");
}
// The page's first ask of the browser's login (station.js start), asked again every
// RETRY_MS until the station answers. Before, a failed ask ended the page's start: no
// login form, no board, nothing said, nothing sounded, until someone reloaded it. An ask
// not answered in ASK_MS is one failed: a station that takes the connection and answers
// nothing (hung, or a proxy holding it) left the page as blank, for as long as it held it.
// (An AbortController, not AbortSignal.timeout: a tablet's older Safari lacks that, and
// its TypeError read as a station never answering.)
const ASK_MS = 10000;
async function firstCheck() {
  let me = null;
  for (let told = false; !nurse; told = true) {
    const quit = new AbortController(), limit = setTimeout(() => quit.abort(), ASK_MS);
    try {
      const r = await fetch("/api/me", { credentials: "same-origin", signal: quit.signal });
      if (r.ok) me = await r.json(); // its body within ASK_MS too, or asked again
      break;
    } catch (e) { /* below */ } finally { clearTimeout(limit); }
    if (!told) showLogin(NO_STATION); // the form: a nurse may log in once it answers
    await new Promise((done) => setTimeout(done, RETRY_MS));
  }
  if (nurse) return; // logged in on the form meanwhile
  if (me) loggedIn(me); else showLogin("");
}
