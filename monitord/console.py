"""The console (`monitord run --console`, `monitord demo`): a hub listener printing what
each chair committed, one line per reading, session event and alert event."""

from __future__ import annotations

from collections.abc import Callable

from monitord.hub import CommittedBatch
from monitord.models import AlertEvent, Reading, SessionEvent, iso


class ConsoleListener:
    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def __call__(self, batch: CommittedBatch) -> None:
        if not batch.durable:
            # The disk is full: its alarms and session changes still show, marked as such
            # (storeguard.py); they are printed again once stored.
            for s in batch.sessions:
                self.write(fmt_session(s) + " (NOT STORED YET)")
            for e in batch.events:
                self.write(fmt_event(e) + " (NOT STORED YET)")
            return
        for r in batch.readings:
            self.write(fmt_reading(r))
        for s in batch.sessions:
            self.write(fmt_session(s))
        for e in batch.events:
            self.write(fmt_event(e))


def fmt_reading(r: Reading) -> str:
    v = r.values
    if r.kind == "bp":
        text = f"BP {n(v.get('sys_mmHg'))}/{n(v.get('dia_mmHg'))} (MAP {n(v.get('map_mmHg'))})"
    elif r.kind == "hr":
        text = f"HR {n(v.get('hr_bpm'))}"
    else:
        text = f"SpO2 {n(v.get('spo2_pct'))}% pulse {n(v.get('pulse_bpm'))}"
    flags = ("" if r.valid else " INVALID") + (f" [{', '.join(r.flags)}]" if r.flags else "")
    if r.stored:
        dt = r.device_time.isoformat() if r.device_time else "unknown"
        flags += f" STORED record (device time {dt}; not fed to alarms)"
    return f"{iso(r.t)} {r.chair}/{r.device} {text}{flags}"


def fmt_session(s: SessionEvent) -> str:
    return f"{iso(s.t)} {s.chair} session {s.action} ({s.protocol}, {s.session_id})"


def n(x: float | None) -> str:
    return "--" if x is None else f"{x:g}"


def fmt_event(e: AlertEvent) -> str:
    mark = {
        "raised": "!!",
        "escalated": "!!",
        "pending": " ?",
        "cleared": "ok",
        "acknowledged": "ack",
    }.get(e.event, "")
    lvl = f" level {e.level}" if e.level else ""
    return f"{mark} {iso(e.t)} {e.chair} {e.event.upper()}{lvl} {e.rule} [{e.priority}] {e.message}"
