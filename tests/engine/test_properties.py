"""Property-based tests of the engine's invariants (hypothesis)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitord.engine import AlertEngine, EngineInput, Sample
from monitord.engine.validity import invalid_reason
from monitord.models import AlertEvent

from .strategies import streams

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(inputs: list[EngineInput], engine: AlertEngine | None = None) -> list[AlertEvent]:
    eng = engine or AlertEngine()
    out: list[AlertEvent] = []
    for ev in inputs:
        out += eng.advance(ev.t, strict=True)
        out += eng.feed(ev)
    if inputs:
        out += eng.advance(inputs[-1].t + 7200)
    return out


def episode_key(ev: AlertEvent) -> str:
    """chair + rule (+ device/signal for device alerts), from the alert id."""
    assert ev.alert_id is not None
    return ev.alert_id.rsplit(":", 1)[0]


def _invalid(ev: EngineInput) -> bool:
    if not isinstance(ev, Sample):
        return False
    return invalid_reason(ev.kind, ev.values, ev.valid, ev.contact) is not None


@SETTINGS
@given(streams())
def test_same_input_same_output(inputs: list[EngineInput]) -> None:
    a = [e.to_replay() for e in run(inputs)]
    b = [e.to_replay() for e in run(inputs)]
    assert a == b


@SETTINGS
@given(streams())
def test_episodes_are_well_formed(inputs: list[EngineInput]) -> None:
    """No rule raises twice without a clear in between (per chair+rule, per device for
    device alerts); every cleared/escalated/acknowledged follows a raised of the same id;
    events come out in time order per chair."""
    active: dict[str, str] = {}  # episode key -> alert id
    last_t: dict[str, float] = {}
    for ev in run(inputs):
        assert ev.t >= last_t.get(ev.chair, float("-inf"))
        last_t[ev.chair] = ev.t
        if ev.event == "pending":
            assert ev.alert_id is None
            continue
        key = episode_key(ev)
        if ev.event == "raised":
            assert key not in active, f"{key} raised twice without a clear"
            active[key] = ev.alert_id or ""
        else:
            assert active.get(key) == ev.alert_id, f"{ev.event} of {ev.alert_id} not raised"
            if ev.event == "cleared":
                del active[key]
        if ev.event == "escalated":
            assert ev.level is not None and ev.level >= 1
            assert ev.priority in ("high", "medium")


@SETTINGS
@given(streams())
def test_invalid_reading_never_raises_or_clears_physiological(inputs: list[EngineInput]) -> None:
    eng = AlertEngine()
    for ev in inputs:
        eng.advance(ev.t, strict=True)
        before = {a["alert_id"] for a in eng.active(ev.chair) if a["kind"] == "physiological"}
        out = eng.feed(ev)
        if _invalid(ev):
            after = {a["alert_id"] for a in eng.active(ev.chair) if a["kind"] == "physiological"}
            assert before == after
            assert not [
                e
                for e in out
                if e.kind == "physiological" and e.event in ("pending", "raised", "cleared")
            ]


@SETTINGS
@given(streams(), st.data())
def test_restart_through_json_gives_same_events(inputs: list[EngineInput], data: Any) -> None:
    cut = data.draw(st.integers(0, len(inputs)))
    whole = [e.to_replay() for e in run(inputs)]
    eng = AlertEngine()
    first: list[AlertEvent] = []
    for ev in inputs[:cut]:
        first += eng.advance(ev.t, strict=True)
        first += eng.feed(ev)
    restored = AlertEngine.restore(json.loads(json.dumps(eng.snapshot())))
    rest = run(inputs[cut:], restored) if cut < len(inputs) else []
    if cut == len(inputs) and inputs:
        rest = restored.advance(inputs[-1].t + 7200)
    assert [e.to_replay() for e in first + rest] == whole


@SETTINGS
@given(streams(), st.data())
def test_stored_samples_change_nothing(inputs: list[EngineInput], data: Any) -> None:
    """A stored record (a device's memory) feeds no rule: marking any samples `stored`
    gives the events of the stream without them."""
    marks = data.draw(st.lists(st.booleans(), min_size=len(inputs), max_size=len(inputs)))
    marked = [
        dataclasses.replace(ev, stored=True) if m and isinstance(ev, Sample) else ev
        for ev, m in zip(inputs, marks, strict=True)
    ]
    live = [ev for ev in marked if not (isinstance(ev, Sample) and ev.stored)]
    end = (inputs[-1].t if inputs else 0.0) + 7200

    def events(stream: list[EngineInput]) -> list[dict[str, Any]]:
        eng = AlertEngine()
        out: list[AlertEvent] = []
        for ev in stream:
            out += eng.advance(ev.t, strict=True)
            out += eng.feed(ev)
        out += eng.advance(end)
        return [e.to_replay() for e in out]

    assert events(marked) == events(live)
