"""The phone forwarder reads an alert's age on its chair's clock (`raised_t` is on it), as
the station learnt that clock from the chair's sets and events heard live
(monitord/station/forwarder.py, `ChairView.chair_time`). Before, the age was the
station's wall clock minus `raised_t`: an alert from a chair whose clock is behind the
station's read as old and its phone was called at once, up to `after_s` early. The
model and the forwarder alone, no broker: the clock offset is what is under test, and a
real broker adds nothing to it."""

from __future__ import annotations

import json
import time
from typing import Any

from monitord.config_station import ForwarderConfig
from monitord.models import iso
from monitord.station.forwarder import Forwarder
from monitord.station.model import StationModel

AFTER_S = 60.0
BASE = "monitord/site/"


def alert(chair: str, raised_t: float) -> dict[str, Any]:
    return {
        "alert_id": f"{chair}:bp.crisis:{int(raised_t * 1000)}", "rule": "bp.crisis",
        "priority": "high", "kind": "physiological", "state": "active", "ack": False,
        "raised_t": raised_t, "level": 0, "message": "BP 212/124", "value": {},
    }  # fmt: skip


def put(m: StationModel, f: Forwarder, chair: str, rest: str, body: Any, at: float | None) -> None:
    ch = m.apply(f"{BASE}{chair}/{rest}", json.dumps(body).encode(), at=at)
    assert ch.rejected is None, ch.rejected
    f.on_chairs({c: m.chairs[c] for c in ch.chairs})


def left(f: Forwarder, a: dict[str, Any]) -> float:
    """Seconds until the alert's phone call, as of now."""
    return f._pending[a["alert_id"]].due - time.monotonic()


def test_the_age_of_an_alert_is_read_on_its_chairs_clock() -> None:
    m = StationModel("monitord", "site")
    f = Forwarder(ForwarderConfig(url="http://127.0.0.1:9/hook", after_s=AFTER_S), "site")
    wall = time.time()
    cases = {"chair-behind": -3600.0, "chair-ahead": 3600.0, "chair-right": 0.0}
    for chair, skew in cases.items():
        chair_now = wall + skew
        # Heard live: the daemon's `online`, its set; then an alarm it raised 10 s ago
        # (on its clock) learnt from its next set (the station missed the event).
        online = {"state": "online", "time": iso(chair_now)}
        put(m, f, chair, "status", online, time.monotonic())
        before = {"time": iso(chair_now - 30), "alerts": []}
        put(m, f, chair, "alerts/active", before, time.monotonic())
        a = alert(chair, chair_now - 10)
        put(m, f, chair, "alerts/active", {"time": iso(chair_now), "alerts": [a]}, time.monotonic())
        # 50 s to go on the chair's clock; a slow machine only shortens what is left.
        assert 40 < left(f, a) <= 51, (
            f"{chair} (clock {skew:+.0f} s): the phone is called in {left(f, a):.1f} s, "
            "not 50 s: the alert's age was read on the station's clock"
        )  # fmt: skip


def test_an_old_event_heard_live_does_not_set_the_chairs_clock_back() -> None:
    """A re-sent event (its original, older time) says the chair's clock was at least that,
    no more: the clock stays as the newer set said."""
    m = StationModel("monitord", "site")
    f = Forwarder(ForwarderConfig(url="http://127.0.0.1:9/hook", after_s=AFTER_S), "site")
    chair_now = time.time() - 3600.0  # an hour behind
    put(m, f, "c", "alerts/active", {"time": iso(chair_now), "alerts": []}, time.monotonic())
    old = {"event": "cleared", "alert_id": "c:x:1", "time": iso(chair_now - 600)}
    put(m, f, "c", "alerts/events", old, time.monotonic())
    a = alert("c", chair_now - 20)
    put(m, f, "c", "alerts/active", {"time": iso(chair_now), "alerts": [a]}, None)
    assert 30 < left(f, a) <= 41, f"due in {left(f, a):.1f} s, not 40 s"


def test_a_daemon_connecting_anew_is_learnt_anew() -> None:
    """A replaced Pi (the same chair id, its clock an hour behind the one before): its live
    `online` forgets the old daemon's clock, which read its alerts an hour old."""
    m = StationModel("monitord", "site")
    f = Forwarder(ForwarderConfig(url="http://127.0.0.1:9/hook", after_s=AFTER_S), "site")
    wall = time.time()
    put(m, f, "c", "alerts/active", {"time": iso(wall), "alerts": []}, time.monotonic())
    behind = wall - 3600.0
    put(m, f, "c", "status", {"state": "online", "time": iso(behind)}, time.monotonic())
    a = alert("c", behind - 5)
    put(m, f, "c", "alerts/active", {"time": iso(behind), "alerts": [a]}, time.monotonic())
    assert 45 < left(f, a) <= 56, f"due in {left(f, a):.1f} s, not 55 s"


def test_a_chair_never_heard_live_is_read_on_the_stations_clock() -> None:
    """Only retained messages so far (the station just started): no offset is known, so
    the age is the station's clock minus `raised_t`, as before."""
    m = StationModel("monitord", "site")
    f = Forwarder(ForwarderConfig(url="http://127.0.0.1:9/hook", after_s=AFTER_S), "site")
    a = alert("c", time.time() - 25)
    put(m, f, "c", "alerts/active", {"time": iso(time.time() - 25), "alerts": [a]}, None)
    assert 25 < left(f, a) <= 35, f"due in {left(f, a):.1f} s, not 35 s"


def test_a_daemon_that_connected_anew_while_the_station_was_away_is_learnt_anew() -> None:
    """The station off the broker while the chair's Pi was replaced (its clock an hour
    behind the one before): the new daemon's `online` comes replayed, with its own time.
    Before, only a live `online` forgot the old clock, and the new daemon's alarm read an
    hour old: its phone was called at once."""
    m = StationModel("monitord", "site")
    f = Forwarder(ForwarderConfig(url="http://127.0.0.1:9/hook", after_s=AFTER_S), "site")
    wall = time.time()
    ahead = wall + 3600.0  # the old Pi
    put(m, f, "c", "status", {"state": "online", "time": iso(ahead - 60)}, time.monotonic())
    put(m, f, "c", "alerts/active", {"time": iso(ahead), "alerts": []}, time.monotonic())
    # Back on the broker: the new Pi's status replayed, then its next set live (an alarm
    # raised 10 s ago on its clock, the station's).
    put(m, f, "c", "status", {"state": "online", "time": iso(wall - 30)}, None)
    a = alert("c", wall - 10)
    put(m, f, "c", "alerts/active", {"time": iso(wall), "alerts": [a]}, time.monotonic())
    assert 40 < left(f, a) <= 51, f"due in {left(f, a):.1f} s, not 50 s"


def test_the_same_connection_replayed_keeps_the_chairs_clock() -> None:
    """The station back on the broker, the chair's daemon still on its connection: its
    replayed `online` is the one held, and the clock learnt live stands."""
    m = StationModel("monitord", "site")
    f = Forwarder(ForwarderConfig(url="http://127.0.0.1:9/hook", after_s=AFTER_S), "site")
    behind = time.time() - 3600.0
    online = {"state": "online", "time": iso(behind - 60)}
    put(m, f, "c", "status", online, time.monotonic())
    put(m, f, "c", "alerts/active", {"time": iso(behind), "alerts": []}, time.monotonic())
    put(m, f, "c", "status", online, None)
    a = alert("c", behind - 10)
    put(m, f, "c", "alerts/active", {"time": iso(behind), "alerts": [a]}, None)
    assert 40 < left(f, a) <= 51, f"due in {left(f, a):.1f} s, not 50 s"
