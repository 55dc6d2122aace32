"""How records are stored: the JSON bodies of readings (arrays: v2/v3 full, v7 compact),
alert and session events (objects), the typed records a sink receives (`StoredReading`,
`StoredAlert`, `StoredSession`), and event-time conversions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, cast

from monitord.models import AlertEvent, Kind, Reading, SessionEvent

# A sink is a name: a record waits for it while a (sink, record) row is in the `pending`
# table (schema v4). A new sink is a new name here and in ROUTES, never a new column.
Sink = Literal["influx", "mqtt"]
SINKS: tuple[Sink, ...] = ("influx", "mqtt")
RecordType = Literal["reading", "alert", "session"]

# What a delivery mark does to a pending record (both end its wait for that sink; a
# quarantined one is also kept in the `quarantine` table with the reason).
DELIVERED, QUARANTINED = 1, 2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Which sinks each record type goes to (design.md sections 6 and 7).
ROUTES: Mapping[RecordType, tuple[Sink, ...]] = {
    "reading": ("influx",),
    "alert": ("influx", "mqtt"),
    "session": ("influx",),
}

# Positions in a reading body (a JSON array; v2 lacks the last, `stored`). Keep them: the
# history queries filter on `$[2]` (kind) and `$[11]` (stored) in SQL, whatever the form.
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
R_DEVICE, R_KIND, R_VALUES = (READING_FIELDS.index(f) for f in ("device", "kind", "values"))
R_VALID, R_SESSION, R_STORED = (READING_FIELDS.index(f) for f in ("valid", "session", "stored"))
R_CONTACT, R_DEVICE_TIME = (READING_FIELDS.index(f) for f in ("contact", "device_time"))
R_FLAGS = READING_FIELDS.index("flags")
R_CHAIR, R_MEASURED, R_RECEIVED = (
    READING_FIELDS.index(f) for f in ("chair", "measured_at", "received_at")
)


@dataclass(frozen=True, slots=True)
class StoredReading:
    """A stored reading as a sink sees it. The fields a sink writes are decoded at fetch
    (cheap: a list index each); the whole `Reading` (three datetimes) only on demand,
    since the InfluxDB writer drains tens of thousands of these a second."""

    type: ClassVar[Literal["reading"]] = "reading"
    id: int
    chair: str
    t_ns: int
    device: str
    kind: Kind
    values: Mapping[str, float | None]
    valid: bool
    session: str | None
    stored: bool
    body: Sequence[Any]  # the stored array (READING_FIELDS order), for `reading()`

    def reading(self) -> Reading:
        return reading_from_body(self.body, seq=self.id)


@dataclass(frozen=True, slots=True)
class StoredAlert:
    type: ClassVar[Literal["alert"]] = "alert"
    id: int
    chair: str
    t_ns: int
    event: AlertEvent


@dataclass(frozen=True, slots=True)
class StoredSession:
    type: ClassVar[Literal["session"]] = "session"
    id: int
    chair: str
    t_ns: int
    event: SessionEvent


StoredRecord = StoredReading | StoredAlert | StoredSession


def stored_record(i: int, rtype: str, chair: str, t_ns: int, text: str) -> StoredRecord:
    """A record row (`id, type, chair, t_ns, body`) as its typed stored record."""
    b = json.loads(text)
    if rtype == "reading":
        b = expand_reading(b, chair, t_ns)
        return StoredReading(
            i,
            chair,
            t_ns,
            b[R_DEVICE],
            Kind(b[R_KIND]),
            b[R_VALUES],
            bool(b[R_VALID]),
            b[R_SESSION],
            bool(b[R_STORED]),
            b,
        )
    if rtype == "alert":
        return StoredAlert(i, chair, t_ns, alert_from_body(b))
    if rtype == "session":
        return StoredSession(i, chair, t_ns, session_from_body(b))
    raise ValueError(f"record {i}: unknown type {rtype!r}")


def reading_series(chair: str, device: str) -> tuple[str, ...]:
    """The series a reading's stamp is unique in (monitord/store/stamps.py): its chair and
    device, as records.py stamps it; its kinds share it, as they share InfluxDB's (`kind`
    is a field there: an HR and an SpO2 of one oximeter at one instant are one point)."""
    return ("reading", chair, device)


# The device of a stored reading body (a JSON array, or a v1 object) picked out by SQLite
# (store/base.py `_stored_stamps`: no json.loads of each body in Python); NULL for a body
# that is no JSON.
SQL_READING_DEVICE = (
    "CASE WHEN json_valid(body) THEN "
    f"coalesce(json_extract(body, '$[{R_DEVICE}]'), "
    "json_extract(body, '$.device')) END"
)


def record_series(rtype: str, chair: str, b: Any) -> tuple[str, ...]:
    """The series a stored record's stamp is unique in (monitord/store/stamps.py), from its
    row's `type` and `chair` and its body (`json.loads` of it, any stored form): the key
    records.py stamps it with."""
    if rtype == "reading":
        return reading_series(chair, b["device"] if isinstance(b, Mapping) else b[R_DEVICE])
    if rtype == "alert":
        return ("alert", chair, b["rule"], b["priority"], b["kind"])
    if rtype == "session":
        return ("session", chair, b["protocol"])
    raise ValueError(f"unknown record type {rtype!r}")


def to_ns(d: datetime) -> int:
    """Aware datetime -> integer ns since the epoch, exactly (no float rounding)."""
    delta = d - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1000 / 1_000_000, tz=UTC)


def seconds_to_ns(t: float) -> int:
    return round(t * 1_000_000_000)


def reading_body(r: Reading, session: str | None, t_ns: int) -> list[Any]:
    """The stored form (schema v7): a JSON array in READING_FIELDS order, compact. The
    chair is null (the row's `chair` holds it) and the three times are ns offsets from
    the row's `t_ns` (measured_at's is 0 unless `_unique_ns` moved the row a few ns).
    ~50 of ~130 bytes, every one written twice to an SD card (WAL, then checkpoint;
    issue 20). `expand_reading` gives back the full array."""
    return [
        None,
        r.device,
        str(r.kind),
        dict(r.values),
        to_ns(r.measured_at) - t_ns,
        to_ns(r.received_at) - t_ns,
        r.valid,
        list(r.flags),
        r.contact,
        to_ns(r.device_time) - t_ns if r.device_time is not None else None,
        session,
        r.stored,
    ]


def expand_reading(b: Any, chair: str, t_ns: int) -> list[Any]:
    """Any stored reading body (`json.loads` of it) as the full array in READING_FIELDS
    order, absolute times: a v7 compact body (null chair) is completed from its row's
    `chair` and `t_ns`; a v3 array is already full; a v2 array gains `stored` = false; a
    v1 object (read-only open of a store not migrated) becomes an array."""
    if isinstance(b, Mapping):
        return [b.get(f) for f in READING_FIELDS]
    if len(b) == len(READING_FIELDS) - 1:
        return [*b, False]
    if b[R_CHAIR] is None:
        b[R_CHAIR] = chair
        b[R_MEASURED] += t_ns
        b[R_RECEIVED] += t_ns
        if b[R_DEVICE_TIME] is not None:
            b[R_DEVICE_TIME] += t_ns
    return cast(list[Any], b)


def reading_dict(body: Sequence[Any]) -> dict[str, Any]:
    """A full reading body (`expand_reading`'s, whatever the stored form) as the v1 dict:
    one shape for the history queries whatever the schema."""
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
