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
        self._at: float | None = None  # monotonic start of the last commit judged

    def commit(
        self, readings: int, interval_s: float, *, alarm: bool, now: float | None = None
    ) -> None:
        """A commit of `readings` starts (at `now`, time.monotonic's by default); `alarm`:
        an alarm's (its own chair's batches only)."""
        now = time.monotonic() if now is None else now
        if alarm:
            # It carries one chair's batches (the fast path) and tells nothing of how fast
            # readings come: the flood neither starts nor ends with it. It ended it, and
            # a burst's readings queued with the alarm waited the whole interval after it.
            return
        if readings >= GROUP_COMMIT_READINGS or not self.on or self._at is None:
            self.on = readings >= GROUP_COMMIT_READINGS
            self._at = now
            return
        since_s = now - self._at
        if since_s < FLOOD_INTERVAL_S:
            # A commit started early (the sinks' delivery marks, an urgent status, one
            # wanted while the last was in the thread) carries the readings of a few ms,
            # which tell no rate: the flood goes on, judged at the next commit (over the
            # time since the last one judged, a little slower than it is). Judged alone
            # as FLOOD_INTERVAL_S, 80 readings were needed (2,700 a second after a 30-ms
            # commit): a flood ended mid-burst and its tail waited the whole interval.
            return
        # Came faster than a full group per interval (FLOOD_WINDOW_S at most).
        window_s = min(interval_s, FLOOD_WINDOW_S)
        self.on = readings * window_s >= GROUP_COMMIT_READINGS * since_s
        self._at = now
