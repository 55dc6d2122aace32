"""The alert engine (clinical-rules.md): deterministic, event time, same object live and in
replay.

- engine.py: `AlertEngine`, the dispatcher (inputs and due timers to the rule families)
- book.py: `AlertBook`, the only writer of alert events (raise, pending, clear, escalate,
  acknowledge) and the active set
- bp.py, vitals.py, technical.py, session.py: one module per rule family, each rule's
  condition, confirmation, clearing and timers together
- state.py: the typed state of a chair; snapshot.py: its JSON for restarts
- validity.py: which readings count, shared with the session record (monitord/report)
- rules.py: the rule table and its overrides; inputs.py, text.py, replay.py, ruledoc.py
"""

from monitord.engine.engine import AlertEngine
from monitord.engine.inputs import Ack, EngineInput, Link, Sample, SessionCmd, sample_from_reading
from monitord.engine.rules import RuleError, RuleSet, validate_overrides

__all__ = [
    "Ack",
    "AlertEngine",
    "EngineInput",
    "Link",
    "RuleError",
    "RuleSet",
    "Sample",
    "SessionCmd",
    "sample_from_reading",
    "validate_overrides",
]
