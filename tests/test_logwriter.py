"""The log's writer (monitord/logwriter.py) on a real pipe of one page that is not read,
then read again: no log call waits for the reader; the lines held are written in order
once it reads; where lines were dropped one WARNING line says how many, and every line
logged is either written or counted; WARNING and above keep room of their own."""

from __future__ import annotations

import errno
import logging
import os
import re
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

from monitord.logwriter import BACKLOG, BACKLOG_CHARS, DROPPED, RESERVE_CHARS, UNWRITTEN
from tests.log_kit import (
    child_on_unread_log,
    logger_to,
    one_page_pipe,
    read_into,
    said_while_unread,
)

NOTICE = re.compile(re.escape(DROPPED).replace(r"\{n\}", r"(\d+)"))


def test_an_unread_log_holds_up_no_caller_and_counts_what_it_drops(tmp_path: Path) -> None:
    read_end, write_end = one_page_pipe()
    stream = os.fdopen(write_end, "w")
    writer, log = logger_to(stream, "test.logwriter", logging.DEBUG)
    pad = "x" * 80
    chatter = BACKLOG + 500  # more than the pipe and the queue hold together
    try:
        # Each call returns while nothing reads (a blocking write would hang the test).
        for i in range(chatter):
            log.debug("d %d %s", i, pad)
        for i in range(10):
            log.warning("w %d", i)  # the queue is full of DEBUG: kept all the same
        log.debug("d late")  # dropped, after the warnings
        got = bytearray()
        reader = threading.Thread(target=lambda: read_into(read_end, got), daemon=True)
        reader.start()  # the pager scrolls on
        assert writer.drain(30), "the lines held were not written once read"
    finally:
        log.handlers.clear()
        stream.close()
    reader.join(10)
    os.close(read_end)
    lines = got.decode().splitlines()
    # Walked in order: each DEBUG line the next one logged, each notice the count of those
    # skipped in its place (the writer took lines while the queue filled: gaps may be more
    # than one), then the ten warnings, then the late one, counted.
    expected, gaps = 0, 0
    warnings: list[str] = []
    for line in lines:
        if m := NOTICE.search(line):
            assert line.startswith("WARNING "), line
            assert not warnings or line == lines[-1], line  # after them: only the late one
            expected += int(m.group(1))
            gaps += 1
        elif line.startswith("DEBUG d "):
            assert not warnings and int(line.split()[2]) == expected, line
            expected += 1
        else:
            warnings.append(line)
    assert gaps >= 2  # the queue was full: some dropped; and the late one
    assert expected == chatter + 1  # every line written or counted, once
    assert warnings == [f"WARNING w {i}" for i in range(10)]  # kept all, in order
    last = NOTICE.search(lines[-1])
    assert last is not None and last.group(1) == "1", lines[-1]
    assert "DEBUG d late" not in lines


def test_lines_that_could_not_be_written_are_counted_once_it_writes_again() -> None:
    """A log whose writes fail (a full disk under `2>>run.log`: /dev/full here), then
    succeed (room made: the same descriptor, now a pipe)."""
    fd = os.open("/dev/full", os.O_WRONLY)
    stream = os.fdopen(fd, "w")
    writer, log = logger_to(stream, "test.logwriter.full", logging.INFO)
    read_end, write_end = os.pipe()
    try:
        for i in range(3):
            log.info("lost %d", i)
        assert writer.drain(30)
        os.dup2(write_end, fd)
        log.info("written")
        assert writer.drain(30)
    finally:
        log.handlers.clear()
        stream.close()
        os.close(write_end)
    got = bytearray()
    read_into(read_end, got)
    os.close(read_end)
    said = UNWRITTEN.format(n=3, why=os.strerror(errno.ENOSPC))
    assert got.decode().splitlines() == [f"WARNING {said}", "INFO written"], got


CRASH = """
import logging
from monitord.log import setup_logging
setup_logging("INFO")
log = logging.getLogger("monitord.test")
for i in range(200):
    log.info("before the crash %d", i)
raise RuntimeError("the crash")
"""


def test_a_crash_traceback_comes_after_the_log_lines_that_led_to_it(tmp_path: Path) -> None:
    """Its stderr a pipe of one page, read from half a second after the start: the crash
    comes while the log's lines wait for it; its line (tests/test_log_crash.py) comes
    after them."""
    read_end, write_end = one_page_pipe()
    proc = subprocess.Popen([sys.executable, "-c", CRASH], stderr=write_end)
    os.close(write_end)
    got = bytearray()
    try:
        time.sleep(0.5)  # the reader comes back (not a bound on anything: any wait will do)
        read_into(read_end, got)
    finally:
        os.close(read_end)
    assert proc.wait(30) == 1, got.decode()[-3000:]
    lines = got.decode().splitlines()
    said = [ln for ln in lines if "before the crash" in ln]
    assert said == [f"INFO monitord.test: before the crash {i}" for i in range(200)], said[-3:]
    assert lines.index(said[-1]) == len(lines) - 2, lines[-3:]  # the crash's line last
    assert lines[-1].startswith("ERROR monitord: crashed "), lines[-3:]
    assert lines[-1].endswith(" | RuntimeError: the crash"), lines[-3:]


def test_the_lines_held_for_an_unread_log_are_bounded_in_size_too(tmp_path: Path) -> None:
    """Long lines (a folded traceback, a server's error body in an exception's text) for
    a log nobody reads: the queue bounded lines, not their size, so 2,000 lines of 50,000
    characters were 100 MB held in a Pi's memory. Now what is held is bounded in
    characters as well; every line is still written or counted once the log is read."""
    read_end, write_end = one_page_pipe()
    stream = os.fdopen(write_end, "w")
    writer, log = logger_to(stream, "test.logwriter.long", logging.INFO)
    long = "y" * 50_000
    sent = 2 * BACKLOG
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(sent):
            log.warning("w %d %s", i, long)
        held = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        got = bytearray()
        reader = threading.Thread(target=lambda: read_into(read_end, got), daemon=True)
        reader.start()
        assert writer.drain(60), "the lines held were not written once read"
    finally:
        tracemalloc.stop()
        log.handlers.clear()
        stream.close()
    reader.join(10)
    os.close(read_end)
    assert held < 3 * (BACKLOG_CHARS + RESERVE_CHARS), f"{held:,} bytes held"
    written, counted = 0, 0
    for line in got.decode().splitlines():
        if m := NOTICE.search(line):
            counted += int(m.group(1))
        else:
            assert line == f"WARNING w {written + counted} {long}", line[:80]
            written += 1
    assert written + counted == sent and counted > 0, (written, counted)


WARNS = """
import logging, sys, warnings
from monitord.log import setup_logging
setup_logging("INFO")
log = logging.getLogger("monitord.test")
for i in range(100):
    log.info("filler %d %s", i, "x" * 100)  # more than the pipe holds
sys.stdin.readline()  # the test saw the pipe full
warnings.warn("a library's warning", UserWarning)  # Python writes it to stderr
class Leaky:
    def __del__(self) -> None:
        raise ValueError("raised in a __del__")
Leaky()  # "Exception ignored in ...": also written to stderr by Python
logging.getLogger("monitord.test").info(  # a log call's bug: %d for a text
    "reading %d from http://admin:hunter2@127.0.0.1:8086", "not a number"
)
print("went on", flush=True)
"""


def test_pythons_own_warnings_wait_for_no_reader_either(tmp_path: Path) -> None:
    """A library's warning (`warnings.warn`) or an exception Python cannot raise (in a
    `__del__`, a callback at collection) was written by Python straight to stderr, by the
    caller: the event loop, stopped in that write while the log was not read, as every log
    line was. Now they go through the log's queue (one line each, the journal's priority)
    and the caller goes on. So does a log call's own bug (a record that cannot be
    formatted): Python's logging wrote a traceback, the call's stack and its arguments
    (unredacted) to stderr, by the caller, too."""
    got = bytearray()
    with child_on_unread_log(WARNS) as (proc, read_end):
        went_on = said_while_unread(proc, read_end, "went on", got)
    assert went_on, "the warning waited for the log's reader"
    assert proc.wait(30) == 0, got.decode()[-3000:]
    lines = got.decode().splitlines()
    warned = [ln for ln in lines if "a library's warning" in ln]
    assert len(warned) == 1 and warned[0].startswith("WARNING py.warnings: "), lines[-5:]
    assert "UserWarning" in warned[0]
    ignored = [ln for ln in lines if "raised in a __del__" in ln]
    assert len(ignored) == 1 and ignored[0].startswith("ERROR "), lines[-5:]
    assert "Exception ignored in" in ignored[0] and "Traceback" in ignored[0], ignored
    failed = [ln for ln in lines if "not a number" in ln]
    assert len(failed) == 1, lines[-8:]
    assert failed[0].startswith("ERROR monitord.test: log: a log call failed"), failed
    assert "TypeError" in failed[0] and "hunter2" not in got.decode(), failed


NO_STDERR = """
import logging, sys
from monitord import log as monitord_log
monitord_log.setup_logging("INFO")
logging.getLogger("monitord.test").warning("nowhere to go")
assert monitord_log._writer is not None
print(monitord_log._writer.drain(10), monitord_log._writer._thread.is_alive(), flush=True)
"""


def test_a_log_with_nowhere_to_go_does_not_kill_its_writer() -> None:
    """`monitord run 2>&-` (started with stderr closed: Python's `sys.stderr` is None): the
    first line's write raised in the writer thread, which died; every line after was held
    and never written nor counted, and each drain (a stop's, the exit's) waited its whole
    time for a line that would never be written. Now a write that raises is a line that
    could not be written, counted like any other, and the writer goes on."""
    r = subprocess.run(
        ["sh", "-c", f'exec "{sys.executable}" -c "$0" 2>&-', NO_STDERR],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r
    assert r.stdout == "True True\n", r


def test_a_stop_waits_for_the_log_once_however_slowly_it_is_read() -> None:
    """A stop drains the log more than once (the command's end, then the exit; a last line
    on stderr, a crash's traceback before them): a drain that gave up was waited again in
    full by each later one as long as the log took a line in between (an SSH session on a
    slow link, a journald catching up), so "2 s at most" added up. Now once a drain has
    given up, a later one does not wait: the drain here, with a whole minute to wait and a
    reader that reads everything within it, returns at once, lines still held."""
    read_end, write_end = one_page_pipe()
    stream = os.fdopen(write_end, "w")
    writer, log = logger_to(stream, "test.logwriter.stop", logging.INFO)
    got = bytearray()
    reader = threading.Thread(target=lambda: read_slowly(read_end, got), daemon=True)
    try:
        for i in range(BACKLOG):
            log.info("line %d %s", i, "x" * 80)
        assert not writer.drain(0.1)  # nothing reads: the stop's first drain gives up
        taken = writer.written
        reader.start()  # the log is read again, slowly
        while writer.written == taken:
            time.sleep(0.01)  # it takes a line (not a bound on anything)
        second = writer.drain(60)
        last = f"INFO line {BACKLOG - 1} ".encode()
        for _ in range(6000):  # the lines still held are written all the same
            if last in got:
                break
            time.sleep(0.01)
    finally:
        log.handlers.clear()
        stream.close()
    reader.join(60)
    os.close(read_end)
    assert not second, "the second drain waited for the log again"
    assert got.decode().splitlines()[-1].startswith(last.decode())


def read_slowly(fd: int, got: bytearray) -> None:
    while data := os.read(fd, 512):
        got += data
        time.sleep(0.002)
