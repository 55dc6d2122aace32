"""What the station's model keeps for the tiles, beyond the last message of each topic
(no browser): chairs in natural order, the last valid reading beside an invalid one, and
since when an offline chair is not monitored (a Last Will's own time is its connect time).
"""

from __future__ import annotations

import json

from monitord.station.model import StationModel, natural_key

BASE = "monitord/site/"


def put(m: StationModel, chair: str, rest: str, body: dict[str, object]) -> None:
    assert not m.apply(f"{BASE}{chair}/{rest}", json.dumps(body).encode()).rejected


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
