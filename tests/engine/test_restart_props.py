"""A daemon restart at any point of a random stream, done as the daemon does it.

The daemon writes `AlertEngine.snapshot()` with each commit through the store's encoder
(monitord/store/codec.py `dumps`, read back with `json.loads`), and on a start restores it
and calls `resume(t)` with the chair clock's time (monitord/daemon.py). The run after the
restart must be the uninterrupted run, except what clinical-rules.md ("Delivery of
alarms") says differs: "Escalations missed while the daemon was down ... are not replayed:
after a restart the next escalation of a restored alert is due one interval after the
start, with the level counting on." The escalations of restored alerts are checked against
a model of that sentence and of "Escalation" / "Precise semantics" (deadlines start +
n x interval, skipped while acknowledged or inhibited, level counting the emitted ones),
written here from the rules, not from monitord/engine; every other event must be equal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitord.engine import AlertEngine, EngineInput, RuleSet
from monitord.models import AlertEvent
from monitord.store.codec import dumps

from .strategies import acked_streams, clinical_streams

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
END_S = 7200.0
# clinical-rules.md "Escalation": high every 120 s, medium every 300 s, low never.
INTERVAL = {"high": 120.0, "medium": 300.0}
# clinical-rules.md rule table, "inhibits" in its notes.
INHIBITED_BY = {
    "bp.severe": ("bp.crisis",),
    "bp.rise": ("bp.crisis", "bp.severe"),
    "bp.low": ("bp.very_low",),
    "hr.high": ("hr.very_high",),
    "hr.low": ("hr.very_low",),
    "spo2.low": ("spo2.very_low",),
}


def play(eng: AlertEngine, inputs: list[EngineInput]) -> list[AlertEvent]:
    """As `monitord replay` (and the chair task) drives it: timers due before an input's
    `t` fire first, timers due at `t` after every input at `t`."""
    out: list[AlertEvent] = []
    for ev in inputs:
        out += eng.advance(ev.t, strict=True)
        out += eng.feed(ev)
    return out


def through_disk(eng: AlertEngine) -> AlertEngine:
    """What a restarted daemon has: the snapshot as the store encodes it, read back."""
    snap = json.loads(dumps(eng.snapshot()))
    return AlertEngine.restore(snap, RuleSet.default())


@dataclass
class Restored:
    alert_id: str
    chair: str
    rule: str
    priority: str
    level: int


def restored_alerts(before: list[AlertEvent]) -> dict[str, Restored]:
    """Alerts active and unacknowledged at the cut, from the events before it."""
    live: dict[str, Restored] = {}
    for e in before:
        if e.alert_id is None:
            continue
        if e.event == "raised":
            live[e.alert_id] = Restored(e.alert_id, e.chair, e.rule, e.priority, 0)
        elif e.event in ("cleared", "acknowledged"):
            live.pop(e.alert_id, None)
        elif e.event == "escalated":
            live[e.alert_id].level = e.level or 0
    return live


def _active_at(events: list[AlertEvent], chair: str, rule: str, t: float) -> bool:
    """Is an alert of `rule` active on `chair` once every input at `t` is in (inputs at a
    deadline's `t` go before the timer)?"""
    on = False
    for e in events:
        if e.t > t:
            break
        if e.chair == chair and e.rule == rule and e.event in ("raised", "cleared"):
            on = e.event == "raised"
    return on


def expected_escalations(
    a: Restored, start: float, end: float, before: list[AlertEvent], after: list[AlertEvent]
) -> list[tuple[float, str, int]]:
    """The escalations of restored alert `a` after a restart at `start` (`before`, `after`:
    the events before and after the restart)."""
    interval = INTERVAL.get(a.priority)
    if interval is None:
        return []
    events = before + after  # an inhibitor may have been raised before the restart
    stop = min(
        (e.t for e in after if e.alert_id == a.alert_id and e.event != "escalated"),
        default=float("inf"),
    )  # cleared or acknowledged (at or before a deadline: the input goes first)
    out: list[tuple[float, str, int]] = []
    level = a.level
    n = 1
    while (due := round(start + n * interval, 6)) <= end and due < stop:
        if not any(_active_at(events, a.chair, r, due) for r in INHIBITED_BY.get(a.rule, ())):
            level += 1
            out.append((due, a.alert_id, level))
        n += 1
    return out


def _rows(events: list[AlertEvent]) -> list[dict[str, Any]]:
    return [e.to_replay() for e in events]


def check_continued(
    first: list[AlertEvent],
    rest: list[AlertEvent],
    ref_rest: list[AlertEvent],
    start: float,
    end: float,
) -> None:
    """`rest` (after a restart at `start`) is `ref_rest` (without it) but for the
    escalations of the alerts restored, which follow the model above."""
    kept = restored_alerts(first)

    def plain(evs: list[AlertEvent]) -> list[dict[str, Any]]:
        return _rows([e for e in evs if not (e.event == "escalated" and e.alert_id in kept)])

    assert plain(rest) == plain(ref_rest), "a restart changed more than escalations"
    got = sorted(
        (e.t, e.alert_id or "", e.level or 0)
        for e in rest
        if e.event == "escalated" and e.alert_id in kept
    )
    want = sorted(
        x for a in kept.values() for x in expected_escalations(a, start, end, first, rest)
    )
    assert got == want, "escalations of restored alerts"


@SETTINGS
@given(acked_streams(), st.data())
def test_restart_at_any_input_continues_the_run(inputs: list[EngineInput], data: Any) -> None:
    """Restart right after input `cut` (the daemon stopped after committing it and came
    back at once: its clock starts at that input's `t`)."""
    cut = data.draw(st.integers(1, len(inputs)), label="cut")
    end = inputs[-1].t + END_S
    whole_eng = AlertEngine()
    whole = play(whole_eng, inputs) + whole_eng.advance(end)

    eng = AlertEngine()
    first = play(eng, inputs[:cut])
    start = inputs[cut - 1].t
    restored = through_disk(eng)
    restored.resume(start)
    rest = play(restored, inputs[cut:]) + restored.advance(end)

    assert _rows(first) == _rows(whole[: len(first)])
    check_continued(first, rest, whole[len(first) :], start, end)


# Timer-driven alerts whose deadline falling while the daemon was down fires at the
# start (docs/alerts.md, docs/reliability.md "restart after 2 h"), and waits that start
# again at the start (clinical-rules.md "Delivery of alarms": a device "unplugged while
# the daemon was down raises tech.device_lost 30 s after start").
FIRED_AT_START = ("tech.bp_overdue", "session.check_missed", "session.discharge_ready")
WAIT_S = {"tech.device_lost": 30.0, "tech.sensor_off": 15.0}


@SETTINGS
@given(clinical_streams(), st.data())
def test_restart_after_time_down(inputs: list[EngineInput], data: Any) -> None:
    """Down for `gap` s after input `cut`: the inputs of that time are lost to both runs.
    Whatever no timer fell due for during the gap goes on as without the restart; a
    timer-driven raise that fell due comes at the start (a wait: one wait after it)."""
    cut = data.draw(st.integers(1, len(inputs)), label="cut")
    gap = data.draw(st.sampled_from([0.5, 9.0, 11.0, 200.0, 900.0, 4000.0]), label="gap")
    start = inputs[cut - 1].t + gap
    stream = inputs[:cut] + [ev for ev in inputs[cut:] if ev.t >= start]
    end = stream[-1].t + END_S
    ref_eng = AlertEngine()
    ref = play(ref_eng, stream) + ref_eng.advance(end)

    eng = AlertEngine()
    first = play(eng, stream[:cut])
    restored = through_disk(eng)
    restored.resume(start)
    rest = play(restored, stream[cut:]) + restored.advance(end)
    assert all(e.t >= start for e in rest), "an event dated while the daemon was down"
    ref_rest = ref[len(first) :]
    in_gap = [e for e in ref_rest if e.t < start and e.event != "escalated"]
    if not in_gap:
        check_continued(first, rest, ref_rest, start, end)
        return
    # Every raise the reference made in the gap comes after the start, at the start for
    # a deadline, one wait on for a device or sensor wait (unless it came back first).
    for e in in_gap:
        if e.event != "raised":
            continue
        if e.rule in FIRED_AT_START:
            assert any(
                r.rule == e.rule and r.event == "raised" and r.chair == e.chair and r.t == start
                for r in rest
            ), f"{e.rule} due at {e.t} (down until {start}) not raised at the start"
        elif e.rule in WAIT_S:
            sub = (e.alert_id or "").split(":")[2]
            due = round(start + WAIT_S[e.rule], 6)
            raised = [
                r.t
                for r in rest
                if r.rule == e.rule
                and r.event == "raised"
                and r.chair == e.chair
                and (r.alert_id or "").split(":")[2] == sub
            ]
            back = [
                ev.t for ev in stream[cut:] if ev.chair == e.chair and ev.t < due
            ]  # an input that may bring the device or the contact back first
            assert due in raised or back, f"{e.rule} of {sub}: not raised one wait after the start"
