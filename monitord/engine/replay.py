"""Replay: play scenario events through an engine on one clock (design.md section 5)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from monitord.engine.engine import AlertEngine
from monitord.models import AlertEvent
from monitord.scenario import ScenarioEvent, to_engine_input


def replay(engine: AlertEngine, events: Iterable[ScenarioEvent]) -> Iterator[AlertEvent]:
    """Alert events of a scenario, in time order across chairs.

    In replay all chairs share one clock, so before each input every chair's timers due
    strictly before its `t` fire (a timer due at the same `t` as an input fires after it);
    `end` fires every timer due at or before its `t`.
    """
    for ev in events:
        inp = to_engine_input(ev)
        t = float(ev.t)
        yield from engine.advance(t, strict=True)
        if inp is None:
            yield from engine.advance(t)
            return
        yield from engine.feed(inp)
    # No `end` line: timers still pending stay unfired (the scenario stopped there).
