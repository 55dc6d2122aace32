"""`alerts/active` says who acknowledged each acknowledged alert (`by`, docs/mqtt.md), so
a station started after the ACK names the nurse: only once acknowledged, also after a
restart (the snapshot keeps it), and never longer than a station reads a name (a longer
one refused the whole set there, alarms and all)."""

from __future__ import annotations

import json

from monitord.engine import Ack, AlertEngine, RuleSet, Sample
from monitord.engine.book import MAX_BY
from monitord.models import Kind
from monitord.station import messages

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def crisis(eng: AlertEngine) -> dict[str, object]:
    eng.feed(Sample(T0 + 1, "A1", "nibp-1", Kind.BP, {"sys_mmHg": 212, "dia_mmHg": 124}))
    (act,) = [a for a in eng.active("A1") if a["rule"] == "bp.crisis"]
    return act


def test_by_only_once_acknowledged_and_kept_across_a_restart() -> None:
    eng = AlertEngine()
    before = crisis(eng)
    assert "by" not in before, before
    eng.feed_ack(Ack(T0 + 5, "A1", alert_id=str(before["alert_id"]), by="alice"))
    (after,) = eng.active("A1")
    assert (after["ack"], after.get("by")) == (True, "alice"), after
    snap = json.loads(json.dumps(eng.snapshot()))  # what the daemon writes to disk
    (again,) = AlertEngine.restore(snap, RuleSet.default()).active("A1")
    assert again.get("by") == "alice", again


def test_an_ack_without_a_name_carries_no_by() -> None:
    eng = AlertEngine()
    eng.feed_ack(Ack(T0 + 5, "A1", alert_id=str(crisis(eng)["alert_id"])))
    (after,) = eng.active("A1")
    assert after["ack"] is True and "by" not in after, after


def test_a_long_name_is_cut_to_what_a_station_reads() -> None:
    """A scenario's `ack` takes any `by`: cut, the set still passes the station's
    screening (monitord/station/messages.py), and its alarms are shown."""
    eng = AlertEngine()
    name = "n" * (MAX_BY + 50)
    eng.feed_ack(Ack(T0 + 5, "A1", alert_id=str(crisis(eng)["alert_id"]), by=name))
    body = json.dumps({"time": "2026-01-01T00:00:05.000Z", "alerts": eng.active("A1")})
    shown = messages.validate(messages.ActiveSet, messages.load(body.encode()))
    assert isinstance(shown, messages.ActiveSet)
    assert [a.by for a in shown.alerts] == [name[:MAX_BY]]
