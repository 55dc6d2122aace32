// monitord nurses' station page: the daemon's answer to a session command it refused
// (docs/station.md "Session controls"). Loaded before station.js, whose answerLine calls
// `sessionAnswer` and whose `el` this uses when called.
"use strict";

const SESSION_WORDS = { start: "Start session", dose_start: "Dose start", dose_end: "Dose end", end: "End session" };

// Before, every refused session command read "Refused at 22:01: chair-2: dose_end needs a
// session in dosing (idle)" on every page, naming nobody: each nurse read another's
// refusal as her own. Now the line names the command and who pressed it, and says what to
// do. Null for anything that is not a session command's refusal.
function sessionAnswer(err, c) {
  const what = SESSION_WORDS[err.sent_action];
  if (!what || !String(err.topic || "").endsWith("/cmd/session")) return null;
  const at = (x) => (x ? ` at ${hhmm(onStation(c, Date.parse(x)))}` : "");
  const who = `${what}${err.sent_by ? " by " + err.sent_by : ""}`;
  const s = c.session || { phase: "idle" };
  let todo = "";
  if (err.sent_action === "start" && s.phase !== "idle") todo = "; End session first, then Start";
  else if (s.phase === "idle") todo = err.sent_action === "dose_start" ? "; no session is open: Start session first" : "; no session is open";
  return el("div", "refusal", `${who} refused${at(err.time)}: ${err.error}${todo}`);
}
