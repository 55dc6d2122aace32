"""When the group commit of readings (monitord/storeguard.py) stops waiting out
`storage.commit_interval_s`: a flood of readings (a backlog, an ingest burst).

The interval is for a clinic's trickle (one fsync per interval, not per sample: SD-card
writes). A flood commits as soon as GROUP_COMMIT_READINGS are queued, and what is left
after each of its commits goes FLOOD_INTERVAL_S later. The flood goes on while each next
commit's readings came faster than GROUP_COMMIT_READINGS per interval (per FLOOD_WINDOW_S
at most), and ends at the first commit whose readings came slower (a trickle again, or
marks and status alone).
Before, it ended with the very next commit: the readings that came while that one was in
the writer thread (a burst's tail) waited the whole interval, up to 5 s more before they
reached InfluxDB and MQTT (bench/ingest.py's real-pty variant, 2026-12-03)."""

from __future__ import annotations

import time

# Readings queued beyond which the group commit starts without waiting for the interval.
GROUP_COMMIT_READINGS = 2_000
# The group commit's delay while a flood goes on (a flood's tail).
FLOOD_INTERVAL_S = 0.2
# A flood goes on only while readings come faster than GROUP_COMMIT_READINGS per the
# interval, and per this at most: 400 a second, which no clinic's steady load reaches
# (200 chairs at ~2 a second, docs/scaling.md). A longer interval (up to 60 s, chosen to
# spare the SD card) would make a clinic's load a flood: at 60 s, 34 readings a second
# (17 chairs) already filled a group per interval, and the flood's commits then went
# FLOOD_INTERVAL_S apart for as long as the load lasted (5 a second, not ~1 a minute).
FLOOD_WINDOW_S = 5.0


class Flood:
    """Is a flood of readings going on (`on`)? Told of every group commit as it starts."""

    def __init__(self) -> None:
        self.on = False
        self._at: float | None = None  # monotonic start of the last commit

    def commit(self, readings: int, interval_s: float, *, alarm: bool) -> None:
        """A commit of `readings` starts; `alarm`: an alarm's (its own chair's batches
        only), which ends a flood as before (the other chairs' readings keep their timer)."""
        now = time.monotonic()
        if readings >= GROUP_COMMIT_READINGS:
            self.on = not alarm
        elif self.on and self._at is not None:
            # Came faster than a full group per interval (since the last commit started,
            # at least FLOOD_INTERVAL_S: a commit started at once after a long one).
            since_s = max(now - self._at, FLOOD_INTERVAL_S)
            window_s = min(interval_s, FLOOD_WINDOW_S)
            self.on = not alarm and readings * window_s >= GROUP_COMMIT_READINGS * since_s
        self._at = now
