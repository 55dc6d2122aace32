"""A live reading is placed on the daemon's receive time (the alert engine's clock, the
session events' clock), not on the device's: a cuff clock minutes off (accepted up to
300 s as the measured time) must not move a BP out of the session, or out of the
40-minute window the engine counted it in. Stored records (device memory) stay history,
placed by their device time, and never fill a REMS field. Audit regressions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import monitord.chair as chair_mod
from monitord.chair import QueuedCommand
from monitord.engine.inputs import SessionAction, SessionCmd
from monitord.hub import Hub
from monitord.models import Kind, Reading, authoritative_time
from monitord.report import SessionRecord, record_for, session_spans
from tests.kit import SetClock, make_chair

from .reportkit import form, play_record
from .storeplay import T0

C0 = 1_800_000_000.0
DOSE = C0 + 300


def _cuff(received: float, sys_: float, dia: float, clock_off_s: float) -> Reading:
    """As drivers/measurement.py stamps a cuff reading that carries the device's time."""
    rec_at = datetime.fromtimestamp(C0 + received, UTC)
    dev = rec_at + timedelta(seconds=clock_off_s)
    return Reading(
        "chair-1", "cuff", Kind.BP, {"sys_mmHg": sys_, "dia_mmHg": dia},
        authoritative_time(dev, rec_at), rec_at, device_time=dev,
    )  # fmt: skip


def _run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    off: float,
    bps: Sequence[tuple[float, float, float]],
    end_min: float,
) -> SessionRecord:
    """A real ChairRuntime on a set clock: session, dose at 300 s, cuff readings
    (min from dose, sys, dia) received on the chair's clock, the cuff's `off` s out."""
    clock = SetClock(C0)
    chair = make_chair(tmp_path, Hub(), clock=clock)
    monkeypatch.setattr("monitord.chair.time.monotonic", lambda: clock.t - C0 + 1000.0)

    def at(t: float, *items: chair_mod.Item) -> None:
        clock.t = C0 + t
        chair.process(list(items))
        for _ in range(3):  # let a held connection burst resolve
            clock.t += 2.0
            chair.process([])

    def cmd(t: float, action: SessionAction) -> None:
        at(t, QueuedCommand(SessionCmd(C0 + t, "chair-1", action, "esketamine", "s-clock")))

    cmd(0, "start")
    at(60, _cuff(60, 120, 80, off))
    at(120, _cuff(120, 122, 80, off))
    cmd(300, "dose_start")
    cmd(600, "dose_end")
    for m, s, d in bps:
        at(300 + m * 60, _cuff(300 + m * 60, s, d, off))
    cmd(300 + end_min * 60, "end")
    ob = chair.store.outbox
    ob.commit()
    (span,) = session_spans(ob)
    return record_for(ob, span)


def test_a_fast_cuff_clock_keeps_the_bp_before_completion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cuff's clock is 2.5 min fast: the last BP (124/80, received 1 min before the
    # end) is stamped 1.5 min after session_end.
    bps = [(m, 150, 90) for m in range(10, 120, 10)] + [(120, 124, 80)]
    rec = _run(tmp_path, monkeypatch, 150.0, bps, 121)
    end = rec.rems_field("end_of_monitoring").reading
    assert end is not None and (end.sys_mmHg, end.dia_mmHg) == (124, 80)
    assert end.t == DOSE + 120 * 60 and end.device_time == DOSE + 120 * 60 + 150
    # Shown with the device's own time, which differs by minutes.
    assert "device clock" in form(rec)["end_of_monitoring"]
    pre = rec.rems_field("pre_dose").reading
    assert pre is not None and pre.t == C0 + 120


def test_a_slow_cuff_clock_keeps_the_40_minute_bp_the_engine_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2.5 min slow: the BP received at 37 min is stamped 34.5 min, outside 35-50.
    mins = (10, 20, 30, 37, 53, 63, 73, 83, 93, 103, 113, 121)
    rec = _run(tmp_path, monkeypatch, -150.0, [(m, 124, 80) for m in mins], 122)
    raised = [a.rule for a in rec.alerts if a.event == "raised"]
    assert "session.check_missed" not in raised  # the engine counted it
    post = rec.rems_field("post_dose_40min").reading
    assert post is not None and post.t == DOSE + 37 * 60
    assert not any(g.what == "check_missed" for g in rec.gaps)
    # The vitals CSV's time is the receive time; the device's own time has its column.
    (v,) = [v for v in rec.vitals if v.t == DOSE + 37 * 60]
    assert v.device_time == DOSE + 37 * 60 - 150


STORED_IN_WINDOW = """\
{"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-s"}
{"t": 60, "event": "bp", "sys": 120, "dia": 80}
{"t": 120, "event": "bp", "sys": 122, "dia": 80}
{"t": 250, "event": "bp", "sys": 119, "dia": 79, "stored": true}
{"t": 300, "event": "dose_start"}
{"t": 600, "event": "dose_end"}
{"t": 2700, "event": "bp", "sys": 130, "dia": 85, "stored": true}
{"t": 8000, "event": "bp", "sys": 125, "dia": 82, "stored": true}
{"t": 8100, "event": "session_end"}
{"t": 8200, "event": "end"}
"""


def test_a_stored_record_never_fills_a_rems_field(tmp_path: Path) -> None:
    rec = play_record(tmp_path, STORED_IN_WINDOW)
    assert len(rec.stored) == 3  # the harness carries the flag into the store
    pre, post, end = (rec.rems_field(n) for n in ("pre_dose", "post_dose_40min",
                                                  "end_of_monitoring"))  # fmt: skip
    assert pre.reading is not None and pre.reading.t == T0 + 120  # not the stored 119/79
    assert post.reading is None and end.reading is None
    assert any(g.what == "check_missed" for g in rec.gaps)
