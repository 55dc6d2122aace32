// monitord nurses' station page: a tick each second from a dedicated worker (station.js
// start). Chromium runs the timers of a tab hidden for a minute, and silent, once a minute
// (intensive wake-up throttling), the page's stale check among them; a worker's are not,
// and its message runs the check in the page at once.
"use strict";

setInterval(() => postMessage(null), 1000);
