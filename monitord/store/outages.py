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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitord.store.base import Durability
from monitord.store.state import StateMixin

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
    on the chair. `clean`: it was stopped (SIGTERM), not killed, crashed or cut off."""

    start: float
    end: float
    clean: bool
    session_id: str


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
        out.append(Outage(float(o["start"]), float(o["end"]), bool(o["clean"]), str(o["session"])))
    return out


def restart_state(
    ob: StateMixin,
    alive: tuple[float | None, bool],
    open_sessions: Mapping[str, tuple[str, float]],
    keep_s: float,
) -> dict[str, Any]:
    """The state rows a start writes: `open_sessions` chair -> (session id, the time its
    engine resumed at) of the chairs whose restored engine has a session open; `alive`
    from `last_alive`. Entries older than `keep_s` are dropped."""
    since, clean = alive
    rows: dict[str, Any] = {STOPPED_KEY: None}
    if since is None:
        return rows
    for chair, (sid, now) in open_sessions.items():
        # A chair's clock never steps back (its floor): the resume time is its own.
        start = min(since, now)
        kept = [o for o in ob.get_state(outages_key(chair)) or [] if o["end"] >= now - keep_s]
        kept.append({"start": start, "end": now, "clean": clean, "session": sid})
        rows[outages_key(chair)] = kept[-MAX_KEPT:]
    return rows


def put_rows(ob: StateMixin, rows: Mapping[str, Any]) -> None:
    """Write `restart_state`'s rows (or the stop marker) durably, one transaction: the
    caller commits."""
    for key, value in rows.items():
        ob.put_state(key, value, durability=Durability.SYNC, commit=False)
