"""Replay: play inputs through an engine on one clock (design.md section 5)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from monitord.engine.engine import AlertEngine
from monitord.engine.inputs import EngineInput
from monitord.models import AlertEvent
from monitord.scenario import ScenarioEvent, to_engine_input


def play(engine: AlertEngine, inputs: Iterable[EngineInput | float]) -> Iterator[AlertEvent]:
    """Alert events of a time-ordered input stream, in time order across chairs.

    All chairs share one clock: before the first input at a new `t`, every chair's timers
    due strictly before `t` fire (a timer due at the same `t` as an input fires after it).
    A bare float is an `end` marker: every timer due at or before it fires, then replay
    stops.
    """
    last = float("-inf")
    for inp in inputs:
        if isinstance(inp, float):
            yield from engine.advance(inp, strict=True)
            yield from engine.advance(inp)
            return
        t = inp.t
        if t > last:
            # Inputs at the same t cannot create a timer due before t, so once per t is
            # enough (and keeps the 16-chair replay fast).
            last = t
            yield from engine.advance(t, strict=True)
        yield from engine.feed(inp)
    # No `end`: timers still pending stay unfired (the scenario stopped there).


def replay(engine: AlertEngine, events: Iterable[ScenarioEvent]) -> Iterator[AlertEvent]:
    """Alert events of a parsed scenario (`end` fires timers up to its t, then stops)."""

    def inputs() -> Iterator[EngineInput | float]:
        for ev in events:
            inp = to_engine_input(ev)
            yield float(ev.t) if inp is None else inp

    return play(engine, inputs())
