"""The engine's live-use API: epoch times, clock ticks, ack answers, active set, sessions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitord.engine import Ack, AlertEngine, Link, RuleSet, Sample, SessionCmd, sample_from_reading
from monitord.models import Kind, Reading

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: live event times are epoch seconds


def bp(t: float, s: float, d: float, chair: str = "A1") -> Sample:
    return Sample(t, chair, "nibp-1", Kind.BP, {"sys_mmHg": s, "dia_mmHg": d})


def test_clock_ticks_fire_timers_at_their_deadline_per_chair() -> None:
    eng = AlertEngine()
    assert eng.feed(Link(T0, "A1", "oxi-1", up=False)) == []
    assert eng.next_deadline("A1") == T0 + 30
    assert eng.next_deadline("B2") is None
    assert eng.advance(T0 + 29.9) == []
    (ev,) = eng.advance(T0 + 45, chair="A1")
    assert (ev.t, ev.rule, ev.event, ev.priority) == (
        T0 + 30,
        "tech.device_lost",
        "raised",
        "medium",
    )
    assert ev.to_mqtt()["time"] == "2026-01-01T00:00:30.000Z"
    assert eng.next_deadline() == T0 + 30 + 300  # its escalation


def test_ack_answers_why_nothing_was_acknowledged() -> None:
    eng = AlertEngine()
    out, err = eng.feed_ack(Ack(T0, "A1", rule="bp.severe", by="nurse-3"))
    assert out == [] and err is not None and "no active, unacknowledged rule bp.severe" in err
    eng.feed(bp(T0 + 1, 210, 100))
    (act,) = eng.active("A1")
    out, err = eng.feed_ack(Ack(T0 + 2, "A1", alert_id=act["alert_id"], by="nurse-3"))
    assert err is None
    assert [(e.event, e.by) for e in out] == [("acknowledged", "nurse-3")]
    assert eng.active("A1")[0]["ack"] is True
    out, err = eng.feed_ack(Ack(T0 + 3, "A1", alert_id=act["alert_id"]))
    assert out == [] and err is not None


def test_active_set_shows_inhibited_and_clear_pending() -> None:
    eng = AlertEngine()
    for i, (s, d) in enumerate([(185, 100), (185, 100), (205, 100), (150, 90), (150, 90)]):
        eng.feed(bp(T0 + i * 60, s, d))
    states = {a["rule"]: a["state"] for a in eng.active("A1")}
    # severe stays active but silent under crisis; crisis latched with its clear holding
    assert states == {"bp.severe": "inhibited", "bp.crisis": "clear_pending"}


def test_session_lifecycle_and_refused_commands() -> None:
    eng = AlertEngine(default_protocol={"A1": "iv-ketamine"})
    assert eng.phase("A1") == "idle" and eng.session("A1") is None
    _, err = eng.feed_checked(SessionCmd(T0, "A1", "dose_start"))
    assert err is not None and eng.phase("A1") == "idle"
    eng.feed(SessionCmd(T0, "A1", "start"))
    s = eng.session("A1")
    assert s is not None and s["protocol"] == "iv-ketamine" and s["phase"] == "baseline"
    assert s["session_id"] == f"A1-{int(T0)}"  # opaque, deterministic
    eng.feed(bp(T0 + 60, 120, 80))
    eng.feed(bp(T0 + 120, 130, 84))
    eng.feed(SessionCmd(T0 + 300, "A1", "dose_start"))
    s = eng.session("A1")
    assert s is not None and s["baseline"] == {"sys_mmHg": 125.0, "dia_mmHg": 82.0}
    _, err = eng.feed_checked(SessionCmd(T0 + 301, "A1", "start"))
    assert err is not None and "already open" in err
    _, err = eng.feed_checked(SessionCmd(T0 + 302, "B2", "start", protocol="ibogaine"))
    assert err is not None and "unknown protocol" in err and eng.phase("B2") == "idle"
    eng.feed(SessionCmd(T0 + 2700, "A1", "dose_end"))
    assert eng.phase("A1") == "observation"
    eng.feed(SessionCmd(T0 + 9000, "A1", "end"))
    assert eng.phase("A1") == "idle" and eng.session("A1") is None


def test_sample_from_reading_and_device_verdict() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    r = Reading("A1", "oxi-1", Kind.SPO2, {"spo2_pct": 97.0}, at, at, valid=True, contact=False)
    s = sample_from_reading(r)
    assert s == Sample(at.timestamp(), "A1", "oxi-1", Kind.SPO2, {"spo2_pct": 97.0}, True, False)
    eng = AlertEngine()
    eng.feed(s)
    assert eng.next_deadline("A1") == at.timestamp() + 15  # sensor_off timer


def test_overrides_change_thresholds() -> None:
    rules = RuleSet.from_overrides({"hr.high": {"hr_gt": 100, "clear_hr_lt": 95, "for_s": 10}})
    eng = AlertEngine(rules)
    out = []
    for i in range(3):
        out += eng.feed(Sample(T0 + i * 5, "A1", "hr-1", Kind.HR, {"hr_bpm": 105}))
    assert [(e.t - T0, e.rule, e.event) for e in out] == [(10.0, "hr.high", "raised")]
    assert out[0].message == "HR 105 bpm > 100 bpm for 10 s"


def test_a_reading_must_be_converted_first() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    r = Reading("A1", "hr-1", Kind.HR, {"hr_bpm": 70.0}, at, at)
    with pytest.raises(TypeError, match="not an engine input"):
        AlertEngine().feed(r)  # type: ignore[arg-type]  # the wrong type, on purpose
