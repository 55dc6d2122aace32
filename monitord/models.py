"""Core data models shared by drivers, the hub, the alert engine and the sinks.

Readings are frozen dataclasses rather than pydantic models: they are created on the hot
path (one per sample, up to ~100 k/s in benchmarks) and never come from untrusted text.
Untrusted input (config, MQTT commands, scenario files) is validated with pydantic at the
edge and turned into these types.

Units are in the value names (`sys_mmHg`), as in design.md section 4.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any


class Kind(enum.StrEnum):
    """What a reading measures. One device may produce several kinds."""

    BP = "bp"
    HR = "hr"
    SPO2 = "spo2"


#: The value names each kind may carry. Anything else is a programming error.
KIND_FIELDS: Mapping[Kind, tuple[str, ...]] = MappingProxyType(
    {
        Kind.BP: ("sys_mmHg", "dia_mmHg", "map_mmHg", "pulse_bpm"),
        Kind.HR: ("hr_bpm",),
        Kind.SPO2: ("spo2_pct", "pulse_bpm"),
    }
)


def utc(ts: float) -> datetime:
    """Epoch seconds -> aware UTC datetime."""
    return datetime.fromtimestamp(ts, tz=UTC)


@dataclass(frozen=True, slots=True)
class Reading:
    """One measurement from one device, as decoded, before any clinical judgement.

    `valid` is the *device's* verdict (cuff error, probe off, invalid measurement state,
    NaN fields). Clinical plausibility (clinical-rules.md "Valid readings") is judged on
    top of it (monitord/engine/validity.py `judged`) before the chair stores and shows
    it: an implausible reading is kept with `valid` false and the flag `implausible`, so
    the stored reading keeps both what the device said and what the check decided.
    """

    chair: str
    device: str
    kind: Kind
    values: Mapping[str, float | None]
    # aware UTC; when it was measured (`authoritative_time`): stored, reported, the
    # InfluxDB timestamp; never the alert engine's clock.
    measured_at: datetime
    # aware UTC; the daemon's receive time (the chair clock, monotonic-anchored): the
    # alert engine's event time.
    received_at: datetime
    valid: bool = True
    flags: tuple[str, ...] = ()  # named status flags, e.g. "cuff_error", "probe_off"
    contact: bool | None = None  # HR sensor contact / SpO2 probe on; None = not reported
    # Device-clock timestamp if the device sent one (recorded, not trusted: see
    # clinical-rules.md "Timestamps are UTC ...").
    device_time: datetime | None = None
    # A record the device pushed from its memory (history, clinical-rules.md "Precise
    # semantics"): stored and reported, fed to no rule. Set by the hub, never by decoders.
    stored: bool = False
    # A discrete record the device may push again (a PLX spot-check; drivers/measurement.py):
    # the hub drops a re-sent one (monitord/history.py). Not stored: only the hub asks.
    record: bool = field(default=False, compare=False)
    seq: int = field(default=0, compare=False)  # outbox row id once stored; 0 before

    @property
    def t(self) -> float:
        """Measurement time in epoch seconds (reports); the engine uses `received_at`."""
        return self.measured_at.timestamp()

    def to_json(self) -> dict[str, Any]:
        """The reading with units, as published on `vitals/{kind}` and printed by the demo."""
        out: dict[str, Any] = {
            "chair": self.chair,
            "device": self.device,
            "kind": str(self.kind),
            **{k: v for k, v in self.values.items()},
            # When it was measured (the InfluxDB point, `monitord status`): the device's
            # clock when trusted (`authoritative_time`). The session report places a live
            # reading on `received_at`, as the station does (docs/report.md).
            "measured_at": _iso_ms(self.measured_at),
            # The daemon's receive time on the chair's clock, the engine's event time: a
            # reading's age and the next BP due are counted from it (the station), as the
            # engine's tech.bp_overdue is. `measured_at` may be a device clock up to
            # MAX_DEVICE_SKEW_S off: a fresh reading read 4 min old, or an old one fresh.
            "received_at": _iso_ms(self.received_at),
            "valid": self.valid,
            "quality": list(self.flags),
        }
        if self.contact is not None:
            out["contact"] = self.contact
        return out


def _iso_ms(t: datetime) -> str:
    # The contract's one time format (ms, UTC, Z; docs/mqtt.md): isoformat() gave
    # microseconds, or no fraction at all for a whole second, to a consumer parsing one
    # format.
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The flag of a reading its device says it sends from its memory (the PLX measurement
# status bit "Measurement From Storage", drivers/ble_plx.py): history, marked `stored` by
# the hub (monitord/history.py `as_told`), fed to no rule.
FROM_STORAGE = "from_storage"

# The most a device's clock may be off for its time to be a reading's measured time: so a
# live reading's `measured_at` is never further than this from its `received_at` (the
# session record looks this far around a session for readings it received inside it).
MAX_DEVICE_SKEW_S = 300.0


def authoritative_time(
    device_time: datetime | None, received_at: datetime, max_skew_s: float = MAX_DEVICE_SKEW_S
) -> datetime:
    """The measurement time to record (`measured_at`: reports, InfluxDB timestamps).

    The device clock is used when it is set and within `max_skew_s` of the receive time;
    otherwise the receive time. Never the alert engine's clock, which is the receive
    time alone (clinical-rules.md "Delivery of alarms"): a device clock minutes off must
    not move the timers of the other devices.
    """
    if device_time is None:
        return received_at
    if abs((device_time - received_at).total_seconds()) > max_skew_s:
        return received_at
    return device_time


AlertEventType = str  # "pending" | "raised" | "escalated" | "acknowledged" | "cleared"


class Refusal(str):
    """Why a command did nothing: its words (a `str`, so it is logged and answered on
    `cmd/errors` as any refusal) plus a `code` and fields that `cmd/errors` carries too
    (docs/mqtt.md). A station reads the code, not the words: an ACK that came second
    (`acknowledged`: a colleague's came first) or late (`cleared`) is no failure to the
    nurse who tapped, an `unknown` alert is (a wrong id, a wrong chair)."""

    code: str
    fields: Mapping[str, Any]

    def __new__(cls, text: str, code: str, **fields: Any) -> Refusal:
        self = super().__new__(cls, text)
        self.code = code
        self.fields = MappingProxyType({k: v for k, v in fields.items() if v is not None})
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # copy and pickle rebuild it with its code and fields: str's default passes its
        # text alone to __new__ (TypeError), and a MappingProxyType does not pickle.
        return (_refusal, (str(self), self.code, dict(self.fields)))

    @property
    def done_already(self) -> bool:
        """An ACK that found its alert acknowledged or cleared (two nurses tapped it)."""
        return self.code in ("acknowledged", "cleared")


def _refusal(text: str, code: str, fields: Mapping[str, Any]) -> Refusal:
    """A Refusal rebuilt by copy or pickle (`Refusal.__reduce__`)."""
    return Refusal(text, code, **fields)


def refusal_level(why: str) -> int:
    """The log level of a command's refusal: INFO for an ACK that found its alert done
    already (the normal answer when two pages ack one alarm), WARNING for the rest."""
    return logging.INFO if isinstance(why, Refusal) and why.done_already else logging.WARNING


def iso(t: float) -> str:
    """Epoch seconds -> ISO 8601 UTC with millisecond precision and a Z."""
    return utc(t).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert event as the engine emits it (design.md section 5).

    `t` is event time in epoch seconds live, or scenario seconds in replay. Timer-driven
    events carry their deadline as `t`.
    """

    t: float
    chair: str
    rule: str
    event: AlertEventType
    priority: str  # "high" | "medium" | "low" | "info"
    kind: str  # "physiological" | "technical" | "advisory"
    alert_id: str | None  # None only for "pending"
    phase: str  # "idle" | "baseline" | "dosing" | "observation"
    value: Mapping[str, Any]
    message: str
    level: int | None = None  # escalation level on "escalated"
    by: str | None = None  # who acknowledged, on "acknowledged"

    def _body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "chair": self.chair,
            "rule": self.rule,
            "event": self.event,
            "priority": self.priority,
            "kind": self.kind,
            "alert_id": self.alert_id,
            "phase": self.phase,
            "value": dict(self.value),
            "message": self.message,
        }
        if self.level is not None:
            out["level"] = self.level
        if self.by is not None:
            out["by"] = self.by
        return out

    def to_replay(self) -> dict[str, Any]:
        """The replay JSON Lines object: `t` first, as in design.md section 5."""
        return {"t": self.t, **self._body()}

    def to_mqtt(self) -> dict[str, Any]:
        """The `alerts/events` payload: `time` (ISO 8601 UTC) instead of `t`."""
        return {"time": iso(self.t), **self._body()}


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """A session action (start, dose_start, dose_end, end) as applied to a chair."""

    t: float
    chair: str
    action: str  # "start" | "dose_start" | "dose_end" | "end"
    protocol: str
    session_id: str
    # From the nurse's command when given (station): who, and for dose_start the dose.
    by: str | None = None
    dose_mg: float | None = None
    lot: str | None = None
