"""A `raised` (or `escalated`) event heard after its alert's `cleared` adds nothing to the
chair's tile (monitord/station/model.py): re-sent after a reconnect (at least once), or
held behind a refusal while the clear went ahead (docs/mqtt.md), it is of an episode
already over (alert ids are unique per episode). Before, it put the cleared alarm back on
the board, sounding, until the chair's next active set, which comes only when the chair's
alerts change. One newer than the clear is still shown: a missing alarm is worse. The
model alone: the order of messages is what is under test, which a real broker keeps."""

from __future__ import annotations

import json
from typing import Any

from monitord.station.model import StationModel

BASE = "monitord/site/chair-1/"
AID = "chair-1:spo2.very_low:1796300000000"


def event(kind: str, time: str, aid: str = AID) -> dict[str, Any]:
    return {
        "time": time, "chair": "chair-1", "rule": "spo2.very_low", "event": kind,
        "priority": "high", "kind": "physiological", "alert_id": aid, "phase": "dosing",
        "value": {}, "message": "SpO2 81 < 85 for 10 s",
    }  # fmt: skip


def shown(m: StationModel, *bodies: dict[str, Any]) -> list[Any]:
    for i, body in enumerate(bodies):
        assert not m.apply(BASE + "alerts/events", json.dumps(body).encode(), at=float(i)).rejected
    return [a["alert_id"] for a in m.chairs["chair-1"].alerts]


def test_a_raise_heard_after_its_clear_does_not_bring_the_alarm_back() -> None:
    raised = event("raised", "2026-12-03T10:00:00Z")
    cleared = event("cleared", "2026-12-03T10:05:00Z")
    escalated = {**event("escalated", "2026-12-03T10:02:00Z"), "level": 1}
    assert shown(StationModel("monitord", "site"), raised, cleared, raised) == [], (
        "a re-sent raise brought the cleared alarm back"
    )
    assert shown(StationModel("monitord", "site"), cleared, raised, escalated) == [], (
        "a raise held behind its clear showed an alarm already over"
    )


def test_other_alarms_and_newer_ones_are_shown() -> None:
    other = "chair-1:spo2.very_low:1796300600000"
    m = StationModel("monitord", "site")
    cleared = event("cleared", "2026-12-03T10:05:00Z")
    assert shown(m, cleared, event("raised", "2026-12-03T10:10:00Z", other)) == [other]
    # The same id stamped after its clear cannot be a re-send: shown (the safe side).
    assert shown(m, event("raised", "2026-12-03T10:06:00Z")) == [other, AID]


def test_a_raise_heard_after_its_clear_is_not_sent_to_the_pages() -> None:
    """Each page receipts every alert event it is sent (station.js `receipt`), `sounded`
    when an alarm of that priority sounds there, maybe another one: a late raise the tile
    ignores went out as shown and heard to the daemon. Only what the board shows is sent."""
    m = StationModel("monitord", "site")
    sent = []
    late = [event("raised", "2026-12-03T10:00:00Z"), event("cleared", "2026-12-03T10:05:00Z")]
    late += [event("raised", "2026-12-03T10:00:00Z")]
    late += [{**event("escalated", "2026-12-03T10:02:00Z"), "level": 1}]
    for i, body in enumerate(late):
        ch = m.apply(BASE + "alerts/events", json.dumps(body).encode(), at=float(i))
        assert not ch.rejected
        sent += [e["event"] for e in ch.events]
    assert sent == ["raised", "cleared"], f"the pages were sent {sent}"
