"""The order of a station's chairs and alerts, and its reading of chair times (ISO 8601
strings, as the daemons send them): pure functions, shared by the model (model.py) and
its callers."""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import datetime
from typing import Any

PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}


def natural_key(chair_id: str) -> tuple[tuple[int, int, str], ...]:
    """chair-2 before chair-10: digit runs compare as numbers (station.js sorts alike)."""
    return tuple(
        (1, int(run), run) if run.isdigit() else (0, 0, run)
        for run in re.findall(r"\d+|\D+", chair_id)
    )


def _epoch(t: Any) -> float | None:
    if not isinstance(t, str):
        return None
    try:
        return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _later(t: Any, than: str | None) -> bool:
    e = _epoch(t)
    return e is not None and (than is None or e > (_epoch(than) or 0.0))


def superseded(said: OrderedDict[str, None], t: str | None, state: str) -> bool:
    """Whether a chair's status replayed at a (re)subscribe, stamped `t`, is an older
    save's `online`: heard before, and another status since (`said`, oldest first:
    model.py `ChairView.said`). The broker replays only the last it holds, so it came back
    from an older save (a crash restores its last autosave). Applied, it put a chair heard
    lost (its Last Will, a clean stop) back ONLINE and silenced its offline tone, with no
    daemon left to say otherwise (tests/station/test_station_older_save_status.py).
    An `offline` is never: the chair may have gone while the broker was down (nobody
    publishes its Will then), and a live one says `online` again at its reconnect.
    Ignored, the `online` heard since read a gone chair ONLINE, no tone
    (tests/station/test_station_older_save_status.py)."""
    return state == "online" and t is not None and t in said and next(reversed(said)) != t


def sorted_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Highest priority first, then the oldest raised first (one learnt from an event,
    not yet in an active set, has no `raised_t`: first of its priority)."""

    def key(a: dict[str, Any]) -> tuple[int, float]:
        t = a.get("raised_t")
        # Validated finite numbers (messages.py); anything else sorts as 0, never raises.
        when = float(t) if isinstance(t, int | float) and not isinstance(t, bool) else 0.0
        return (PRIORITY_ORDER.get(str(a.get("priority")), 9), when)

    return sorted(alerts, key=key)
