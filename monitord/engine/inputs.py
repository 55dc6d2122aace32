"""Engine inputs: readings, session commands, acknowledgements and link changes.

All carry `t` (epoch seconds live, scenario seconds in replay) and `chair`. They are plain
frozen dataclasses: built on the hot path (one per sample), never parsed from text here
(scenario files and MQTT commands are validated with pydantic at the edge).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from monitord.engine.validity import device_valid
from monitord.models import Kind, Reading

SessionAction = Literal["start", "dose_start", "dose_end", "end"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading for the engine. `valid=False` is the device's verdict (cuff error,
    NaN fields); `contact=False` means HR contact lost / SpO2 probe off."""

    t: float
    chair: str
    device: str
    kind: Kind
    values: Mapping[str, float | None]
    valid: bool = True
    contact: bool | None = None
    stored: bool = False  # a device's memory record: history, fed to no rule


@dataclass(frozen=True, slots=True)
class SessionCmd:
    t: float
    chair: str
    action: SessionAction
    protocol: str | None = None
    session_id: str | None = None
    # Who gave the command and, for dose_start, what was given: recorded for the
    # monitoring record (REMS form), never used by a rule.
    by: str | None = None
    dose_mg: float | None = None
    lot: str | None = None


@dataclass(frozen=True, slots=True)
class Ack:
    """Acknowledge by rule (its active, unacknowledged alerts) or by alert_id."""

    t: float
    chair: str
    rule: str | None = None
    alert_id: str | None = None
    by: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A device link went down (`up=False`, device_lost) or came back (device_back).
    `retired`: the device is no longer in the chair's config (removed or renamed while
    the daemon was down): its link wait ends and its `tech.device_lost` clears, as at a
    link back, said as such (no link can come back to clear it)."""

    t: float
    chair: str
    device: str
    up: bool
    retired: bool = False


EngineInput = Sample | SessionCmd | Ack | Link


def sample_from_reading(r: Reading) -> Sample:
    """The engine runs on the daemon's receive time, never on a device's clock
    (clinical-rules.md "Delivery of alarms"): two devices with different clocks must not
    fire each other's timers. A simulated chair stamps receive time on its virtual clock."""
    return Sample(
        t=r.received_at.timestamp(),
        chair=r.chair,
        device=r.device,
        kind=r.kind,
        values=r.values,
        valid=device_valid(r),
        contact=r.contact,
        stored=r.stored,
    )
