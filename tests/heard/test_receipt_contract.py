"""The receipt contract as the station sends it (docs/station.md, docs/delivery.md), met
by the daemon's side (found by tests/station/test_station_daemon_loop.py's pairing):

- a station receipts every alert event it shows, `pending` included, whose `alert_id` is
  null (clinical-rules.md): that is a receipt, not a malformed one;
- a receipt can be handled before the broker's PUBACK of the event it answers (the
  publishes of a batch are confirmed together, and the receipt comes back on the same
  connection): the event must not then wait for a receipt that already came;
- a receipt answers only the very event it names (alert id, event, escalation `level`):
  a duplicate of escalation level 1 never answers level 2 (an audit found it did).
"""

from __future__ import annotations

import pytest

from monitord.receipts import BadReceipt, Receipts, parse_receipt

HIGH = {"alert_id": "chair-1:bp.crisis:1", "event": "raised", "priority": "high", "rule": "r"}


def test_a_pending_receipt_with_a_null_alert_id_is_a_receipt() -> None:
    body = b'{"alert_id": null, "event": "pending", "station": "station-1", "shown_at": "t",'
    assert parse_receipt(body + b' "sounded": false}') == (None, "pending", "station-1", None)
    r = Receipts(3.0)
    r.accepted("chair-1", HIGH, 100.0)
    r.receipt(None, "pending", 104.0)  # a station listens: what waited past the timeout goes
    assert r.heard_at == 104.0 and r.waiting == {}


@pytest.mark.parametrize(
    "body",
    [
        b'{"alert_id": null, "event": "raised", "station": "s"}',
        b'{"event": "cleared", "station": "s"}',
        b'{"alert_id": 7, "event": "pending", "station": "s"}',
    ],
)
def test_only_pending_may_lack_its_alert_id(body: bytes) -> None:
    with pytest.raises(BadReceipt, match="alert_id missing or not a string"):
        parse_receipt(body)


def test_a_receipt_before_the_puback_is_not_waited_for() -> None:
    r = Receipts(3.0)
    r.receipt(HIGH["alert_id"], "raised", 100.0)  # the station was quicker than our PUBACK
    r.accepted("chair-1", HIGH, 100.1)
    assert r.waiting == {} and r.overdue(200.0) == []
    # Another event of that alert still waits for its own receipt.
    r.accepted("chair-1", {**HIGH, "event": "escalated", "level": 1}, 101.0)
    assert [w.rule for w in r.overdue(104.0)] == ["r"]


AID = HIGH["alert_id"]


def esc(level: int) -> dict[str, object]:
    return {**HIGH, "event": "escalated", "level": level}


def test_the_level_is_read_and_checked() -> None:
    body = b'{"alert_id": "a", "event": "escalated", "level": 2, "station": "s"}'
    assert parse_receipt(body).level == 2
    for bad in (b'"2"', b"-1", b"1.5", b"true"):
        with pytest.raises(BadReceipt, match="level"):
            parse_receipt(b'{"alert_id": "a", "event": "escalated", "station": "s", "level": '
                          + bad + b"}")  # fmt: skip


def test_an_early_escalation_receipt_answers_only_its_own_level() -> None:
    r = Receipts(3.0)
    r.receipt(AID, "escalated", 100.0, level=2)  # beat the PUBACK of level 2
    r.receipt(AID, "escalated", 100.0, level=2)  # and a second station's too
    r.accepted("chair-1", esc(1), 100.1)  # an older level: not answered by it
    assert set(r.waiting) == {(AID, "escalated", 1)}
    r.accepted("chair-1", esc(2), 100.1)  # its own: answered already
    assert set(r.waiting) == {(AID, "escalated", 1)} and not r.early


def test_duplicate_receipts_are_dropped_not_kept_for_the_next_escalation() -> None:
    r = Receipts(3.0)
    for level in (1, 2):
        r.accepted("chair-1", esc(level), 100.0 * level)
        r.receipt(AID, "escalated", 100.0 * level + 0.1, level=level)  # station-1, silent
        r.receipt(AID, "escalated", 100.0 * level + 0.2, level=level)  # station-2, sounding
        assert r.waiting == {} and not r.early
    r.accepted("chair-1", esc(3), 300.0)
    assert [w.rule for w in r.overdue(303.0)] == ["r"]
    # A raised event is matched on its alert id: its level is 0 whatever a station sent.
    r.receipt("b", "raised", 310.0, level=None)
    r.accepted("chair-1", {**HIGH, "alert_id": "b"}, 310.1)
    assert ("b", "raised", 0) not in r.waiting
    # The broker took an event again (a re-send after a lost PUBACK): shown already.
    r.accepted("chair-1", esc(2), 320.0)
    assert (AID, "escalated", 2) not in r.waiting


def test_an_escalation_receipt_without_level_answers_only_a_wait_of_now() -> None:
    """A station older than the `level` field: its escalation receipt answers the oldest
    escalation of that alert waiting when it comes, and is never kept for a later one."""
    r = Receipts(3.0)
    r.accepted("chair-1", esc(1), 100.0)
    r.receipt(AID, "escalated", 100.1)
    r.receipt(AID, "escalated", 100.2)  # the duplicate: nothing waits, nothing is kept
    assert r.waiting == {} and not r.early
    r.accepted("chair-1", esc(2), 200.0)
    assert set(r.waiting) == {(AID, "escalated", 2)}


# Found reading the receipt parser while fuzzing the daemon's MQTT inputs (atheris did not
# reach it: nesting adds no Python-level coverage), 2026-12-05. Before, json.loads raised
# RecursionError, which is no ValueError: out of the MQTT handler, an ERROR traceback and
# an "internal error" refusal on the chair's cmd/errors, for a receipt or a station status.
DEEP = [b"[" * 5000, b'{"a":' * 3000, b'{"event": "raised", "x": ' + b"[" * 2000 + b"]" * 2000]


@pytest.mark.parametrize("payload", DEEP, ids=["list", "object", "inside"])
def test_a_deeply_nested_receipt_is_a_bad_receipt(payload: bytes) -> None:
    with pytest.raises(BadReceipt, match="nested deeper than"):
        parse_receipt(payload)


@pytest.mark.parametrize("payload", DEEP, ids=["list", "object", "inside"])
def test_a_deeply_nested_station_status_is_ignored_like_any_bad_one(payload: bytes) -> None:
    r = Receipts(3.0)
    r.station_status("station-1", b'{"state": "online"}')
    r.station_status("station-2", payload)
    assert r.online() == ["station-1"] and "station-2" not in r.stations
