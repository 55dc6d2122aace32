"""Issue 16, "Receipts": "No receipt within 15 s ... raise the local technical alarm 'alarm
not received by any station' ..., and clear it on the next receipt." Any receipt: it says
a station is listening again (what it missed is in the retained `alerts/active`), also
one of an event no wait is for (an `acknowledged`, a `cleared`, a `pending` with
`alert_id: null`: stations receipt every event they show, docs/station.md).

Found by mutation: clearing `delivery.unheard` only on receipts of `raised`/`escalated`
events passed every test (each cleared it with the receipt of the waited event). The
delivery watch, receipts and technical alarms as the daemon wires them, on the monotonic
times they are handed.
"""

from __future__ import annotations

import pytest

from monitord.delivery import UNHEARD_KEY, DeliveryWatch, LaterLink
from monitord.receipts import Receipts
from monitord.techalarm import TechAlarms

RAISED = {"alert_id": "a1", "event": "raised", "priority": "high", "rule": "bp.crisis"}


@pytest.mark.parametrize(
    ("alert_id", "event"),
    [("other", "acknowledged"), ("other", "cleared"), (None, "pending"), ("a0", "raised")],
)
def test_any_receipt_clears_alarm_not_received(alert_id: str | None, event: str) -> None:
    receipts = Receipts(15.0)
    alarms = TechAlarms()
    watch = DeliveryWatch(30.0, LaterLink(lambda: None), lambda: True, alarms, None, receipts)
    receipts.accepted("chair-1", RAISED, 100.0)
    watch.check(114.0)
    assert UNHEARD_KEY not in alarms.active
    watch.check(115.0)  # mqtt.receipt_timeout_s after the broker took it
    assert UNHEARD_KEY in alarms.active
    receipts.receipt(alert_id, event, 116.0)  # a station shows something: it listens
    watch.check(116.0)
    assert UNHEARD_KEY not in alarms.active, (alert_id, event)
