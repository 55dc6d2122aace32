"""A latched BP alert nobody acknowledges keeps a bounded clear run (clinical-rules.md
"Confirmation, clearing, latching": a latched alert whose clear condition holds stays
active, escalating, until acknowledged; the ack then clears it).

bp.crisis latches and is raised in every phase: a chair whose session ended with it
unacknowledged, on a monitor left measuring NIBP every 5 minutes, gives it a clearing
reading every 5 minutes for as long as nobody acknowledges. Each was kept in the rule's
clear run, in memory and in every engine snapshot the daemon stores (one per event), of
which a clear needs only the last `clear`. The run is now bounded and the alerts are the
same: escalations while held, `acknowledged` and `cleared` at the ack.
"""

from __future__ import annotations

import json

from monitord.engine import Ack, AlertEngine, RuleSet, Sample, SessionCmd
from monitord.models import AlertEvent, Kind

C = "c1"
RULE = "bp.crisis"


def bp(t: float, s: float, d: float) -> Sample:
    return Sample(t, C, "cuff", Kind.BP, {"sys_mmHg": s, "dia_mmHg": d})


def run(clearing: int) -> tuple[AlertEngine, list[AlertEvent]]:
    """A crisis at the end of a session, then `clearing` readings below its clear limit
    every 5 minutes with no ack, then the ack."""
    eng = AlertEngine()
    out = eng.feed(SessionCmd(0.0, C, "start", "esketamine"))
    out += eng.feed(bp(60.0, 210, 125))  # confirm = 1: raised
    out += eng.feed(SessionCmd(120.0, C, "end"))
    t = 120.0
    for _ in range(clearing):
        t += 300.0
        out += eng.advance(t)
        out += eng.feed(bp(t, 125, 80))
    return eng, out


def test_a_held_crisis_keeps_only_the_readings_a_clear_needs() -> None:
    clear_n = int(RuleSet.default()[RULE].params["clear"])
    for clearing in (50, 100):
        eng, out = run(clearing)
        (a,) = eng.active(C)
        assert a["rule"] == RULE and eng.held(C) == (True,), a
        assert sum(e.event == "escalated" for e in out) > clearing  # still escalating
        kept = len(eng.chairs[C].bp_runs[RULE].clears)
        assert kept <= clear_n, f"{kept} readings kept after {clearing} clearing ones"
        # ... and so in the snapshot the daemon stores at each event.
        _meets, clears = json.loads(json.dumps(eng.snapshot()))["chairs"][C]["bp_runs"][RULE]
        assert len(clears) == kept, clears
        # The ack still clears it, at once, as before.
        t = 120.0 + 300.0 * clearing + 1.0
        done = eng.feed(Ack(t, C, rule=RULE, by="nurse"))
        assert [(e.rule, e.event) for e in done] == [(RULE, "acknowledged"), (RULE, "cleared")]


def test_restarted_without_latching_a_held_crisis_clears_at_the_next_reading() -> None:
    """A daemon restarted after `[alerts] bp.crisis.latching = false` (and a clear count
    of 4) was added: the run of 50 clearing readings held before the restart is a clear
    run of 50, as when every reading was kept, so the next clearing reading clears the
    crisis, and says so with the whole run counted. With only the last 2 readings
    counted, it stayed raised, escalating, for 2 more readings (10 minutes)."""
    eng, _ = run(50)
    snap = json.loads(json.dumps(eng.snapshot()))
    edited = RuleSet.from_overrides({RULE: {"latching": False, "clear": 4}})
    eng = AlertEngine.restore(snap, edited)
    t = 120.0 + 300.0 * 50 + 60.0
    eng.resume(t)
    t += 30.0  # before its next escalation (one interval after the restart)
    done = eng.feed(bp(t, 125, 80))
    assert [(e.rule, e.event) for e in done] == [(RULE, "cleared")], done
    assert done[0].message == "BP 125/80 < 180/110 (51 readings): cleared"
    assert eng.active(C) == []
