"""Replay: play inputs through an engine on one clock (design.md section 5)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from monitord.engine.engine import AlertEngine
from monitord.engine.inputs import EngineInput, SessionCmd
from monitord.models import AlertEvent
from monitord.scenario import ScenarioEvent, to_engine_input

#: Told about a session command the engine refused (out of order): the input and why.
Refused = Callable[[SessionCmd, str], None]


def play(
    engine: AlertEngine,
    inputs: Iterable[EngineInput | float],
    refused: Refused | None = None,
) -> Iterator[AlertEvent]:
    """Alert events of a time-ordered input stream, in time order across chairs.

    All chairs share one clock, and all inputs at one `t` go first, in order, then the
    timers due at `t` (clinical-rules.md "Precise semantics"): before the first input at
    a new `t`, every timer due strictly before it fires, which includes those due at the
    previous input's `t`. A bare float is an `end` marker: every timer due at or before
    it fires, then replay stops.
    """
    last = float("-inf")
    for inp in inputs:
        if isinstance(inp, float):
            yield from engine.advance(inp)
            return
        t = inp.t
        if t > last:
            # Inputs at the same t cannot create a timer due before t, so once per t is
            # enough (and keeps the 16-chair replay fast).
            last = t
            yield from engine.advance(t, strict=True)
        yield from engine.feed(inp)
        if refused is not None and type(inp) is SessionCmd and engine.last_error is not None:
            refused(inp, engine.last_error)
    # No `end`: timers still pending stay unfired (the scenario stopped there).


def replay(
    engine: AlertEngine,
    events: Iterable[ScenarioEvent],
    refused: Callable[[ScenarioEvent, str], None] | None = None,
) -> Iterator[AlertEvent]:
    """Alert events of a parsed scenario (`end` fires timers up to its t, then stops).
    `refused` hears of every session command refused as out of order, with its event
    (which knows its line)."""
    current: list[ScenarioEvent | None] = [None]

    def inputs() -> Iterator[EngineInput | float]:
        for ev in events:
            inp = to_engine_input(ev)
            current[0] = ev
            yield float(ev.t) if inp is None else inp

    def on_refused(_: SessionCmd, reason: str) -> None:
        ev = current[0]
        assert refused is not None and ev is not None
        refused(ev, reason)

    return play(engine, inputs(), on_refused if refused is not None else None)
