"""What the engine answers an ACK that acknowledged nothing (docs/mqtt.md "cmd/errors"):
two nurses tap ACK on one alarm, and the second ACK reaches the daemon after the first.
It says the alert was already acknowledged, by whom and when (`acknowledged`), or that
it has cleared (`cleared`, and when: a latched alert the first ACK ended), so a station shows no
"Refused" beside an alarm a colleague took care of; an alert id that is none of the
chair's (a wrong id, another chair's) stays `unknown`. Deterministic: from the engine's
state alone, also across a restart (the snapshot)."""

from __future__ import annotations

import copy
import json
import pickle

from monitord.engine import Ack, AlertEngine, RuleSet, Sample
from monitord.engine.book import CLEARED_KEPT
from monitord.models import Kind, Refusal

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def bp(t: float, s: float, d: float, chair: str = "A1") -> Sample:
    return Sample(t, chair, "nibp-1", Kind.BP, {"sys_mmHg": s, "dia_mmHg": d})


def refusal(eng: AlertEngine, ack: Ack) -> Refusal:
    out, err = eng.feed_ack(ack)
    assert out == [], f"the second ACK emitted events: {out}"
    assert isinstance(err, Refusal), f"no coded answer to the ACK: {err!r}"
    return err


def crisis(eng: AlertEngine) -> str:
    eng.feed(bp(T0 + 1, 212, 124))
    (act,) = [a for a in eng.active("A1") if a["rule"] == "bp.crisis"]
    return str(act["alert_id"])


def test_second_ack_says_who_acknowledged_it_and_when() -> None:
    eng = AlertEngine()
    aid = crisis(eng)
    out, err = eng.feed_ack(Ack(T0 + 5, "A1", alert_id=aid, by="alice"))
    assert err is None and [e.event for e in out] == ["acknowledged"]
    r = refusal(eng, Ack(T0 + 6, "A1", alert_id=aid, by="bob"))
    assert r.code == "acknowledged", r
    assert dict(r.fields) == {
        "alert_id": aid,
        "rule": "bp.crisis",
        "acked_by": "alice",
        "acked_at": "2026-01-01T00:00:05.000Z",
    }
    assert str(r) == f"alert {aid} on A1 is already acknowledged by alice"
    assert r.done_already


def test_second_ack_after_a_restart_still_names_the_first() -> None:
    eng = AlertEngine()
    aid = crisis(eng)
    eng.feed_ack(Ack(T0 + 5, "A1", alert_id=aid, by="alice"))
    snap = json.loads(json.dumps(eng.snapshot()))  # what the daemon writes to disk
    again = AlertEngine.restore(snap, RuleSet.default())
    r = refusal(again, Ack(T0 + 60, "A1", alert_id=aid, by="bob"))
    assert (r.code, r.fields.get("acked_by"), r.fields.get("acked_at")) == (
        "acknowledged",
        "alice",
        "2026-01-01T00:00:05.000Z",
    )


def test_ack_of_a_cleared_alert_says_it_cleared() -> None:
    eng = AlertEngine()
    aid = crisis(eng)
    eng.feed(bp(T0 + 30, 150, 90))
    eng.feed(bp(T0 + 60, 150, 90))  # latched: clear condition holds, waiting for an ACK
    out, err = eng.feed_ack(Ack(T0 + 70, "A1", alert_id=aid, by="alice"))
    assert err is None and [e.event for e in out] == ["acknowledged", "cleared"]
    r = refusal(eng, Ack(T0 + 71, "A1", alert_id=aid, by="bob"))
    assert (r.code, dict(r.fields)) == (
        "cleared",
        {"alert_id": aid, "rule": "bp.crisis", "cleared_at": "2026-01-01T00:01:10.000Z"},
    ), r
    assert "no longer active: it has cleared" in r
    # Also once the rule raised a new episode: the old id is still one that cleared.
    eng.feed(bp(T0 + 80, 215, 125))
    (again,) = [a["alert_id"] for a in eng.active("A1") if a["rule"] == "bp.crisis"]
    assert again != aid
    assert refusal(eng, Ack(T0 + 81, "A1", alert_id=aid, by="bob")).code == "cleared"
    # And after a restart (the snapshot keeps the last alerts to clear).
    snap = json.loads(json.dumps(eng.snapshot()))
    again = AlertEngine.restore(snap, RuleSet.default())
    assert refusal(again, Ack(T0 + 90, "A1", alert_id=aid, by="bob")).code == "cleared"


def test_only_the_last_alerts_to_clear_are_kept() -> None:
    eng = AlertEngine()
    ids = []
    for i in range(CLEARED_KEPT + 1):  # each raised, acknowledged and so cleared
        t = T0 + 1000 * i
        eng.feed(bp(t, 212, 124))
        (a,) = [a for a in eng.active("A1") if a["rule"] == "bp.crisis"]
        eng.feed(bp(t + 30, 150, 90))
        eng.feed(bp(t + 60, 150, 90))
        eng.feed_ack(Ack(t + 70, "A1", alert_id=a["alert_id"], by="alice"))
        ids.append(str(a["alert_id"]))
    assert not [a for a in eng.active("A1") if a["rule"] == "bp.crisis"]
    assert refusal(eng, Ack(T0 + 99_000, "A1", alert_id=ids[0])).code == "unknown"
    assert refusal(eng, Ack(T0 + 99_000, "A1", alert_id=ids[1])).code == "cleared"


def test_a_wrong_ack_stays_unknown() -> None:
    eng = AlertEngine()
    aid = crisis(eng)
    eng.feed(bp(T0 + 1, 212, 124, chair="B2"))
    other = next(a for a in eng.active("B2") if a["rule"] == "bp.crisis")["alert_id"]
    ms = int(aid.rsplit(":", 1)[1])
    wrong = [
        "a-1234",  # no alert id the daemon gives
        str(other),  # another chair's alert, sent to this chair
        aid.replace("bp.crisis", "bp.severe"),  # a rule never raised here
        f"A1:bp.crisis:{ms + 1000}",  # never raised
        f"A1:bp.crisis:{ms - 1000}",  # before this one: never raised either
        "A1:bp.crisis:1",
    ]
    for bad in wrong:
        r = refusal(eng, Ack(T0 + 2, "A1", alert_id=bad, by="bob"))
        assert (r.code, r.done_already) == ("unknown", False), (bad, r)
        assert str(r) == f"unknown alert {bad} on A1: not one of its alerts"
    # And the alarm itself is still there, unacknowledged.
    assert [a["ack"] for a in eng.active("A1") if a["alert_id"] == aid] == [False]


def test_an_answer_survives_copy_and_pickle() -> None:
    """A Refusal is a str with a code and fields: copied or pickled (a future's result
    handed on, a log record sent to another process) it must stay what it says, not raise
    (str's default rebuilds it from its text alone; its fields' mapping does not pickle)."""
    eng = AlertEngine()
    aid = crisis(eng)
    eng.feed_ack(Ack(T0 + 5, "A1", alert_id=aid, by="alice"))
    r = refusal(eng, Ack(T0 + 6, "A1", alert_id=aid, by="bob"))
    for how, again in (
        ("copy.copy", lambda: copy.copy(r)),
        ("copy.deepcopy", lambda: copy.deepcopy(r)),
        ("pickle", lambda: pickle.loads(pickle.dumps(r))),
    ):
        try:
            got = again()
        except Exception as e:  # the defect: TypeError naming __new__ or mappingproxy
            raise AssertionError(f"{how} of an ACK answer raised {e!r}") from None
        assert isinstance(got, Refusal), (how, type(got))
        assert (str(got), got.code, dict(got.fields)) == (str(r), r.code, dict(r.fields)), how
