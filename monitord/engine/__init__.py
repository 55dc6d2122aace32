"""The alert engine (clinical-rules.md): deterministic, event time, same object live and in
replay. See engine.py for the state machine and rules.py for the rule table."""

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
