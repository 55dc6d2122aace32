"""The console (`monitord run --console`, `monitord demo`): a hub listener printing what
each chair committed, one line per reading, session event and alert event."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import IO

from monitord.hub import CommittedBatch
from monitord.models import AlertEvent, Reading, SessionEvent, iso

log = logging.getLogger("monitord")
# Said once when `--console`'s stdout goes (docs/operations.md, "Signals").
CLOSED = (
    "console: stdout is closed ({why}): no more console lines; monitoring goes on "
    "(alarms are still logged)"
)


class StdoutConsole:
    """`monitord run --console`'s lines on stdout. A stdout that goes (the `| head` or
    `| tee` reading it ended, its terminal closed) ends the console, said once at WARNING;
    monitoring goes on. Before, the write's error went up into whatever printed: the
    start stopped (exit 141) on a technical alarm's line, a live one's raise was cut short
    (its side file, that `monitord status` reads, unwritten), and the readings' listener
    logged a bug."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out
        self.gone = False

    def __call__(self, line: str) -> None:
        if self.gone:
            return
        out = self.out or sys.stdout
        try:
            print(line, file=out, flush=True)
        except (OSError, ValueError) as e:
            self.gone = True
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            log.warning(CLOSED.format(why=why))
            # The line is still in the stream's buffer: the interpreter's flush at exit
            # would fail again and end a clean stop with exit 120. It goes to /dev/null.
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, out.fileno())
                os.close(devnull)


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
