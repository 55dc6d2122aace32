"""The id of a session started without one is unique per chair for the chair's lifetime,
also across a daemon restart, deterministic and opaque: `<chair>-<second>` as always, with
`-2`, `-3` ... only for more starts within the same second. Until 2026-12-02 a start, end
and start within one second gave two sessions the same id (in the store, MQTT, InfluxDB)."""

from __future__ import annotations

import json

from monitord.engine import AlertEngine, RuleSet, SessionCmd
from monitord.engine.inputs import SessionAction

C = "chair-1"


def _run(eng: AlertEngine, cmds: list[tuple[float, SessionAction]]) -> list[str]:
    """Feed session commands; the ids of the sessions they started."""
    ids = []
    for t, action in cmds:
        eng.feed(SessionCmd(t, C, action))
        assert eng.last_error is None, eng.last_error
        if action == "start":
            s = eng.session(C)
            assert s is not None
            ids.append(str(s["session_id"]))
    return ids


def _restarted(eng: AlertEngine, t: float) -> AlertEngine:
    eng = AlertEngine.restore(json.loads(json.dumps(eng.snapshot())), RuleSet.default())
    eng.resume(t)
    return eng


def test_starts_within_one_second_get_distinct_ids() -> None:
    cmds: list[tuple[float, SessionAction]] = [
        (5.1, "start"),
        (5.5, "end"),
        (5.9, "start"),
        (5.95, "end"),
        (5.99, "start"),
        (6.0, "end"),
        (6.2, "start"),  # a new second: the usual form again
    ]
    want = ["chair-1-5", "chair-1-5-2", "chair-1-5-3", "chair-1-6"]
    assert _run(AlertEngine(), cmds) == want
    assert _run(AlertEngine(), cmds) == want  # deterministic: replay gives the same


def test_ids_stay_distinct_across_a_restart() -> None:
    eng = AlertEngine()
    # Restarted while idle: the snapshot keeps the second and the count.
    assert _run(eng, [(7.1, "start"), (7.2, "end")]) == ["chair-1-7"]
    eng = _restarted(eng, 7.3)
    assert _run(eng, [(7.4, "start")]) == ["chair-1-7-2"]
    # Restarted while a session is open: its id tells them (nothing added to the
    # snapshot, so its format stays what older versions wrote and read).
    eng = _restarted(eng, 7.5)
    assert _run(eng, [(7.6, "end"), (7.7, "start")]) == ["chair-1-7-3"]
    assert "session_seq" not in eng.snapshot()["chairs"][C]
    eng = _restarted(eng, 7.8)
    assert _run(eng, [(7.85, "end"), (7.9, "start"), (7.95, "end"), (8.0, "start")]) == [
        "chair-1-7-4",
        "chair-1-8",
    ]


def test_a_given_session_id_is_kept() -> None:
    eng = AlertEngine()
    eng.feed(SessionCmd(5.1, C, "start", session_id="s-a"))
    eng.feed(SessionCmd(5.2, C, "end"))
    eng.feed(SessionCmd(5.3, C, "start"))
    s = eng.session(C)
    assert s is not None and s["session_id"] == "chair-1-5"
    eng = _restarted(eng, 5.4)  # a generated id open: restored from it
    eng.feed(SessionCmd(5.5, C, "end"))
    eng.feed(SessionCmd(5.6, C, "start", session_id="s-b"))
    eng = _restarted(eng, 5.7)  # a given id open: the count is written
    assert eng.snapshot()["chairs"][C]["session_seq"] == [5, 1]
    eng.feed(SessionCmd(5.8, C, "end"))
    eng.feed(SessionCmd(5.9, C, "start"))
    s = eng.session(C)
    assert s is not None and s["session_id"] == "chair-1-5-2"
