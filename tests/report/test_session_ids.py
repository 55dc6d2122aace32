"""A session id is the nurse station's (cmd/session `session_id`, optional, not required
unique): one reused for a later session, or on another chair, is another session. The
report grouped session events by id alone, so the later session vanished from `--list`
and from every report, and the first one's record took the later dose and end (a
negative "total monitoring time")."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from monitord.commands.report import write_reports
from monitord.config import StorageConfig
from monitord.models import SessionEvent
from monitord.outbox import Outbox
from monitord.report import record_for, session_spans
from monitord.report.load import spans_from_events

from .reportkit import form
from .storeplay import T0, play_into_store

REUSED = """\
{"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s1"}
{"t": 60, "event": "bp", "sys": 120, "dia": 80}
{"t": 600, "event": "session_end"}
{"t": 1000, "event": "session_start", "protocol": "esketamine", "session_id": "s1"}
{"t": 1060, "event": "bp", "sys": 190, "dia": 115}
{"t": 1120, "event": "bp", "sys": 190, "dia": 115}
{"t": 1200, "event": "dose_start"}
{"t": 1300, "event": "session_end"}
{"t": 1301, "event": "end"}
"""


def test_a_reused_session_id_is_two_sessions_each_with_its_own_record(tmp_path: Path) -> None:
    scen, db = tmp_path / "s.jsonl", tmp_path / "o.sqlite"
    scen.write_text(REUSED)
    play_into_store(scen, db)
    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        spans = session_spans(ob)
        assert [(s.session_id, s.start_t, s.end_t) for s in spans] == [
            ("s1", T0, T0 + 600),
            ("s1", T0 + 1000, T0 + 1300),
        ]
        first, second = (record_for(ob, s) for s in spans)
    assert (first.dose_start_t, first.ended_t) == (None, T0 + 600)
    assert form(first)["monitoring_time"] == "MISSING (no dose recorded)"
    assert (second.started_t, second.dose_start_t) == (T0 + 1000, T0 + 1200)
    assert "bp.severe" in [e.rule for e in second.episodes]
    # Both are written, neither over the other.
    paths = write_reports(db, tmp_path / "out", session_id="s1")
    assert len(set(paths)) == len(paths) in (6, 8)  # 3 or 4 files each (PDF optional)


def test_the_same_session_id_on_two_chairs_is_two_sessions() -> None:
    evs = [
        SessionEvent(T0, "chair-1", "start", "esketamine", "s1"),
        SessionEvent(T0 + 5, "chair-2", "start", "iv-ketamine", "s1"),
        SessionEvent(T0 + 60, "chair-2", "dose_start", "iv-ketamine", "s1"),
        SessionEvent(T0 + 90, "chair-1", "end", "esketamine", "s1"),
    ]
    spans = spans_from_events(evs)
    assert [(s.chair, s.start_t, s.end_t) for s in spans] == [
        ("chair-1", T0, T0 + 90),
        ("chair-2", T0 + 5, None),
    ]
    assert {e.chair for e in spans[1].events} == {"chair-2"}


def test_chair_and_date_pick_among_the_sessions_of_a_reused_id() -> None:
    # `--session s1 --chair chair-2` reported chair-1's session too (and `--chair chair-9`
    # beside it changed nothing): with an id, the chair and the day were ignored.
    import pytest

    from monitord.report import NoSuchSession, find_spans

    spans = spans_from_events(
        [
            SessionEvent(T0, "chair-1", "start", "esketamine", "s1"),
            SessionEvent(T0 + 5, "chair-2", "start", "iv-ketamine", "s1"),
            SessionEvent(T0 + 86_400, "chair-2", "start", "iv-ketamine", "s1"),
        ]
    )
    assert len(find_spans(spans, "s1")) == 3
    day = date(2024, 5, 6)  # T0: 2024-05-06 09:00 UTC
    assert [(s.chair, s.start_t) for s in find_spans(spans, "s1", "chair-2", day)] == [
        ("chair-2", T0 + 5)
    ]
    assert [s.chair for s in find_spans(spans, "s1", "chair-2")] == ["chair-2", "chair-2"]
    with pytest.raises(NoSuchSession, match=r"^no session 's1' on chair 'chair-9'$"):
        find_spans(spans, "s1", "chair-9")
    with pytest.raises(
        NoSuchSession, match=r"^no session 's1' on any chair started on 2024-05-08 \(UTC\)$"
    ):
        find_spans(spans, "s1", None, date(2024, 5, 8))
