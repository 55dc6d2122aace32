"""Acknowledgement by `alert_id` (how a station acks live: `{"alert_id", "by"}`) against
acknowledgement by `rule` (how a scenario acks in replay), on random streams, also with
fractional times (several episodes of one rule within a millisecond).

clinical-rules.md: `ack` stops escalation; "an `ack` then emits `acknowledged` and
`cleared` at the same `t`" for a latched alert whose clear condition holds; `alert_id` is
"unique per alert episode", so an id names one episode: an ack naming an earlier episode
of a rule (a page that had not yet heard of the clear and the new raise) acknowledges
nothing, least of all the new episode."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from monitord.engine import Ack, AlertEngine, EngineInput
from monitord.models import AlertEvent

from .strategies import acked_streams
from .test_restart_props import END_S, SETTINGS


def run(
    inputs: list[EngineInput], end: float | None = None
) -> tuple[list[AlertEvent], dict[int, list[AlertEvent]]]:
    """The events up to `end` (default: END_S after the last input), and those each Ack
    (by index) emitted itself."""
    eng = AlertEngine()
    out: list[AlertEvent] = []
    by_ack: dict[int, list[AlertEvent]] = {}
    for i, ev in enumerate(inputs):
        out += eng.advance(ev.t, strict=True)
        got = eng.feed(ev)
        if isinstance(ev, Ack):
            by_ack[i] = got
        out += got
    if end is None and inputs:
        end = inputs[-1].t + END_S
    if end is not None:
        out += eng.advance(end)
    return out, by_ack


def rows(events: list[AlertEvent]) -> list[dict[str, Any]]:
    return [e.to_replay() for e in events]


@SETTINGS
@given(acked_streams())
def test_ack_by_alert_id_is_ack_by_rule(inputs: list[EngineInput]) -> None:
    """Each ack by rule that acknowledged one alert, sent instead by that alert's id, gives
    the same events (an ack of a latched alert whose clear holds: acknowledged and cleared
    at the same t)."""
    by_rule, acks = run(inputs)
    by_id = list(inputs)
    for i, got in acks.items():
        ids = {e.alert_id for e in got if e.event == "acknowledged"}
        ack = inputs[i]
        if len(ids) == 1 and isinstance(ack, Ack):
            by_id[i] = dataclasses.replace(ack, rule=None, alert_id=ids.pop())
    for got in acks.values():
        if any(e.event == "cleared" for e in got):
            (acked,) = [e for e in got if e.event == "acknowledged"]
            assert [e.t for e in got] == [acked.t, acked.t]
    assert rows(run(by_id)[0]) == rows(by_rule)


@SETTINGS
@given(acked_streams(), st.data())
def test_ack_of_an_earlier_episode_acknowledges_nothing(
    inputs: list[EngineInput], data: Any
) -> None:
    """An ack by rule replaced by an ack naming an earlier, cleared episode of that rule
    on that chair: the events are those of the stream without that ack, and the engine
    says why it acknowledged nothing."""
    stale: dict[int, str] = {}
    emitted: list[AlertEvent] = []
    eng = AlertEngine()
    for i, ev in enumerate(inputs):
        emitted += eng.advance(ev.t, strict=True)
        if isinstance(ev, Ack):
            old = [
                e.alert_id
                for e in emitted
                if e.event == "cleared" and e.chair == ev.chair and e.rule == ev.rule
            ]
            if old:
                stale[i] = data.draw(st.sampled_from(old), label=f"stale id for ack {i}")
        emitted += eng.feed(ev)
    if not stale:
        return
    i = data.draw(st.sampled_from(sorted(stale)), label="ack replaced")
    old = inputs[i]
    assert isinstance(old, Ack)
    by_stale_id = dataclasses.replace(old, rule=None, alert_id=stale[i])
    swapped = [*inputs[:i], by_stale_id, *inputs[i + 1 :]]
    without = [*inputs[:i], *inputs[i + 1 :]]
    end = inputs[-1].t + END_S
    got, acks = run(swapped, end)
    assert acks[i] == [], f"ack of the earlier episode {stale[i]} acknowledged {acks[i]}"
    assert rows(got) == rows(run(without, end)[0])
    eng = AlertEngine()
    for ev in swapped[:i]:
        eng.advance(ev.t, strict=True)
        eng.feed(ev)
    eng.advance(swapped[i].t, strict=True)
    _, why = eng.feed_ack(by_stale_id)
    assert why is not None  # "no longer active: it has cleared" (or, long after, "unknown")
