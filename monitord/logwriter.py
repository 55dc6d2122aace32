"""The log's lines written by a thread of their own, never by the caller (the event loop).

A write to stderr blocks for as long as its reader does not read: `monitord run 2>&1 | less`
left on its first page, a terminal paused with Ctrl-S, a journald that hangs (its stream
socket fills while journald is blocked in an fsync on a slow SD card, or is restarted under
load). Written by the event loop, the first line that did not fit stopped the loop in that
write, and with it every chair's readings, alarms and MQTT for as long as nobody read.

Now a record is formatted by its caller and queued; `LogWriter`'s thread writes the lines
in order. The queue is bounded: past `BACKLOG` lines held, lines below WARNING are dropped,
past `BACKLOG + RESERVE` every line is (the same in characters held: `BACKLOG_CHARS`,
`RESERVE_CHARS`; WARNING and above keep room of their own: an
alarm's CRITICAL line is not lost to DEBUG chatter). Where lines were dropped, or could not
be written (EIO from a hung-up terminal, a full disk under `2>>run.log`), one WARNING line
says how many, in their place, once the log takes lines again. A clean stop waits
`DRAIN_S` at most for the lines still held (`drain`): a log that is not read holds up no
stop. The thread writes the file descriptor, not the stream: blocked in a write it holds
no lock of `sys.stderr` (a crash's traceback, the interpreter's final flush).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import select
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO

# Lines held for a log that is not read: a few minutes of a busy daemon's INFO, ~200 KB.
BACKLOG = 1000
# Room for WARNING and above once BACKLOG lines are held.
RESERVE = 1000
# The same bounds in characters: 1,000 lines of a traceback folded onto one (tens of KB
# each), or a server's long answer in an exception's text, are not held whole in a Pi's
# memory. A line's usual ~200 characters never meet them; a line alone in the queue is
# always taken (one line in memory, as when the caller wrote it itself).
BACKLOG_CHARS = 1_000_000
RESERVE_CHARS = 1_000_000
# How long a clean stop waits for the lines still held to be written.
DRAIN_S = 2.0

DROPPED = (
    "log: {n} line(s) dropped here: the log was not read fast enough (a pager left open, "
    "output paused, journald stalled?); monitoring went on"
)
# The end of a line cut to one write at exit (`LogWriter._write_now`).
CUT = b" [cut: the process was ending]"
UNWRITTEN = "log: {n} line(s) could not be written here ({why}); monitoring went on"


@dataclass
class _Gap:
    """Where lines were lost, in the queue's order: how many, and why."""

    n: int
    why: str = ""  # "": dropped (the queue was full); else the write's error


class LogWriter(logging.Handler):
    """A handler whose `emit` only queues the formatted line (see the module's doc)."""

    def __init__(self, stream: IO[str], logger: str = "monitord") -> None:
        super().__init__()
        self.stream = stream
        self.logger = logger  # the name the gap lines are logged under
        self.encoding = getattr(stream, "encoding", None) or "utf-8"
        self.errors = getattr(stream, "errors", None) or "backslashreplace"
        self._items: collections.deque[str | _Gap] = collections.deque()
        self._held = 0  # lines in _items (gaps not counted: one at most after each line)
        self._chars = 0  # their characters
        self._busy = False  # a line taken and not yet written
        self._cond = threading.Condition()
        self.written = 0
        self._gave_up = False  # a drain timed out: the stop's wait for the log is spent
        self._last = False  # the exit's last drain is done: lines are written by their caller
        # A daemon thread: one blocked in a write to a reader that never reads again must
        # not keep the process from exiting.
        self._thread = threading.Thread(target=self._write_lines, name="log", daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        """The thread that writes the lines."""
        return self._thread

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._queue(line, record.levelno)

    def crash(self, record: logging.LogRecord) -> None:
        """A crash's line (monitord/log.py), queued whatever the queue holds: the bounds
        dropped it with the chatter of a log not read (journald stalled, a pager left
        open), counted as one line among them, and once the log was read again it never
        said the process, or a thread, had crashed nor why. One line per crash: a process
        crashes once, a thread once; no logger's level nor filter may hide it either."""
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._queue(line, record.levelno, always=True)

    def handleError(self, record: logging.LogRecord) -> None:
        """A record that cannot be formatted (a log call's bug: `log.info("%d", "a text")`):
        one ERROR line in the queue, one line, redacted and at the journal's priority as
        every other. Python's own wrote a traceback, the call's stack and the record's
        arguments (a password in a URL among them, unredacted) straight to stderr, by the
        caller: the event loop, stopped in that write while the log was not read."""
        exc = sys.exc_info()[1]
        try:
            said = (
                f"log: a log call failed ({type(exc).__name__}: {exc}) at "
                f"{record.pathname}:{record.lineno}: message {record.msg!r}, "
                f"arguments {record.args!r}"
            )
            fields = {"name": record.name, "levelno": logging.ERROR, "levelname": "ERROR"}
            line = self.format(logging.makeLogRecord({**fields, "msg": said}))
        except Exception:  # its repr raises too: counted, as a line that could not be
            with self._cond:
                self._lose(1, "a log call failed")
            return
        self._queue(line, logging.ERROR)

    def _queue(self, line: str, levelno: int, always: bool = False) -> None:
        if self._last:
            self._write_now(line)
            return
        warning = levelno >= logging.WARNING
        limit = BACKLOG + RESERVE if warning else BACKLOG
        chars = BACKLOG_CHARS + RESERVE_CHARS if warning else BACKLOG_CHARS
        with self._cond:
            full = self._held >= limit or (self._held and self._chars + len(line) > chars)
            if full and not always:
                self._lose(1, "")
                return
            self._items.append(line)
            self._held += 1
            self._chars += len(line)
            self._cond.notify_all()

    def _lose(self, n: int, why: str) -> None:
        """Counts `n` lines lost at the queue's end (its lock held)."""
        last = self._items[-1] if self._items else None
        if isinstance(last, _Gap) and last.why == why:
            last.n += n
        else:
            self._items.append(_Gap(n, why))
        self._cond.notify_all()

    def drain(self, within_s: float = DRAIN_S) -> bool:
        """Waits up to `within_s` for every line held to be written; True if they were.
        Once a drain has given up, no later one waits: a stop drains more than once (the
        command's end, the exit; a last line on stderr, a crash's traceback), and waited
        again in full each time the log had taken a line in between (read slowly: an SSH
        session on a slow link, a journald catching up), 2 s at most adding up."""
        deadline = time.monotonic() + within_s
        with self._cond:
            if self._gave_up:
                return not self._items and not self._busy
            while self._items or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._gave_up = True
                    return False
                self._cond.wait(left)
            return True

    def last_drain(self, within_s: float = DRAIN_S) -> None:
        """The exit's drain, the last: a line queued after it (by a daemon thread still
        running: the console's writer, a crashing thread) was never written nor counted,
        the interpreter ending before this writer took it. After it, a line is written
        by its caller (`_write_now`)."""
        self.drain(within_s)
        with self._cond:
            self._last = True

    def _write_now(self, line: str) -> None:
        """Once the exit's last drain is done: `line` written by the caller, in the log's
        order: only if no line is still held (a log read) and the log takes it now, else
        dropped (it is not read: nothing more can be said in it). One write of at most
        PIPE_BUF bytes (a longer line cut), to a descriptor ready for it: it never waits.
        A caller held here would hold the handler's lock, which Python's exit takes
        (`logging.shutdown`), so an exit would wait for the log's reader."""
        with self._cond:
            if self._items or self._busy:
                return
            data = line.encode(self.encoding, self.errors)
            if len(data) >= select.PIPE_BUF:
                data = data[: select.PIPE_BUF - len(CUT) - 1] + CUT
            try:
                fd = self.stream.fileno()
            except (OSError, ValueError, AttributeError):  # no descriptor (a test's capture)
                self._write(data.decode(self.encoding, "replace") + "\n")
                return
            with contextlib.suppress(OSError, ValueError):
                if select.select([], [fd], [], 0)[1]:
                    os.write(fd, data + b"\n")

    def _write_lines(self) -> None:
        unsaid: list[_Gap] = []  # lines lost and not yet said, in order (this thread's)
        while True:
            with self._cond:
                while not self._items:
                    self._cond.wait()
                item = self._items.popleft()
                if isinstance(item, _Gap):
                    _add(unsaid, item)
                    if self._items:  # said with the line after it
                        continue
                else:
                    self._held -= 1
                    self._chars -= len(item)
                self._busy = True
            lines = [self.format(self._said(gap)) for gap in unsaid]
            if isinstance(item, str):
                lines.append(item)
            why = self._write("".join(line + "\n" for line in lines))
            if why:  # the gaps stay unsaid, the line is lost too
                if isinstance(item, str):
                    _add(unsaid, _Gap(1, why))
            else:
                unsaid.clear()
            with self._cond:
                self._busy = False
                self.written += 1
                self._cond.notify_all()

    def _said(self, gap: _Gap) -> logging.LogRecord:
        text = UNWRITTEN if gap.why else DROPPED
        return logging.makeLogRecord(
            {"name": self.logger, "levelno": logging.WARNING, "levelname": "WARNING",
             "msg": text.format(n=gap.n, why=gap.why)}
        )  # fmt: skip

    def _write(self, text: str) -> str:
        """Writes `text` whole; "" or why it could not be. Never raises: a writer thread
        that died (stderr closed at the start: `sys.stderr` is None) left every line after
        held, never written nor counted, and each drain waiting its whole time."""
        try:
            return self._write_whole(text)
        except Exception as e:
            return f"{type(e).__name__}: {e}"

    def _write_whole(self, text: str) -> str:
        data = text.encode(self.encoding, self.errors)
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError, AttributeError):  # no descriptor (a test's capture)
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError) as e:
                return str(e)
            return ""
        while data:
            try:
                data = data[os.write(fd, data) :]
            except BlockingIOError:  # a non-blocking descriptor shared with another program
                select.select([], [fd], [], 1.0)
            except InterruptedError:
                continue
            except OSError as e:
                return e.strerror or errno.errorcode.get(e.errno or 0, str(e))
        return ""


def _add(gaps: list[_Gap], gap: _Gap) -> None:
    if gaps and gaps[-1].why == gap.why:
        gaps[-1].n += gap.n
    else:
        gaps.append(_Gap(gap.n, gap.why))
