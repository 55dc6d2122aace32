"""What the station's model hands the tiles (no browser): a chair's active alerts highest
priority first, and its latest refusal (issue 17, "One tile per chair": "the active alerts
sorted by priority"; "Session controls": "refusals from `cmd/errors` ... are shown on the tile
in words"; docs/station.md "Tiles", "Session controls"). The page draws the alerts in the order
the model sends them and words the last refusal of `errors` (station.js `render`): a model
that sorted a medium above a high put the high alarm under it on the tile, and one that kept
only the first refusal showed a nurse's new refusal as nothing, or the old one in its place.
An `acknowledged` event marks its alert acknowledged by whom at once: the retained set saying
so comes after it, and a set held back (a daemon's store stalled) left the alarm sounding.
"""

from __future__ import annotations

import json

from monitord.station.model import MAX_ERRORS, StationModel

BASE = "monitord/site/"


def put(m: StationModel, chair: str, rest: str, body: dict[str, object]) -> None:
    assert not m.apply(f"{BASE}{chair}/{rest}", json.dumps(body).encode(), at=1.0).rejected


def alert(rule: str, priority: str, raised_t: float) -> dict[str, object]:
    return {
        "alert_id": f"chair-1:{rule}:{int(raised_t * 1000)}",
        "rule": rule,
        "priority": priority,
        "kind": "physiological",
        "state": "active",
        "ack": False,
        "raised_t": raised_t,
        "level": 0,
        "message": rule,
        "value": {},
    }


def test_a_tiles_alerts_are_highest_priority_first() -> None:
    m = StationModel("monitord", "site")
    put(m, "chair-1", "status", {"state": "online", "time": "2026-11-30T10:00:00Z"})
    t = 1796032800.0  # 2026-11-30T10:00:00Z
    # Oldest first as raised: the low one first, the high one last.
    alerts = [alert("bp.rise", "low", t), alert("hr.high", "medium", t + 60)]
    alerts += [alert("spo2.low", "medium", t + 30), alert("bp.crisis", "high", t + 120)]
    put(m, "chair-1", "alerts/active", {"time": "2026-11-30T10:02:00Z", "alerts": alerts})
    shown = m.chairs["chair-1"].to_json()["alerts"]
    # Highest priority first; within one priority the oldest raised first.
    assert [a["rule"] for a in shown] == ["bp.crisis", "spo2.low", "hr.high", "bp.rise"]


def test_each_refusal_is_the_tiles_latest_answer() -> None:
    m = StationModel("monitord", "site")
    put(m, "chair-1", "status", {"state": "online", "time": "2026-11-30T10:00:00Z"})
    topic = "monitord/site/chair-1/cmd/session"
    for i in range(MAX_ERRORS + 1):
        payload = json.dumps({"action": "start", "by": f"nurse{i}", "protocol": "esketamine"})
        put(
            m,
            "chair-1",
            "cmd/errors",
            {
                "time": f"2026-11-30T10:0{i}:00Z",
                "topic": topic,
                "error": f"refusal {i}",
                "payload": payload,
            },
        )
        errors = m.chairs["chair-1"].to_json()["errors"]
        # The page words the last one: each new refusal is it, naming who pressed.
        assert errors[-1]["error"] == f"refusal {i}", errors
        assert errors[-1]["sent_by"] == f"nurse{i}"
    assert len(m.chairs["chair-1"].to_json()["errors"]) == MAX_ERRORS


def test_an_acknowledged_event_marks_its_alert_acknowledged_by_the_nurse() -> None:
    m = StationModel("monitord", "site")
    put(m, "chair-1", "status", {"state": "online", "time": "2026-11-30T10:00:00Z"})
    a = alert("bp.crisis", "high", 1796032800.0)
    put(m, "chair-1", "alerts/active", {"time": "2026-11-30T10:00:00Z", "alerts": [a]})
    event: dict[str, object] = {"time": "2026-11-30T10:01:00Z", "chair": "chair-1"}
    event |= {"rule": "bp.crisis"}
    event |= {"priority": "high", "kind": "physiological", "alert_id": a["alert_id"]}
    put(m, "chair-1", "alerts/events", {**event, "event": "acknowledged", "by": "alice"})
    shown = m.chairs["chair-1"].to_json()["alerts"]
    assert [(x["ack"], x.get("by")) for x in shown] == [(True, "alice")], shown
