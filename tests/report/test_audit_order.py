"""The alarm audit's order, as docs/report.md "Alarm audit" gives it to the clinical lead:
"Episodes still active at session end come first (high, then medium, then low) ...; then
the others by raise time", with each episode's escalations counted and its highest level.
An alarm still on at the end is what the record must not hide under earlier ones."""

from __future__ import annotations

from monitord.models import AlertEvent
from monitord.report.audit import episodes


def ev(
    t: float, rule: str, event: str, prio: str, aid: str, level: int | None = None
) -> AlertEvent:
    return AlertEvent(t, "chair-1", rule, event, prio, "physiological", aid, "observation",
                      {}, f"{rule} {event}", level=level)  # fmt: skip


def test_active_at_end_first_by_priority_then_the_others_by_raise_time() -> None:
    alerts = [
        ev(100, "hr.high", "raised", "medium", "c-1"),  # cleared: after the active ones
        ev(200, "bp.rise", "raised", "low", "a-low"),
        ev(300, "bp.severe", "raised", "medium", "a-med"),
        ev(400, "hr.low", "raised", "medium", "c-2"),
        ev(500, "spo2.very_low", "raised", "high", "a-high"),
        ev(600, "hr.high", "cleared", "medium", "c-1"),
        ev(620, "spo2.very_low", "escalated", "high", "a-high", level=1),
        ev(700, "hr.low", "cleared", "medium", "c-2"),
        ev(740, "spo2.very_low", "escalated", "high", "a-high", level=2),
    ]
    got = episodes(alerts, start_t=0.0, end_t=1000.0)
    assert [e.alert_id for e in got] == ["a-high", "a-med", "a-low", "c-1", "c-2"]
    assert [e.active_at_end for e in got] == [True, True, True, False, False]
    high = got[0]
    assert high.escalations == 2 and high.max_level == 2
