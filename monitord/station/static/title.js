// monitord nurses' station page: the tab's title (docs/station.md "The tab's title").
// Loaded before station.js, whose state (nurse, isStale, PRIO) this reads when called,
// from its alarm bar (renderSummary) and the login's end (login.js showLogin).
"use strict";

const TITLE = "monitord station"; // the tab's title with nothing to say (index.html)

// The tab's title, which the browser shows in its tab strip and task bar also while another
// tab (the EHR) is in front or the window is minimised: the alarm bar's first chair in its
// words, how many more, and NOT LIVE. Before, it read "monitord station" whatever the board
// said: a background tab in alarm looked like any other (its sound, if armed, was all).
function drawTitle(items) {
  const words = [];
  if (nurse && isStale()) words.push("NOT LIVE");
  if (items.length) {
    const { c, a, off, rank } = items[0];
    // A technical alarm (a monitor lost, a probe off) says TECH, as its tag in the bar and on
    // its tile do: before, a lost monitor's HIGH read "HIGH chair-2" like a patient's SpO2.
    const tech = a && a.kind !== "physiological" ? " TECH" : "";
    const what = a && rank === PRIO[a.priority] ? `${a.priority.toUpperCase()}${tech}` : off ? "OFFLINE" : "TWO MONITORS";
    words.push(`${what} ${c.id}${items.length > 1 ? ` +${items.length - 1}` : ""}`);
  }
  document.title = words.length ? `${words.join(" · ")} — ${TITLE}` : TITLE;
}
