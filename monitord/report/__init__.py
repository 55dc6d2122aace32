"""Session monitoring reports (REMS Patient Monitoring Form data): `build_record` turns a
session's readings, alert and session events into a `SessionRecord`; `render` writes it as
PDF, HTML and CSV; `load` reads sessions from the local store."""

from monitord.report.gaps import Gap
from monitord.report.load import NoSuchSession, SessionSpan, find_spans, record_for, session_spans
from monitord.report.record import (
    AlertLine,
    BpReading,
    RemsField,
    SessionRecord,
    Vital,
    build_record,
)
from monitord.report.sessionbounds import RecordError

__all__ = [
    "AlertLine",
    "BpReading",
    "Gap",
    "NoSuchSession",
    "RecordError",
    "RemsField",
    "SessionRecord",
    "SessionSpan",
    "Vital",
    "build_record",
    "find_spans",
    "record_for",
    "session_spans",
]
