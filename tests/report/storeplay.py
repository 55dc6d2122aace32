"""Play a scenario file into a real outbox the way the daemon's hub does: every reading,
session event and alert event the engine produces is appended and committed, with event
times at `t0 + t` (epoch seconds). Timers fire as in `monitord replay` (before each input
every timer due strictly earlier; `end` fires those due at or before it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitord.config import StorageConfig
from monitord.engine import AlertEngine, Link, RuleSet, Sample, SessionCmd
from monitord.engine.validity import judged
from monitord.models import AlertEvent, Reading, SessionEvent, utc
from monitord.outbox import Outbox
from monitord.scenario import load_scenario, to_engine_input

# 2024-05-06T09:00:00Z: a fixed base so the expected values are reproducible.
T0 = 1714986000.0


def play_into_store(
    scenario: Path,
    db: Path,
    t0: float = T0,
    session_fields: Mapping[str, Mapping[str, Any]] | None = None,
    rules: RuleSet | None = None,
) -> list[AlertEvent]:
    """Returns the alert events stored (also committed to `db`). `session_fields` adds
    what a nurse's cmd/session carries (`by`, `dose_mg`, `lot`) by action; `rules`: the
    engine's rule table (the clinic's `[alerts]` overrides). A scenario's `stored: true`
    reading is stored as the hub stores a device's memory record: marked `stored`, fed
    to the engine as such (which ignores it). Each reading is stored as the chair stores it
    (`judged`: `valid` false and flagged `implausible` when the artifact check rejects it),
    so a report test sees what a clinic's store holds."""
    engine = AlertEngine(rules)
    alerts: list[AlertEvent] = []
    with Outbox(db, StorageConfig(path=db)) as ob:
        for ev in load_scenario(scenario):
            t = t0 + float(ev.t)
            inp = to_engine_input(ev, t0)
            evs = engine.advance(t, strict=True)
            if inp is None:  # `end`
                evs += engine.advance(t)
                ob.add_alert_events(evs)
                alerts += evs
                break
            if isinstance(inp, Sample):
                sess = engine.session(inp.chair)
                r = judged(
                    Reading(
                        chair=inp.chair,
                        device=inp.device,
                        kind=inp.kind,
                        values=inp.values,
                        measured_at=utc(t),
                        received_at=utc(t),
                        valid=inp.valid,
                        flags=() if inp.valid else ("cuff_error",),
                        contact=inp.contact,
                        stored=inp.stored,
                    )
                )
                ob.add_readings([r], {inp.chair: sess["session_id"] if sess else None})
                evs += engine.feed(inp)
            elif isinstance(inp, SessionCmd):
                before = engine.session(inp.chair)
                evs += engine.feed(inp)
                after = engine.session(inp.chair) or before
                assert after is not None, f"scenario line {ev.line}: {engine.last_error}"
                extra = (session_fields or {}).get(inp.action, {})
                ob.add_session_events(
                    [
                        SessionEvent(
                            t,
                            inp.chair,
                            inp.action,
                            after["protocol"],
                            after["session_id"],
                            **extra,
                        )
                    ]
                )
            elif isinstance(inp, Link):
                evs += engine.feed(inp)
            else:
                evs += engine.feed(inp)
            ob.add_alert_events(evs)
            alerts += evs
            ob.commit()
        ob.commit()
    return alerts
