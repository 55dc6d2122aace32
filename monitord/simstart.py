"""Where simulated chairs' virtual clocks start (design.md section 2: a simulated chair
stamps each reading with its start time + the scenario's `t`).

At a speed above 1 a run's virtual clock gets ahead of the wall clock (a 2-hour scenario
at 120x ends 2 h after a start a minute ago). A second run on the same store (the demo run
again, a `systemctl restart` of a daemon with simulated chairs) that started at the wall
clock laid its readings, alarms and sessions among the first run's on the same chairs: the
session report (a chair's records between a session's start and end) then showed both
runs' patients and alarms. So the start is the wall clock, or just after the latest time a
simulated chair of this store has reached, whichever is later.

Each simulated chair keeps the time its clock reached in its `sim/<chair>` state row,
written with its engine snapshot (monitord/chair.py) and at a clean stop. The chair's
records stamped after the wall clock count too, whatever the row says: those an abrupt stop
left after the row, and those of a store whose row is missing (kept by an older version,
or the chair not simulated when it ran ahead) or holds no time (said, and ignored: it
once stopped the daemon's start with a traceback). Only what lies ahead of the wall clock
can hold a run back, so only that is read: a row left far behind (the chair real for
months since) once made the start read every reading of the chair since then (seconds and
hundreds of MB per day of readings, before any chair ran).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from monitord.config import ChairConfig
from monitord.models import MAX_DEVICE_SKEW_S, utc
from monitord.outbox import Outbox

log = logging.getLogger("monitord")


def sim_key(chair: str) -> str:
    """The state row of a simulated chair's clock."""
    return f"sim/{chair}"


def _row_t(ob: Outbox, chair: str) -> float | None:
    """The time in the chair's row; None when there is none, or (said) no time in it."""
    row = ob.get_state(sim_key(chair))
    if row is None:
        return None
    t = row.get("t") if isinstance(row, dict) else None
    if isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t):
        try:
            utc(float(t))  # a clock there could stamp no reading (beyond year 9999)
            return float(t)
        except (ValueError, OverflowError, OSError):
            pass
    log.warning(
        f"{chair}: the store's {sim_key(chair)} row {row!r} holds no time its clock could "
        "reach; ignored (the chair's stored records after the wall clock are looked at)"
    )
    return None


def reached(ob: Outbox, chair: str, wall: float) -> float | None:
    """The latest time a simulated chair's clock is known to have reached in this store,
    if at or after `wall - MAX_DEVICE_SKEW_S` or in its row (None: nothing of it there)."""
    later = [t] if (t := _row_t(ob, chair)) is not None else []
    # By measured time (the index); a live reading's receive time, where the report places
    # it, is at most MAX_DEVICE_SKEW_S from it (a simulated one's is the same time).
    since = utc(wall - MAX_DEVICE_SKEW_S)
    later += [max(r.t, r.received_at.timestamp()) for r, _ in ob.readings(chair, since)]
    later += [e.t for e in ob.alert_events(chair, since)]
    later += [e.t for e in ob.session_events(chair, since)]
    return max(later, default=None)


def sim_start(ob: Outbox, chairs: Iterable[ChairConfig], wall: float) -> float:
    """The virtual start of this run's simulated chairs (of `chairs`): whole seconds
    (device clocks have 1-s fields), the wall clock's, else the first second after what
    they reached."""
    start = float(int(wall))
    for chair in chairs:
        t = reached(ob, chair.id, wall) if chair.simulated else None
        if t is not None and t >= start:
            start = float(math.floor(t) + 1)
    return start
