"""Sentences of clinical-rules.md that a replay case cannot show, guarded through the
engine's API (found by hand mutation, tests/engine/cases has the rest): each test names
the sentence it guards."""

from __future__ import annotations

from monitord.engine import Ack, AlertEngine, EngineInput, Sample, SessionCmd
from monitord.engine.discharge import DISCHARGE, is_session_end_clear, session_scoped
from monitord.engine.inputs import SessionAction
from monitord.models import Kind

T0 = 1_767_225_600.0  # live event times are epoch seconds


def _bp(t: float, s: float, d: float) -> Sample:
    return Sample(T0 + t, "A1", "nibp-1", Kind.BP, {"sys_mmHg": s, "dia_mmHg": d})


def _spo2(t: float, v: float) -> Sample:
    return Sample(T0 + t, "A1", "oxi-1", Kind.SPO2, {"spo2_pct": v})


def _cmd(t: float, action: SessionAction, protocol: str | None = None) -> SessionCmd:
    return SessionCmd(T0 + t, "A1", action, protocol=protocol)


def test_session_end_stops_the_session_timers() -> None:
    # "`session_end` clears the session's alerts ... and stops their timers": the overdue
    # BP clock, the check_missed deadline and both discharge re-checks. Their handlers
    # look at the phase, so a timer left running shows no alert in replay; live it keeps
    # the chair's clock from jumping (AlertEngine.steady) and wakes it for nothing.
    for protocol in ("esketamine", "iv-ketamine"):
        eng = AlertEngine()
        for ev in (
            _cmd(0, "start", protocol),
            _bp(10, 120, 80),
            _bp(20, 120, 80),
            _cmd(30, "dose_start"),
            _cmd(100, "dose_end"),
            _spo2(110, 93),  # below 94 in observation: the discharge SpO2 window
        ):
            eng.feed(ev)
        assert eng.next_deadline("A1") is not None
        assert eng.feed(_cmd(200, "end")) == []
        assert eng.next_deadline("A1") is None, protocol


def test_ack_leaves_no_escalation_deadline() -> None:
    # "`ack` stops escalation": the acknowledged alert's escalation timer goes, so the
    # clock has nothing left to wake for.
    eng = AlertEngine()
    eng.feed(_bp(0, 210, 100))  # bp.crisis, high: escalation due at +120 s
    assert eng.next_deadline("A1") == T0 + 120
    eng.feed(Ack(T0 + 10, "A1", rule="bp.crisis"))
    assert eng.next_deadline("A1") is None


def test_session_end_clears_discharge_ready_as_the_end_of_the_session() -> None:
    # "`session_end` clears the session's alerts (... `session.discharge_ready`)": its own
    # clear, not the discharge re-check finding the chair out of observation ("criteria no
    # longer met"), which reads the same in replay; the session record (report/record.py)
    # tells the two apart to say whether the advisory stood at the end.
    eng = AlertEngine()
    inputs: list[EngineInput] = [
        _cmd(0, "start", "iv-ketamine"),
        _bp(10, 120, 80),
        _bp(20, 120, 80),
        _cmd(30, "dose_start"),
        _cmd(100, "dose_end"),
        *(_bp(t, 120, 80) for t in (700, 1400, 2100, 2800, 3500)),  # none overdue
    ]
    for ev in inputs:
        eng.feed(ev)
    (ready,) = eng.advance(T0 + 100 + 3600)  # observation time met: the advisory raises
    assert (ready.rule, ready.event) == (DISCHARGE, "raised")
    (cleared,) = eng.feed(_cmd(3800, "end"))
    assert (cleared.rule, cleared.event) == (DISCHARGE, "cleared")
    assert is_session_end_clear(cleared, T0 + 3800, session_scoped(eng.rules)), cleared.message
