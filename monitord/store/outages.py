"""Daemon outages: monitord itself not running while a chair's session was open (killed,
crashed, a power cut, the Pi rebooted, or stopped with `systemctl stop`). Nothing was
monitored then and no alarm could sound, so the session report lists each one as a gap
(monitord/report/gaps.py); without this, a 20-minute outage read as continuous monitoring.

How it is known, cheaply (the store is on an SD card, bytes per chair-hour are a target):
- a clean stop writes `daemon/stopped` (its time) last, durably; the next start clears it.
  Present at a start: the daemon stopped cleanly at that time.
- otherwise the last sign of life is the newest write of the store: the newest `state`
  row (engine snapshots, live status, and `daemon/alive`, rewritten with the `daemon`
  status row on its 60-s heartbeat, also when idle: a row in a commit the status already
  makes, no more pages) or the newest record's commit time. A store written within the
  last commit interval before a kill dates the stop to within seconds; an idle one to
  within about ALIVE_WITHIN_S, never later than it was (the gap is at most that much too
  long, never too short).
- at a start, each real chair whose restored engine has a session open gets the outage
  [last sign of life, its engine's resume time] appended to `outages/<chair>`, durably
  (SYNC), in the same transaction that clears `daemon/stopped`.

Local only: kept in the store's `state` table, read by `monitord report` from the store,
never sent on MQTT nor written to InfluxDB (docs/report.md, docs/reliability.md). Kept
for `storage.retention_days`, as the records.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitord.store.base import Durability
from monitord.store.state import StateMixin

log = logging.getLogger("monitord")  # the daemon's logger: its start says these lines

ALIVE_KEY = "daemon/alive"
STOPPED_KEY = "daemon/stopped"
# How much too early an idle daemon's unclean stop may be dated: the status heartbeat
# (60 s, storeguard.LIVE_HEARTBEAT_S), the daemon's look for it (10 s), a commit interval.
ALIVE_WITHIN_S = 75.0
# A clean stop writes its last rows within this after its marker (the unit's stop timeout
# is 20 s): a store written later than that ran on after the marker.
STOP_WRITES_S = 60.0
# A bound on one chair's list whatever the retention (a daemon in a restart loop).
MAX_KEPT = 1000


@dataclass(frozen=True, slots=True)
class Outage:
    """monitord was not running from `start` to `end` (epoch s) while `session_id` was open
    on the chair. `clean`: it was stopped (SIGTERM), not killed, crashed or cut off.
    `known` False: how long is unknown (the wall clock at the start was behind the last
    sign of life: a Pi without RTC after a power cut); `end` is then `start`."""

    start: float
    end: float
    clean: bool
    session_id: str
    known: bool = True


@dataclass(frozen=True, slots=True)
class Resumed:
    """A chair whose restored engine has `session_id` open, resumed at `at` (its clock);
    `down_from`: the previous run's last sign of life on that clock (None: not known,
    an older store); `known`: whether the wall clock measured the time down."""

    session_id: str
    at: float
    down_from: float | None = None
    known: bool = True


def down_start(r: Resumed, since: float) -> float:
    """Where the outage starts on the chair's clock: its clock's own record of the last
    sign of life when it has one (the wall clock may be off the chair's), else `since`."""
    return min(since if r.down_from is None else r.down_from, r.at)


def outages_key(chair: str) -> str:
    return f"outages/{chair}"


def last_alive(ob: StateMixin) -> tuple[float | None, bool]:
    """(when the previous run was last known alive, whether it stopped cleanly); None when
    the store holds nothing of a previous run. Read before this run writes anything."""
    stopped = ob.get_state(STOPPED_KEY)
    ns = ob.last_write_ns()
    last = None if ns is None else ns / 1e9
    if isinstance(stopped, dict) and isinstance(stopped.get("t"), int | float):
        # A marker the last start could not clear (a full disk) is older than what that
        # run wrote since: stale, the run after it did not stop cleanly.
        if last is None or last <= float(stopped["t"]) + STOP_WRITES_S:
            return float(stopped["t"]), True
    return last, False


def outages(ob: StateMixin, chair: str) -> list[Outage]:
    """The chair's recorded outages, oldest first."""
    out = []
    for o in ob.get_state(outages_key(chair)) or []:
        start, end, clean, sid = float(o["start"]), float(o["end"]), bool(o["clean"]), o["session"]
        out.append(Outage(start, end, clean, str(sid), bool(o.get("known", True))))
    return out


def restart_state(
    ob: StateMixin,
    alive: tuple[float | None, bool],
    open_sessions: Mapping[str, Resumed],
    keep_s: float,
) -> dict[str, Any]:
    """The state rows a start writes: `open_sessions` the chairs whose restored engine
    has a session open; `alive` from `last_alive`. Entries older than `keep_s` are
    dropped."""
    since, clean = alive
    rows: dict[str, Any] = {STOPPED_KEY: None}
    if since is None:
        return rows
    for chair, r in open_sessions.items():
        # Both ends on the chair's clock, as the session's events (the wall clock may be
        # off it: a step it had not followed, a Pi without RTC).
        now = r.at
        kept = [o for o in ob.get_state(outages_key(chair)) or [] if o["end"] >= now - keep_s]
        row = {"start": down_start(r, since), "end": now, "clean": clean, "session": r.session_id}
        if not r.known:
            row["known"] = False
        kept.append(row)
        rows[outages_key(chair)] = kept[-MAX_KEPT:]
    return rows


def note_outages(
    ob: StateMixin,
    alive: tuple[float | None, bool],
    open_sessions: Mapping[str, Resumed],
    keep_s: float,
) -> dict[str, Any]:
    """A session was open when the previous run stopped: monitord was not running from
    its last sign of life to now, a gap in that session's report. Each such chair's
    WARNING said; returns the rows to write (`put_rows`)."""
    rows = restart_state(ob, alive, open_sessions, keep_s)
    for chair, r in open_sessions.items():
        if (line := log_line(chair, r, alive)) is not None:
            log.warning(line)
    return rows


def log_line(chair: str, r: Resumed, alive: tuple[float | None, bool]) -> str | None:
    """The WARNING a start logs for a chair's outage; None when the store held nothing
    of a previous run."""
    since, clean = alive
    if since is None:
        return None
    how = "stopped" if clean else "not running (no clean stop recorded)"
    span = (
        f"for {r.at - down_start(r, since):.0f} s"
        if r.known
        else "for an unknown time (the wall clock is behind the last sign of life: a "
        "restart without RTC, or a clock set back)"
    )
    return (
        f"{chair}: monitord {how} {span} during session {r.session_id}: no monitoring "
        "then; a gap in its report"
    )


def put_rows(ob: StateMixin, rows: Mapping[str, Any]) -> None:
    """Write `restart_state`'s rows (or the stop marker) durably, one transaction: the
    caller commits."""
    for key, value in rows.items():
        ob.put_state(key, value, durability=Durability.SYNC, commit=False)
