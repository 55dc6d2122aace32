"""The receipt contract as the station sends it (docs/station.md, docs/delivery.md), met
by the daemon's side (found by tests/station/test_station_daemon_loop.py's pairing):

- a station receipts every alert event it shows, `pending` included, whose `alert_id` is
  null (clinical-rules.md): that is a receipt, not a malformed one;
- a receipt can be handled before the broker's PUBACK of the event it answers (the
  publishes of a batch are confirmed together, and the receipt comes back on the same
  connection): the event must not then wait for a receipt that already came.
"""

from __future__ import annotations

import pytest

from monitord.receipts import BadReceipt, Receipts, parse_receipt

HIGH = {"alert_id": "chair-1:bp.crisis:1", "event": "raised", "priority": "high", "rule": "r"}


def test_a_pending_receipt_with_a_null_alert_id_is_a_receipt() -> None:
    body = b'{"alert_id": null, "event": "pending", "station": "station-1", "shown_at": "t",'
    assert parse_receipt(body + b' "sounded": false}') == (None, "pending", "station-1")
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
    r.accepted("chair-1", {**HIGH, "event": "escalated"}, 101.0)
    assert [w.rule for w in r.overdue(104.0)] == ["r"]
