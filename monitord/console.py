"""The console (`monitord run --console`, `monitord demo`): a hub listener printing what
each chair committed, one line per reading, session event and alert event."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time
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
# Said once when its reader is there but does not read (docs/operations.md, "Signals").
BEHIND = (
    "console: stdout is not read fast enough (a pager left open, output paused?): console "
    "lines are dropped while it is not; monitoring goes on (alarms are still logged)"
)
# Lines held for a slow reader: over a minute of a clinic's readings (six chairs), 50 KB or so.
BACKLOG = 500
# How long a clean stop waits for the lines still held to be written (a reader that reads).
DRAIN_S = 2.0


class StdoutConsole:
    """`monitord run --console`'s lines on stdout. The event loop only queues a line: a
    writer thread of its own writes them. A write to a pipe or terminal whose reader does
    not read (`| less` left on its first page, output paused) blocks until it does, and
    done by the loop it held up every chair's readings and alarms for as long; now a
    reader that falls behind loses console lines, said once at WARNING, never monitoring.
    A stdout that goes (the `| head` or `| tee` reading it ended, its terminal closed)
    ends the console, said once at WARNING; monitoring goes on. Before, the write's error
    went up into whatever printed: the start stopped (exit 141) on a technical alarm's
    line, a live one's raise was cut short (its side file, that `monitord status` reads,
    unwritten), and the readings' listener logged a bug."""

    def __init__(self, out: IO[str] | None = None, backlog: int = BACKLOG) -> None:
        self.out = out or sys.stdout
        self.gone = False
        self.dropped = 0
        self._lines: queue.Queue[str] = queue.Queue(backlog)
        self._ends: list[threading.Event] = []  # drain()'s waits, set once written
        # A daemon thread: one blocked in a write to a reader that never reads again must
        # not keep the process from exiting. It writes the file descriptor, not the
        # stream: no lock of the stream is held while it blocks (the interpreter's final
        # flush would wait on it).
        self._thread = threading.Thread(target=self._write_lines, name="console", daemon=True)
        self._thread.start()

    def __call__(self, line: str) -> None:
        if self.gone:
            return
        try:
            self._lines.put_nowait(line)
        except queue.Full:
            if not self.dropped:
                log.warning(BEHIND)
            self.dropped += 1

    def drain(self, within_s: float = DRAIN_S) -> None:
        """At a clean stop: the lines still held are written if the reader takes them
        within `within_s`, else left (a reader that does not read holds up no stop)."""
        if self.gone:
            return
        done = threading.Event()
        self._ends.append(done)
        deadline = time.monotonic() + within_s
        with contextlib.suppress(queue.Full):
            self._lines.put(_END, timeout=within_s)
            done.wait(max(0.0, deadline - time.monotonic()))

    def _write_lines(self) -> None:
        try:
            fd = self.out.fileno()
            encoding = getattr(self.out, "encoding", None) or "utf-8"
        except (OSError, ValueError) as e:  # not a file (closed, or no descriptor)
            self._end(str(e))
            return
        while True:
            line = self._lines.get()
            if line is _END:
                for done in self._ends:
                    done.set()
                continue
            data = (line + "\n").encode(encoding, errors="replace")
            try:
                while data:
                    data = data[os.write(fd, data) :]
            except OSError as e:
                self._end(e.strerror or str(e))
                return

    def _end(self, why: str) -> None:
        self.gone = True
        log.warning(CLOSED.format(why=why))
        # Anything printed to this stream by another part would fail again at the
        # interpreter's flush at exit and end a clean stop with exit 120: it goes to
        # /dev/null.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.out.fileno())
            os.close(devnull)
        for done in self._ends:
            done.set()


_END = "\0end"  # the queue's marker for drain(): not a line (a line has no NUL)


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
