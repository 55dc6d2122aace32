"""Stored records as InfluxDB points and line protocol (design.md section 7): the
`vitals`, `alerts` and `sessions` measurements the InfluxDB writer
(monitord/sinks/influx.py) sends."""

from __future__ import annotations

import json

from monitord.engine.validity import IMPLAUSIBLE
from monitord.outbox import StoredAlert, StoredReading, StoredRecord, StoredSession
from monitord.sinks.lineproto import LineProtocolError, Point, encode, encode_fields, series_key
from monitord.store.codec import (
    R_CONTACT,
    R_DEVICE_TIME,
    R_FLAGS,
    R_MEASURED,
    R_RECEIVED,
    from_ns,
)


def row_point(row: StoredRecord, site: str) -> Point:
    """The design.md section 7 point for a stored record."""
    if isinstance(row, StoredReading):
        fields = reading_fields(row)
        return Point(
            "vitals",
            {
                "site": site,
                "chair": row.chair,
                "device": row.device,
                "session": row.session,
                "stored": _stored_tag(row),
            },
            fields,
            row.t_ns,
        )
    if isinstance(row, StoredAlert):
        e = row.event
        return Point(
            "alerts",
            {
                "site": site,
                "chair": row.chair,
                "rule": e.rule,
                "priority": e.priority,
                "kind": e.kind,
            },
            {
                "event": e.event,
                "alert_id": e.alert_id,
                "message": e.message,
                "phase": e.phase,
                # Added for reports from InfluxDB (issue 18, docs/report.md): who
                # acknowledged, the escalation level, and the values that raised it.
                "by": e.by,
                "level": e.level,
                "value": json.dumps(e.value, sort_keys=True) if e.value else None,
            },
            row.t_ns,
        )
    if isinstance(row, StoredSession):
        s = row.event
        extra = {k: v for k, v in (("by", s.by), ("dose_mg", s.dose_mg), ("lot", s.lot))}
        return Point(
            "sessions",
            {"site": site, "chair": row.chair, "protocol": s.protocol},
            {
                "action": s.action,
                "session_id": s.session_id,
                **{k: v for k, v in extra.items() if v is not None},
            },
            row.t_ns,
        )
    raise LineProtocolError(f"unknown record type {type(row).__name__}")


def _stored_tag(row: StoredReading) -> str | None:
    """Tag `stored=true` on a record a device pushed from its memory (history, fed to no
    rule); absent on live readings, so their series stay as they were and InfluxQL's
    `WHERE "stored" != 'true'` keeps only live readings."""
    return "true" if row.stored else None


def row_line(row: StoredRecord, site: str) -> str:
    """`encode(row_point(row, site))`, with a shortcut for readings (the bulk): the
    series part comes from the per-series cache and no Point is built."""
    if not isinstance(row, StoredReading):
        return encode(row_point(row, site))
    series = series_key(
        "vitals",
        (
            ("chair", row.chair),
            ("device", row.device),
            ("session", row.session),
            ("site", site),
            ("stored", _stored_tag(row)),
        ),
    )
    return encode_fields(series, "vitals", reading_fields(row), row.t_ns)


def reading_fields(row: StoredReading) -> dict[str, float | bool | str | None]:
    """A reading's `vitals` fields: its values and `valid` (design.md section 7), plus for
    reports from InfluxDB (issue 18) `kind` (a cuff error has no value that would tell
    it is a BP), `implausible` (true) when the artifact check, not the device, rejected
    it, `contact` when the device reported it (HR/SpO2 validity), the
    device's own clock `device_time` (ISO 8601 UTC) when it sent one, and then the
    daemon's receive time `received_at` when it is not the point's time."""
    fields: dict[str, float | bool | str | None] = {
        k: v for k, v in row.values.items() if v is not None
    }
    fields["valid"] = row.valid
    fields["kind"] = str(row.kind)
    if IMPLAUSIBLE in (row.body[R_FLAGS] or ()):
        # `valid` false for the artifact check, not the device: the record names the check
        # that failed (a 272 systolic was read "cuff error" from InfluxDB without it).
        fields["implausible"] = True
    contact = row.body[R_CONTACT]
    if contact is not None:
        fields["contact"] = bool(contact)
    dt_ns = row.body[R_DEVICE_TIME]
    if dt_ns is not None:
        fields["device_time"] = from_ns(int(dt_ns)).isoformat().replace("+00:00", "Z")
        # The point's time is the measured (device) time; the report places a live
        # reading on the daemon's receive time, the alert engine's clock (docs/report.md
        # "Times"). Only when they differ: a reading without a device time has one time.
        rx_ns = int(row.body[R_RECEIVED])
        if rx_ns != int(row.body[R_MEASURED]):
            fields["received_at"] = from_ns(rx_ns).isoformat().replace("+00:00", "Z")
    return fields
