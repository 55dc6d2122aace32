"""An alarm raised while its chair's link to the broker was down reaches the station late,
from the daemon's outbox, with its own (older) time: the phone forwarder counts it from
that raise, on the chair's clock, as docs/station.md promises ("`after_s` after it was
raised"), not from when the station saw it. The chair's clock is learnt from its live
`online`, which carries it (`chair_time`, docs/mqtt.md; monitord/sinks/mqtt_link.py):
before, the station knew that clock only from the chair's sets and events, and after an
outage the first of them is the late raise itself (the set republished carries its last
change's time), so the alarm was phoned `after_s` after it came, up to `after_s` late.
Never from a replayed `online` or a Last Will (their time is past), never read ahead.
The model and the forwarder alone: the clock offset is what is under test."""

from __future__ import annotations

import json
import time
from typing import Any

from monitord.backoff import Backoff
from monitord.clock import SimClock
from monitord.config_station import ForwarderConfig
from monitord.models import iso
from monitord.sinks.mqtt_link import ChairLink
from monitord.station.forwarder import Forwarder
from monitord.station.model import StationModel
from monitord.station.order import _epoch

AFTER_S = 60.0
BASE = "monitord/site/"


def setup() -> tuple[StationModel, Forwarder]:
    cfg = ForwarderConfig(url="http://127.0.0.1:9/hook", after_s=AFTER_S)
    return StationModel("monitord", "site"), Forwarder(cfg, "site")


def put(m: StationModel, f: Forwarder, chair: str, rest: str, body: Any, at: float | None) -> None:
    """One message through the model, then to the forwarder as the server hands it on."""
    ch = m.apply(f"{BASE}{chair}/{rest}", json.dumps(body).encode(), at=at)
    assert ch.rejected is None, ch.rejected
    for ev in ch.events:
        f.on_event(ev, m.chairs.get(ev["chair"]))
    f.on_chairs({c: m.chairs[c] for c in ch.chairs})


def raised(chair: str, t: float) -> dict[str, Any]:
    return {
        "event": "raised", "alert_id": f"{chair}:spo2.very_low:{int(t * 1000)}", "time": iso(t),
        "chair": chair, "rule": "spo2.very_low", "priority": "high", "kind": "physiological",
        "message": "SpO2 81 < 85 for 10 s", "value": {},
    }  # fmt: skip


def left(f: Forwarder, ev: dict[str, Any]) -> float:
    """Seconds until the alarm's phone call, as of now."""
    return f._pending[ev["alert_id"]].due - time.monotonic()


def test_an_alarm_raised_during_an_outage_is_phoned_after_s_after_its_raise() -> None:
    m, f = setup()
    for chair, skew in {"c-behind": -3600.0, "c-ahead": 3600.0, "c-right": 0.0}.items():
        chair_now = time.time() + skew
        # The link is back: the daemon's `online` (its clock now, as the daemon sends it),
        # then the raise its outbox held for 40 s, then its set as of that raise.
        put(m, f, chair, "status", online(chair_now), time.monotonic())
        ev = raised(chair, chair_now - 40)
        put(m, f, chair, "alerts/events", ev, time.monotonic())
        a = {**ev, "state": "active", "ack": False, "raised_t": chair_now - 40, "level": 0}
        del a["event"], a["time"], a["chair"]
        aset = {"time": ev["time"], "alerts": [a]}  # its set, republished: as of the raise
        put(m, f, chair, "alerts/active", aset, time.monotonic())
        # 20 s left on the chair's clock; a slow machine only shortens what is left.
        assert 10 < left(f, ev) <= 21, (
            f"{chair} (clock {skew:+.0f} s): phoned in {left(f, ev):.1f} s, not 20 s: "
            "the alarm was counted from when the station saw it, not from its raise"
        )


def online(chair_now: float) -> dict[str, Any]:
    # `time` is the daemon's wall clock, any value: only `chair_time` says its chair clock.
    return {"state": "online", "time": iso(time.time()), "chair_time": iso(chair_now)}


def test_a_replayed_online_or_a_last_will_teaches_no_clock() -> None:
    """A retained `online` (replayed at a subscribe) or a Last Will carries its connect's
    time, past: read as the chair's clock now, it would be behind, never ahead; but a
    daemon's `online` retained from before a wall-clock fix could say anything. Only a
    live one counts: before it, a live raise counts from when it is seen."""
    m, f = setup()
    chair_now = time.time()
    will = {"state": "offline", "time": iso(chair_now + 600), "chair_time": iso(chair_now + 600)}
    put(m, f, "c", "status", online(chair_now + 600), None)  # replayed
    put(m, f, "c", "status", will, time.monotonic())
    put(m, f, "c", "status", online(chair_now + 900), None)
    ev = raised("c", chair_now - 40)
    put(m, f, "c", "alerts/events", ev, time.monotonic())
    assert AFTER_S - 10 < left(f, ev) <= AFTER_S, f"phoned in {left(f, ev):.1f} s: read ahead"


def test_a_raise_stamped_after_the_chairs_clock_counts_from_now() -> None:
    """Never early: a raise reading later than the clock learnt (a clock known only as of
    the `online`, the raise a little after it) counts the whole `after_s` from now; so
    does a raise from a daemon that sends no `chair_time` (an older version)."""
    m, f = setup()
    chair_now = time.time()
    put(m, f, "c", "status", online(chair_now - 5), time.monotonic())
    ev = raised("c", chair_now + 30)
    put(m, f, "c", "alerts/events", ev, time.monotonic())
    assert AFTER_S - 10 < left(f, ev) <= AFTER_S, f"phoned in {left(f, ev):.1f} s: early"
    old = {"state": "online", "time": iso(chair_now)}
    put(m, f, "d", "status", old, time.monotonic())
    ev = raised("d", chair_now - 40)
    put(m, f, "d", "alerts/events", ev, time.monotonic())
    assert AFTER_S - 10 < left(f, ev) <= AFTER_S, f"phoned in {left(f, ev):.1f} s: early"


def test_the_daemon_stamps_each_chairs_status_with_that_chairs_clock() -> None:
    """`chair_time` is the chair's own clock (a daemon runs several, each its offset from
    the wall clock); the Last Will has none (set at the connect). `time` stays the wall's."""
    link = ChairLink("c", Backoff(0.5, 30.0), SimClock(1_700_000_000.25, 1.0))  # held there
    before = time.time()
    doc = json.loads(link.status("online"))
    after = time.time()
    assert doc["chair_time"] == "2023-11-14T22:13:20.250Z", doc
    # `time` is the wall clock read as the status was built (to the millisecond it is
    # written in), not the chair's: an order, not a duration.
    assert before - 0.001 <= (_epoch(doc["time"]) or 0.0) <= after + 0.001, doc
    assert "chair_time" not in json.loads(link.status("offline", will=True))
    assert "chair_time" not in json.loads(ChairLink("d", Backoff(0.5, 30.0)).status("online"))
