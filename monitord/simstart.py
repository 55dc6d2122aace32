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
written with its engine snapshot (monitord/chair.py) and at a clean stop; records stored
after the row (an abrupt stop) are looked up from it: the readings, alert and session
events since that time, a bounded range of the store's indexes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from monitord.config import ChairConfig
from monitord.models import utc
from monitord.outbox import Outbox


def sim_key(chair: str) -> str:
    """The state row of a simulated chair's clock."""
    return f"sim/{chair}"


def reached(ob: Outbox, chair: str) -> float | None:
    """The latest time a simulated chair's clock is known to have reached in this store
    (None: no row, a chair never simulated on it)."""
    row = ob.get_state(sim_key(chair))
    t = row.get("t") if isinstance(row, dict) else None
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t):
        return None
    since = utc(float(t))
    later = [float(t)]
    # A simulated reading's receive time is its measured time (the chair clock's).
    later += [max(r.t, r.received_at.timestamp()) for r, _ in ob.readings(chair, since)]
    later += [e.t for e in ob.alert_events(chair, since)]
    later += [e.t for e in ob.session_events(chair, since)]
    return max(later)


def sim_start(ob: Outbox, chairs: Iterable[ChairConfig], wall: float) -> float:
    """The virtual start of this run's simulated chairs (of `chairs`): whole seconds
    (device clocks have 1-s fields), the wall clock's, else the first second after what
    they reached."""
    start = float(int(wall))
    for chair in chairs:
        t = reached(ob, chair.id) if chair.simulated else None
        if t is not None and t >= start:
            start = float(math.floor(t) + 1)
    return start
