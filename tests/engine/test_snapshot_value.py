"""The engine snapshot is the state as of the moment it was taken.

The chair task takes a snapshot with each batch and hands it to the store's writer thread,
which encodes it later, possibly after the chair task has processed the next batch. A
snapshot sharing the engine's live lists would then be written with the next batch's
confirmation runs beside this batch's alerts: after a crash before the next batch's commit,
the restored engine has neither that batch's alarm nor the reading that began its run,
and the alarm comes one NIBP cycle (10 min) late."""

from __future__ import annotations

import json

from monitord.engine import AlertEngine, RuleSet
from monitord.engine.inputs import Sample, SessionCmd
from monitord.models import Kind


def _bp(t: float, s: float, d: float) -> Sample:
    return Sample(t, "chair-1", "bp", Kind.BP, {"sys_mmHg": s, "dia_mmHg": d})


def test_snapshot_is_not_changed_by_later_inputs() -> None:
    eng = AlertEngine()
    eng.feed(SessionCmd(0.0, "chair-1", "start", protocol="esketamine"))
    for t in (10.0, 20.0):
        eng.feed(_bp(t, 120, 80))
    eng.feed(SessionCmd(30.0, "chair-1", "dose_start"))
    eng.feed(_bp(40.0, 185, 100))  # bp.severe: pending, run of 1
    eng.feed(Sample(45.0, "chair-1", "hr", Kind.HR, {"hr_bpm": 130}))
    snap = eng.snapshot()  # batch k's snapshot, handed to the writer thread
    at_batch = json.dumps(snap)
    # Batch k+1, processed by the chair task before the writer thread encodes batch k.
    (raised,) = [e for e in eng.feed(_bp(640.0, 186, 101)) if e.event == "raised"]
    assert raised.rule == "bp.severe"
    eng.feed(Sample(650.0, "chair-1", "hr", Kind.HR, {"hr_bpm": 60}))
    eng.feed(SessionCmd(700.0, "chair-1", "end"))
    assert json.dumps(snap) == at_batch, "the snapshot changed after it was taken"

    # The crash: batch k committed, batch k+1 (its reading and its `raised`) lost. The
    # next reading that meets bp.severe is the second of the run the store knows of.
    restored = AlertEngine.restore(json.loads(json.dumps(snap)), RuleSet.default())
    out = restored.feed(_bp(1240.0, 187, 102))  # (tech.bp_overdue, due at 820, aside)
    assert [(e.rule, e.event) for e in out if e.rule.startswith("bp.")] == [("bp.severe", "raised")]


def test_no_container_of_the_snapshot_changes_with_the_engine() -> None:
    """Each container the engine changes in place, one step each: the test above reaches
    only the runs, `current`, `last_valid`, `session_bp` and the episodes' mapping."""
    eng = AlertEngine()
    c = "chair-1"

    def step(name: str, *inputs: Sample | SessionCmd) -> None:
        snap = eng.snapshot()
        before = json.dumps(snap)
        for i in inputs:
            eng.feed(i)
        assert json.dumps(snap) == before, f"the snapshot changed with {name}"

    bad = {"sys_mmHg": 80, "dia_mmHg": 90}  # systolic not above diastolic: tech.bp_invalid
    # session_seq: [5, 1] once the session it named ended; a start in that second counts on
    eng.feed(SessionCmd(5.1, c, "start", protocol="esketamine"))
    eng.feed(SessionCmd(5.2, c, "end"))
    step("a second session started in the same second", SessionCmd(5.3, c, "start"))
    # base_bp: a second baseline reading appended
    eng.feed(_bp(10.0, 120, 80))
    step("a baseline reading", _bp(20.0, 121, 81))
    # cleared: a second alert cleared (tech.bp_invalid raised, then cleared by a valid BP)
    eng.feed(Sample(30.0, c, "bp", Kind.BP, bad))
    eng.feed(_bp(30.0, 122, 82))
    step("a clear", Sample(40.0, c, "bp", Kind.BP, bad), _bp(41.0, 122, 82))
    # episodes: the same alert raised again within the same millisecond counts on
    eng.feed(Sample(50.0, c, "bp", Kind.BP, bad))
    eng.feed(_bp(50.0, 122, 82))
    step("a raise in the same ms", Sample(50.0, c, "bp", Kind.BP, bad))
    # timers: a restart moves a deadline that fell due in place
    eng.feed(SessionCmd(60.0, c, "dose_start"))
    snap = eng.snapshot()
    before = json.dumps(snap)
    eng.resume(100_000.0)
    assert json.dumps(snap) == before, "the snapshot changed with a timer moved"
