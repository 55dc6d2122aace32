"""What the station's model keeps for the tiles, beyond the last message of each topic
(no browser): chairs in natural order, the last valid reading beside an invalid one, since
when an offline chair is not monitored (a Last Will's own time is its connect time), and
whether a chair streams, so that its silence says something (docs/station.md).
"""

from __future__ import annotations

import json
from typing import Any

from monitord.station.model import StationModel
from monitord.station.order import natural_key

BASE = "monitord/site/"


def put(
    m: StationModel, chair: str, rest: str, body: dict[str, object], at: float | None = None
) -> None:
    assert not m.apply(f"{BASE}{chair}/{rest}", json.dumps(body).encode(), at=at).rejected


def test_chairs_in_natural_order() -> None:
    m = StationModel("monitord", "site")
    for c in ("chair-10", "chair-2", "chair-1", "bay-3", "chair-1b"):
        put(m, c, "status", {"state": "online", "time": "2026-11-30T10:00:00Z"})
    order = [c["id"] for c in m.snapshot()["chairs"]]
    assert order == ["bay-3", "chair-1", "chair-1b", "chair-2", "chair-10"]
    assert sorted(["a10", "a9", "a9x"], key=natural_key) == ["a9", "a9x", "a10"]


def test_an_invalid_reading_keeps_the_last_valid_one() -> None:
    m = StationModel("monitord", "site")
    good = {"kind": "spo2", "spo2_pct": 97, "valid": True, "measured_at": "2026-11-30T10:00:00Z"}
    bad = {**good, "spo2_pct": 42, "valid": False, "quality": ["implausible"]}
    put(m, "chair-1", "vitals/spo2", good)
    put(m, "chair-1", "vitals/spo2", {**bad, "measured_at": "2026-11-30T10:00:05Z"})
    view = m.chairs["chair-1"].to_json()
    assert view["vitals"]["spo2"]["spo2_pct"] == 42  # shown, marked invalid
    assert view["last_valid"]["spo2"]["spo2_pct"] == 97  # the chair's value


def test_offline_since_is_the_last_sign_of_life() -> None:
    m = StationModel("monitord", "site")
    put(m, "chair-1", "status", {"state": "online", "time": "2026-11-30T09:00:00Z"})
    put(m, "chair-1", "alerts/active", {"time": "2026-11-30T09:30:00Z", "alerts": []})
    put(m, "chair-1", "vitals/hr", {"hr_bpm": 70, "valid": True,
                                     "measured_at": "2026-11-30T10:12:04.500Z"})  # fmt: skip
    assert m.chairs["chair-1"].to_json()["offline_since"] is None
    # The Last Will carries the time the daemon connected (09:00), not when it died.
    put(m, "chair-1", "status", {"state": "offline", "time": "2026-11-30T09:00:00Z"})
    assert m.chairs["chair-1"].to_json()["offline_since"] == "2026-11-30T10:12:04.500Z"
    # A clean stop says when it stopped; back online, it is monitored again.
    put(m, "chair-1", "status", {"state": "online", "time": "2026-11-30T10:20:00Z"})
    assert m.chairs["chair-1"].to_json()["offline_since"] is None
    put(m, "chair-1", "status", {"state": "offline", "time": "2026-11-30T10:25:00+00:00"})
    assert m.chairs["chair-1"].to_json()["offline_since"] == "2026-11-30T10:25:00+00:00"


def test_only_a_streaming_chair_can_be_silent() -> None:
    m = StationModel("monitord", "site", silent_after_s=15.0)

    def tile(now: float) -> Any:
        v = m.chairs["chair-1"].to_json(now)
        return v["streaming"], v["heard_ago_s"]

    put(m, "chair-1", "status", {"state": "online"}, at=0.0)
    bp = {"kind": "bp", "device": "cuff", "sys_mmHg": 120, "dia_mmHg": 80, "valid": True}
    hr = {"kind": "hr", "device": "ox", "hr_bpm": 70, "valid": True}
    # A cuff alone (a reading every few minutes) is no stream: nothing periodic to miss.
    put(m, "chair-1", "vitals/bp", bp, at=1.0)
    put(m, "chair-1", "vitals/bp", bp, at=181.0)
    assert tile(200.0) == (False, 19.0)
    # Retained readings, replayed at a subscribe, are no sign of life and no pace.
    put(m, "chair-1", "vitals/hr", hr)
    put(m, "chair-1", "vitals/hr", hr)
    assert tile(200.0) == (False, 19.0)
    # An oximeter's readings at every 5 s commit: a stream, its age counted.
    put(m, "chair-1", "vitals/hr", hr, at=205.0)
    put(m, "chair-1", "vitals/hr", hr, at=210.0)
    assert tile(217.5) == (True, 7.5)
    # Its device lost (the daemon's tech.device_lost): its silence is said by the daemon.
    lost = {"alert_id": "a1", "priority": "medium", "ack": False,
            "rule": "tech.device_lost", "value": {"device": "ox"}}  # fmt: skip
    put(m, "chair-1", "alerts/active", {"alerts": [lost]}, at=240.0)
    assert tile(300.0) == (False, 60.0)
    # Back (its alert cleared): its stream is learnt anew from its readings, as after
    # any stop (heard meanwhile, its readings overdue: no stream).
    put(m, "chair-1", "alerts/active", {"alerts": []}, at=301.0)
    assert tile(302.0) == (False, 1.0)
    put(m, "chair-1", "vitals/hr", hr, at=305.0)
    put(m, "chair-1", "vitals/hr", hr, at=310.0)
    assert tile(311.0) == (True, 1.0)
    # The station away from the broker: heard again from its resubscribe, pace unknown.
    m.listening(400.0)
    assert tile(401.0) == (True, 1.0)
    put(m, "chair-1", "vitals/hr", hr, at=402.0)
    put(m, "chair-1", "vitals/hr", hr, at=420.0)  # 18 s apart: no longer a stream
    assert tile(421.0) == (False, 1.0)
    put(m, "chair-1", "vitals/hr", hr, at=425.0)
    assert tile(425.0)[0] is True
    # Offline: not streaming; back online, the stream is learnt anew.
    put(m, "chair-1", "status", {"state": "offline"}, at=426.0)
    assert tile(426.0)[0] is False
    put(m, "chair-1", "status", {"state": "online"}, at=427.0)
    put(m, "chair-1", "vitals/hr", hr, at=428.0)
    assert tile(428.0)[0] is False


def test_a_stream_that_stops_while_the_chair_is_heard_is_no_stream() -> None:
    """A kind that stops coming while the chair's other messages still do stopped at its
    device, not at the chair (an IntelliVue skips a poll's echo, link up: the monitor
    measured nothing since). Before, it counted as a stream for ever: NOT HEARD came back
    15 s after each later message of a healthy chair (its BP, its alerts)."""
    m = StationModel("monitord", "site", silent_after_s=15.0)
    put(m, "chair-1", "status", {"state": "online"}, at=0.0)
    hr = {"kind": "hr", "device": "mon", "hr_bpm": 70, "valid": True}
    bp = {"kind": "bp", "device": "mon", "sys_mmHg": 120, "dia_mmHg": 80, "valid": True}
    for at in (5.0, 10.0, 15.0):
        put(m, "chair-1", "vitals/hr", hr, at=at)
    assert m.chairs["chair-1"].to_json(20.0)["streaming"] is True
    put(m, "chair-1", "vitals/bp", bp, at=40.0)  # heard, its HR 25 s overdue
    assert m.chairs["chair-1"].to_json(60.0)["streaming"] is False
    # A cut network, by contrast, is heard from no more: the stream stands, NOT HEARD.
    for at in (65.0, 70.0):
        put(m, "chair-1", "vitals/hr", hr, at=at)
    assert m.chairs["chair-1"].to_json(90.0)["streaming"] is True
