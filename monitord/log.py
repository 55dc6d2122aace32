"""Logging: one structured line per record on stderr (journald adds its own timestamp).

Format: `LEVEL logger: message`, with a traceback (ERROR and above only) folded onto the
line. Under systemd with stderr connected to the journal (`JOURNAL_STREAM` names
stderr's device:inode, systemd.exec(5)), each line starts with its syslog priority `<N>`
(sd-daemon(3)), so CRITICAL lines land at priority 2 and `journalctl -p warning` shows
the delivery alarms. `FailureLog` implements the house rule for recurring failures: the
first failure of a kind at WARNING (with operator advice), repeats at DEBUG with a running
count, and one INFO line when it recovers.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from sys import UnraisableHookArgs

from monitord.logwriter import DRAIN_S, LogWriter

_writer: LogWriter | None = None  # setup_logging's, once set up

# syslog priorities (sd-daemon(3) prefixes): CRITICAL 2, ERROR 3, WARNING 4, INFO 6, DEBUG 7.
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def stderr_is_journal(environ: dict[str, str] | None = None) -> bool:
    """True when stderr is the journal's stream: $JOURNAL_STREAM is `device:inode` of
    the stream systemd connected, and stderr is still that file (a child whose stderr was
    redirected elsewhere inherits the variable, so it must be compared)."""
    value = (environ if environ is not None else os.environ).get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    try:
        st = os.fstat(sys.stderr.fileno())
        return (int(dev), int(ino)) == (st.st_dev, st.st_ino)
    except (ValueError, OSError, AttributeError):
        return False


# What journalctl takes for binary in a message (systemd src/basic/utf8.c,
# `unichar_is_control`: C0 controls but tab and newline, DEL, C1), and the Unicode line
# and paragraph separators a reader (Python's splitlines, an editor) breaks a line at. One
# of them in a message, and `journalctl` printed "[N blob data]" in place of its text.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` as one printable line: its line breaks (\\n, \\r\\n) as " | ", every other
    control character (a lone \\r too) as its Python escape: visible, and a name that
    holds one is still findable. Whatever a message carries from outside (a station's command, a
    server's answer, an exception's text) can hold them."""
    text = text.replace("\r\n", "\n").replace("\n", " | ")
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def print_error(line: str) -> None:
    """One line on stderr that a command prints as it gives up (a bad config, exit 78):
    at priority 3 (err) when stderr is the journal, so `journalctl -p err` shows why the
    unit failed; as it is in a terminal."""
    drain()  # after the log's last lines, not among them
    prefix = f"<{_PRIORITY[logging.ERROR]}>" if stderr_is_journal() else ""
    # One write, the newline in it: print() writes the text and its end apart (two writes
    # under PYTHONUNBUFFERED=1), and a log line still held (a drain that gave up, a
    # thread's line) could be written between them: the journal's err line then carried it.
    sys.stderr.write(prefix + one_line(line) + "\n")
    sys.stderr.flush()


def priority(levelno: int) -> int:
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= level:
            return _PRIORITY[level]
    return _PRIORITY[logging.DEBUG]


class _OneLine(logging.Formatter):
    def __init__(self, journal: bool = False) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        line = self._line(record)
        return f"<{priority(record.levelno)}>{line}" if self.journal else line

    def _line(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info and record.levelno >= logging.ERROR:
            # Tracebacks only for real bugs (ERROR and above), folded to one line.
            msg += f" exc={self.formatException(record.exc_info)}"
        return f"{record.levelname} {record.name}: {redact_urls(one_line(msg))}"


# The userinfo of a URL (`user:password@` after `scheme://`), wherever a line has one.
_USERINFO = re.compile(r"(?<=://)[^/?#\s@]+@")


def redact_urls(text: str) -> str:
    """`text` with every URL's userinfo replaced by `***@`. Every log line passes here
    (our own and the libraries' messages, exception texts): a password that reached a URL
    in spite of the config check (monitord/config_base.py) is never written to the
    journal, where every retry would repeat it."""
    return _USERINFO.sub("***@", text) if "://" in text else text


def setup_logging(level: str = "INFO") -> None:
    """The process's logging, once (a second call sets the level only): every record,
    ours and the libraries', one line on stderr, written by a thread of its own
    (monitord/logwriter.py: a log that is not read never holds up the event loop), the
    lines still held written at exit (bounded: `logwriter.DRAIN_S`)."""
    global _writer
    root = logging.getLogger()
    if _writer is None:
        _writer = LogWriter(sys.stderr)
        _writer.setFormatter(_OneLine(journal=stderr_is_journal()))
        root.handlers[:] = [_writer]
        atexit.register(_last_drain)
        # A crash's traceback, the main thread's or another's (the console's writer, the
        # store's): one ERROR line of the log, redacted and at the journal's err priority
        # like every other; Python's hooks wrote it over many lines at the stream's default
        # priority, unredacted, and a thread's by that thread, held while stderr was not read.
        sys.excepthook = _crash_logged(sys.excepthook)
        threading.excepthook = _thread_crash_logged(threading.excepthook)
        # What Python itself writes to stderr, from whichever thread it happens in (the
        # event loop's): a library's warning, an exception it cannot raise (in a
        # `__del__`, a callback at collection). Written by the caller, it stopped the loop
        # as every log line did while the log was not read; now through the log's queue.
        warnings.showwarning = _warning_logged(warnings.showwarning)
        sys.unraisablehook = _unraisable_logged(sys.unraisablehook)
    root.setLevel(level)
    # Third-party chatter stays out of the journal unless asked for.
    for noisy in ("bleak", "bumble", "aiomqtt", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def drain(within_s: float = DRAIN_S) -> None:
    """The log's lines still held, written (if its reader takes them within `within_s`):
    before anything else is written to stderr (a command's last line, a crash's
    traceback), so the log's lines come before it, and at exit."""
    if _writer is not None:
        _writer.drain(within_s)


def _last_drain() -> None:
    """At exit: the log's lines still held written (bounded, as `drain`); a line logged
    after it (a daemon thread still running as the interpreter ends) is written by its
    caller, not queued for a writer that the exit ends (monitord/logwriter.py)."""
    if _writer is not None:
        _writer.last_drain()


def _warning_logged(
    show: Callable[..., None],
) -> Callable[..., None]:
    """`warnings.showwarning` as one WARNING line of the log (logger `py.warnings`, as
    `logging.captureWarnings` names it); `show`, Python's, for a warning written to a file
    named by its caller, or once the interpreter is shutting down (the log's last drain
    done: a line queued then would not be written)."""

    def showwarning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if file is not None or sys.is_finalizing():
            show(message, category, filename, lineno, file, line)
            return
        logging.getLogger("py.warnings").warning(
            "%s:%s: %s: %s", filename, lineno, category.__name__, message
        )

    return showwarning


def _unraisable_logged(
    hook: Callable[[UnraisableHookArgs], object],
) -> Callable[[UnraisableHookArgs], None]:
    """`sys.unraisablehook` as one ERROR line of the log, its traceback folded on it and
    Python's words kept ("Exception ignored in: ..."); `hook`, Python's, once the
    interpreter is shutting down (as for the warnings above)."""

    def unraisablehook(u: UnraisableHookArgs) -> None:
        if sys.is_finalizing() or u.exc_value is None:
            hook(u)
            return
        try:
            what = f"{u.err_msg or 'Exception ignored in'}: {u.object!r}"
        except Exception:  # a repr that raises: Python's own hook says <object repr() failed>
            what = f"{u.err_msg or 'Exception ignored in'}: <object repr() failed>"
        logging.getLogger("monitord").error(
            "%s", what, exc_info=(u.exc_type, u.exc_value, u.exc_traceback)
        )

    return unraisablehook


def _crash_logged(
    hook: Callable[[type[BaseException], BaseException, TracebackType | None], object],
) -> Callable[[type[BaseException], BaseException, TracebackType | None], None]:
    """A crash (an exception out of the main thread) as one ERROR line of the log, its
    traceback folded on it, after the log's lines still held, which say what led to it;
    then the log drained, as at every exit. `hook`, Python's, should the log itself fail."""

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        # Ctrl-C before a command could catch it (its start's imports) is no bug: Python's.
        interrupted = issubclass(kind, KeyboardInterrupt)
        if interrupted or not _crash_said("crashed", (kind, exc, tb)):
            drain()
            hook(kind, exc, tb)
        drain()

    return excepthook


def _thread_crash_logged(
    hook: Callable[[threading.ExceptHookArgs], object],
) -> Callable[[threading.ExceptHookArgs], None]:
    """A thread's crash as one ERROR line of the log, through its queue: Python's hook
    wrote it with that thread, which stayed blocked in the write while stderr was not
    read. `hook`, Python's, for the log's own thread (no one else would write its line),
    once the interpreter is shutting down (a line queued then would not be written), or
    should the log fail; SystemExit is silent, as Python's hook leaves it."""

    def excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        thread = args.thread
        ours = _writer is not None and thread is _writer.thread
        name = thread.name if thread is not None else threading.get_ident()
        value = args.exc_value
        if ours or value is None or sys.is_finalizing():
            hook(args)
        elif not _crash_said(f"thread {name} crashed", (args.exc_type, value, args.exc_traceback)):
            hook(args)

    return excepthook


def _crash_said(
    what: str, exc: tuple[type[BaseException], BaseException, TracebackType | None]
) -> bool:
    """`what` and the exception logged at ERROR; False if the log could not take it."""
    if _writer is None:
        return False
    try:
        record = logging.makeLogRecord(
            {"name": "monitord", "levelno": logging.ERROR, "levelname": "ERROR",
             "msg": "%s (a bug: please report it with this line): %s: %s",
             "args": (what, exc[0].__name__, exc[1]), "exc_info": exc}
        )  # fmt: skip
        # Straight to the log's handler, past its bounds (logwriter.py, `LogWriter.crash`).
        _writer.crash(record)
    except Exception:
        return False
    return True


class FailureLog:
    """Recurring failures of one thing (a device, a sink, a task) without flooding the
    journal: the first failure of each class at WARNING (or the level given) with operator
    advice, repeats of the same class at DEBUG with a count, the recovery at INFO with the
    outage length (bleak-retry-connector style)."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        # Classes already logged at `level` in this run of failures: once each, also
        # when two alternate (garbage from a wrong baud rate alternates two reject
        # reasons; remembering only the last class warned at every change, 44 in 1.5 s).
        # A class is any hashable: the phone forwarder's is (alarm, cause), each alarm's
        # failure news of its own (station/forwarder.py).
        self._warned: set[Hashable] = set()
        self._since: float | None = None
        self.repeats = 0

    @property
    def failing(self) -> bool:
        return self._since is not None

    def failure(
        self,
        cls: Hashable,
        message: str,
        level: int = logging.WARNING,
        exc_info: BaseException | None = None,
    ) -> None:
        """`exc_info`: a bug's exception, its traceback logged with the first line only."""
        if self._since is None:
            self._since = time.monotonic()
        if cls not in self._warned:
            self._warned.add(cls)
            self.repeats = 0
            self.logger.log(level, "%s: %s", self.what, message, exc_info=exc_info)
        else:
            self.repeats += 1
            self.logger.debug("%s: %s (repeat %d)", self.what, message, self.repeats)

    def failing_for(self) -> float:
        """Seconds since this run of failures began (0 before its first)."""
        return time.monotonic() - self._since if self._since is not None else 0.0

    def warned(self, cls: Hashable) -> bool:
        """This class was already logged in this run of failures (its repeats are DEBUG)."""
        return cls in self._warned

    def forget(self, drop: Callable[[Hashable], bool]) -> None:
        """The classes `drop` picks are no longer kept (an alarm's, once it ended: no
        retry of it will come); one coming again is logged at its level."""
        self._warned = {c for c in self._warned if not drop(c)}

    def reset(self) -> None:
        """Start afresh without a recovery line (a device's rejects, once its link is up
        again: the link's own log says so)."""
        self._warned.clear()
        self._since = None
        self.repeats = 0

    def success(self, detail: str = "") -> None:
        if self._since is not None:
            self.logger.info(
                "%s: recovered after %.1f s%s",
                self.what,
                time.monotonic() - self._since,
                f"; {detail}" if detail else "",
            )
        self.reset()
