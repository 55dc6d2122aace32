"""Shared parts of the log tests (tests/test_logwriter.py, tests/test_log_crash.py): a
pipe of one page that fills at once while nobody reads it, a test logger on a LogWriter,
and the reads that stand for the log's reader coming back."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from typing import TextIO

from monitord.logwriter import LogWriter

PAGE = 4096


def one_page_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) that holds one page: a reader that is away is felt
    after a few lines, not after the kernel's default 64 KiB."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PAGE)
    return read_end, write_end


def logger_to(stream: TextIO, name: str, level: int) -> tuple[LogWriter, logging.Logger]:
    """Logger `name` writing through a LogWriter on `stream` alone (not propagated), as
    "LEVEL message" lines; the caller clears its handlers when done."""
    writer = LogWriter(stream, logger="test")
    writer.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger(name)
    log.propagate = False
    log.handlers[:] = [writer]
    log.setLevel(level)
    return writer, log


def read_into(fd: int, got: bytearray) -> None:
    while data := os.read(fd, 65536):
        got += data


def pipe_full(fd: int) -> bool:
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, sys.byteorder) > PAGE - 200


@contextlib.contextmanager
def child_on_unread_log(
    script: str, *, journal: bool = False
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`python -c script` with stdin and stdout pipes to the test and stderr a one-page pipe
    nobody reads yet (its read end given with the process); with `journal`, stderr is not
    the journal's stream (JOURNAL_STREAM names another), so no priority prefixes. At the
    end the process is killed if it still runs and the read end is closed."""
    read_end, write_end = one_page_pipe()
    env = {**os.environ, "JOURNAL_STREAM": "1:1"} if journal else None
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=write_end, text=True, env=env,
    )  # fmt: skip
    os.close(write_end)
    try:
        yield proc, read_end
    finally:
        proc.kill() if proc.poll() is None else None
        os.close(read_end)


def said_while_unread(
    proc: subprocess.Popen[str], read_end: int, said: str, got: bytearray
) -> bool:
    """Once the child (child_on_unread_log) has filled its log's pipe: a line on its stdin
    tells it to go on; whether it then printed `said` on stdout with its log still unread
    (60 s for it). Then the reader is back: the log read to its end into `got`."""
    assert proc.stdin is not None and proc.stdout is not None
    while not pipe_full(read_end):
        time.sleep(0.05)  # the writer fills it (not a bound on anything)
    proc.stdin.write("\n")
    proc.stdin.flush()
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    went_on = bool(ready) and proc.stdout.readline() == said + "\n"
    read_into(read_end, got)
    return went_on
