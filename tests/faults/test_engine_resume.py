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


def test_resume_keeps_deadlines_not_yet_due() -> None:
    eng = AlertEngine()
    for t in range(0, 12):
        eng.feed(Sample(float(t), C, "ox", Kind.SPO2, {"spo2_pct": 80.0}))
    eng = restored(eng)
    eng.resume(20.0)  # a quick restart: the first escalation (at 130) was not missed
    assert eng.next_deadline(C) == 130.0
