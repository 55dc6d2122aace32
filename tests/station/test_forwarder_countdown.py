"""Where the phone forwarder's countdown starts (monitord/station/forwarder.py), without a
broker: at a live `raised` event; for an alert learned from a chair's active set, at its
`raised_t` when the set carries it, else when seen; never longer than `after_s` from when
seen (a chair clock ahead of the station's); once per alert in the process."""

from __future__ import annotations

import time
from typing import Any

from monitord.config_station import ForwarderConfig
from monitord.station.forwarder import Forwarder
from monitord.station.model import ChairView

AFTER_S = 60.0


def fwd() -> Forwarder:
    return Forwarder(ForwarderConfig(url="http://127.0.0.1:9/hook", after_s=AFTER_S), "site")


def chair(*alerts: dict[str, Any]) -> dict[str, ChairView]:
    return {"chair-1": ChairView("chair-1", alerts=list(alerts))}


def alert(aid: str, **kw: Any) -> dict[str, Any]:
    return {"alert_id": aid, "rule": "bp.crisis", "priority": "high", "ack": False, **kw}


def due_in(f: Forwarder, aid: str) -> float:
    return f._pending[aid].due - time.monotonic()


def test_the_countdown_of_an_alert_from_the_active_set() -> None:
    f = fwd()
    now = time.time()
    f.on_chairs(chair(
        alert("past", raised_t=now - 10 * AFTER_S),  # overdue: at once
        alert("recent", raised_t=now - 20),  # 40 s left
        alert("unknown"),  # no raise time: from now
        alert("ahead", raised_t=now + 3600),  # a chair clock ahead: from now, not later
        alert("acked", raised_t=now - 10 * AFTER_S, ack=True),
        alert("medium", priority="medium", raised_t=now - 10 * AFTER_S),
    ))  # fmt: skip
    assert set(f._pending) == {"past", "recent", "unknown", "ahead"}
    assert due_in(f, "past") <= 0
    assert 35 < due_in(f, "recent") <= 40
    assert 55 < due_in(f, "unknown") <= AFTER_S and 55 < due_in(f, "ahead") <= AFTER_S


def test_once_per_alert_and_an_ack_ends_it() -> None:
    f = fwd()
    f.on_event({"alert_id": "a", "event": "raised", "priority": "high", "chair": "chair-1"})
    first = f._pending["a"].due
    f.on_chairs(chair(alert("a", raised_t=time.time() - 10 * AFTER_S)))  # seen again
    assert f._pending["a"].due == first  # the countdown under way is kept
    f._pending["a"].sent = True  # forwarded
    f.on_chairs(chair(alert("a", raised_t=time.time())))
    assert f._pending["a"].sent
    f.on_chairs(chair(alert("a", ack=True)))  # acknowledged: dropped ...
    assert "a" not in f._pending
    f.on_chairs(chair(alert("a")))  # ... and never counted down again in this process
    assert "a" not in f._pending


def test_only_a_high_raise_counts_down_and_its_ack_or_clear_event_ends_it() -> None:
    # Issue 17, "Phone escalation": "high-priority alerts not acknowledged within N s". A
    # medium raise is no phone call, and the daemon's `acknowledged` (or `cleared`) event
    # ends the countdown at once: the active set saying so may come after the deadline.
    f = fwd()
    f.on_event({"alert_id": "m", "event": "raised", "priority": "medium", "chair": "chair-1"})
    f.on_event({"alert_id": "l", "event": "raised", "priority": "low", "chair": "chair-1"})
    assert not f._pending
    for end in ("acknowledged", "cleared"):
        aid = f"h-{end}"
        f.on_event({"alert_id": aid, "event": "raised", "priority": "high", "chair": "chair-1"})
        assert aid in f._pending
        f.on_event({"alert_id": aid, "event": end, "priority": "high", "chair": "chair-1"})
        assert aid not in f._pending, end
