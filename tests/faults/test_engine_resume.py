"""Issue 12 defect 4, engine part: `AlertEngine.resume(t)` after a restore at `t` replays
no missed escalation and starts no burst (the daemon-level proof is in
test_clock_steps.py; this pins each kind of timer)."""

from __future__ import annotations

from monitord.engine import AlertEngine, Link, Sample, SessionCmd
from monitord.models import Kind

C = "chair-1"


def restored(eng: AlertEngine) -> AlertEngine:
    return AlertEngine.restore(eng.snapshot())


def test_resume_replays_no_missed_timer() -> None:
    eng = AlertEngine()
    eng.feed(SessionCmd(0.0, C, "start", "esketamine"))
    eng.feed(SessionCmd(10.0, C, "dose_start"))  # overdue BP at 10 + 780
    for t in range(20, 32):  # spo2.very_low (high: escalates every 120 s) at 30
        eng.feed(Sample(float(t), C, "ox", Kind.SPO2, {"spo2_pct": 80.0}))
    eng.feed(Link(40.0, C, "cuff", False))  # device_lost due at 70
    assert "spo2.very_low" in [a["rule"] for a in eng.active(C)]

    # Down for 2 h: 60 escalations, the overdue BP, the missed 40-min check and the lost
    # cuff fell due meanwhile.
    start = 31.0 + 7200
    eng = restored(eng)
    eng.resume(start)
    out = eng.advance(start + 130)
    got = [(e.rule, e.event, e.t, e.level) for e in out]
    assert got == [
        # the missed deadlines fire at the start (each escalates from there, no burst)
        ("session.check_missed", "raised", start, None),
        ("tech.bp_overdue", "raised", start, None),
        ("tech.device_lost", "raised", start + 30, None),  # lost from the start, 30 s on
        ("spo2.very_low", "escalated", start + 120, 1),  # one interval on, level counting on
    ]


def test_after_a_quick_restart_the_next_escalation_is_one_interval_after_the_start() -> None:
    """clinical-rules.md "Delivery of alarms": "after a restart the next escalation of a
    restored alert is due one interval after the start, with the level counting on", also
    when its old deadline had not come yet (until 2026-12-02 that one kept its time)."""
    eng = AlertEngine()
    for t in range(0, 12):
        eng.feed(Sample(float(t), C, "ox", Kind.SPO2, {"spo2_pct": 80.0}))
    out = eng.advance(135.0)  # spo2.very_low raised at 10: level 1 at 130
    assert [(e.event, e.t, e.level) for e in out] == [("escalated", 130.0, 1)]
    eng = restored(eng)
    eng.resume(200.0)  # a quick restart: level 2 was due at 250, not missed
    assert eng.next_deadline(C) == 320.0
    out = eng.advance(330.0)
    assert [(e.event, e.t, e.level) for e in out] == [("escalated", 320.0, 2)]
