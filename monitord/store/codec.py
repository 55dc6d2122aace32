"""How records are stored: the JSON bodies of readings (v2/v3 arrays), alert and session
events (objects), the typed `Row` a sink receives, and event-time conversions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from monitord.models import AlertEvent, Kind, Reading, SessionEvent

Sink = Literal["influx", "mqtt"]
SINKS: tuple[Sink, ...] = ("influx", "mqtt")
RecordType = Literal["reading", "alert", "session"]

# Delivery state of a record for one sink (NULL = not for this sink).
PENDING, DELIVERED, QUARANTINED = 0, 1, 2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Which sinks each record type goes to (design.md sections 6 and 7).
ROUTES: Mapping[RecordType, tuple[Sink, ...]] = {
    "reading": ("influx",),
    "alert": ("influx", "mqtt"),
    "session": ("influx",),
}

# Positions in a v2 reading body (a JSON array).
READING_FIELDS = (
    "chair",
    "device",
    "kind",
    "values",
    "measured_at",
    "received_at",
    "valid",
    "flags",
    "contact",
    "device_time",
    "session",
    "stored",
)
R_KIND = READING_FIELDS.index("kind")
R_STORED = READING_FIELDS.index("stored")


@dataclass(frozen=True, slots=True)
class Row:
    """One record as a sink sees it."""

    id: int
    type: RecordType
    chair: str
    t_ns: int
    body: dict[str, Any]


def to_ns(d: datetime) -> int:
    """Aware datetime -> integer ns since the epoch, exactly (no float rounding)."""
    delta = d - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1000 / 1_000_000, tz=UTC)


def seconds_to_ns(t: float) -> int:
    return round(t * 1_000_000_000)


def reading_body(r: Reading, session: str | None) -> list[Any]:
    """The stored (v2) form: a JSON array in READING_FIELDS order."""
    return [
        r.chair,
        r.device,
        str(r.kind),
        dict(r.values),
        to_ns(r.measured_at),
        to_ns(r.received_at),
        r.valid,
        list(r.flags),
        r.contact,
        to_ns(r.device_time) if r.device_time is not None else None,
        session,
        r.stored,
    ]


def reading_dict(body: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any]:
    """A stored reading body (v2 array, or a v1 object) as the v1 dict: what `Row.body`
    carries for readings, so sinks and tools see one shape whatever the schema."""
    if isinstance(body, Mapping):
        return dict(body)
    if len(body) == len(READING_FIELDS) - 1:  # v2 (read-only open of a store not migrated)
        body = [*body, False]
    return dict(zip(READING_FIELDS, body, strict=True))


def reading_from_body(body: Mapping[str, Any] | Sequence[Any], seq: int = 0) -> Reading:
    if not isinstance(body, Mapping):
        body = reading_dict(body)
    dt_ = body.get("device_time")
    return Reading(
        chair=body["chair"],
        device=body["device"],
        kind=Kind(body["kind"]),
        values=dict(body["values"]),
        measured_at=from_ns(body["measured_at"]),
        received_at=from_ns(body["received_at"]),
        valid=bool(body["valid"]),
        flags=tuple(body["flags"]),
        contact=body["contact"],
        device_time=from_ns(dt_) if dt_ is not None else None,
        stored=bool(body.get("stored", False)),
        seq=seq,
    )


def alert_body(e: AlertEvent) -> dict[str, Any]:
    return {
        "t": e.t,
        "chair": e.chair,
        "rule": e.rule,
        "event": e.event,
        "priority": e.priority,
        "kind": e.kind,
        "alert_id": e.alert_id,
        "phase": e.phase,
        "value": dict(e.value),
        "message": e.message,
        "level": e.level,
        "by": e.by,
    }


def alert_from_body(b: Mapping[str, Any]) -> AlertEvent:
    return AlertEvent(
        t=b["t"],
        chair=b["chair"],
        rule=b["rule"],
        event=b["event"],
        priority=b["priority"],
        kind=b["kind"],
        alert_id=b["alert_id"],
        phase=b["phase"],
        value=b["value"],
        message=b["message"],
        level=b.get("level"),
        by=b.get("by"),
    )


def session_body(e: SessionEvent) -> dict[str, Any]:
    return {
        "t": e.t,
        "chair": e.chair,
        "action": e.action,
        "protocol": e.protocol,
        "session_id": e.session_id,
        # Optional keys only when given, so bodies stored before them read back unchanged.
        **{
            k: v for k, v in (("by", e.by), ("dose_mg", e.dose_mg), ("lot", e.lot)) if v is not None
        },
    }


def session_from_body(b: Mapping[str, Any]) -> SessionEvent:
    return SessionEvent(
        t=b["t"],
        chair=b["chair"],
        action=b["action"],
        protocol=b["protocol"],
        session_id=b["session_id"],
        by=b.get("by"),
        dose_mg=b.get("dose_mg"),
        lot=b.get("lot"),
    )


# allow_nan=False: NaN is not JSON; a device NaN must have become None in the decoder.
# One encoder for all: json.dumps with options builds a new one per call.
dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
