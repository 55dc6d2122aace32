"""A crash's traceback, the main thread's or another thread's, is one line of the log
(monitord/log.py): at the journal's err priority, redacted, through the log's queue.
Python's hooks wrote it over many lines at the stream's default priority (info), a
password in a URL of the exception's text in the journal, and a thread's by that thread,
held in the write while stderr was not read. Real processes, real pipes."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

from tests.log_kit import child_on_unread_log, read_into, said_while_unread

CRASH = """
import logging
from monitord.log import setup_logging
setup_logging("INFO")
logging.getLogger("monitord.test").info("before the crash")
raise RuntimeError("could not reach http://admin:hunter2@10.0.0.1:8086")
"""


def test_a_crash_is_one_redacted_line_at_err_priority(tmp_path: Path) -> None:
    """stderr the journal's stream (JOURNAL_STREAM names it, as systemd does)."""
    err = tmp_path / "stderr"
    with err.open("wb") as f:
        st = os.fstat(f.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        r = subprocess.run([sys.executable, "-c", CRASH], stderr=f, env=env, timeout=60)
    text = err.read_text()
    assert r.returncode == 1, text
    lines = text.splitlines()
    assert lines[0] == "<6>INFO monitord.test: before the crash", lines
    assert len(lines) == 2, lines  # the traceback folded onto one line
    crash = lines[1]
    assert crash.startswith("<3>ERROR monitord: crashed "), crash
    assert "exc=Traceback (most recent call last): | " in crash, crash
    assert crash.endswith(" | RuntimeError: could not reach http://***@10.0.0.1:8086"), crash
    assert "hunter2" not in text, text


THREAD = """
import logging, sys, threading
from monitord.log import setup_logging
setup_logging("INFO")
log = logging.getLogger("monitord.test")
for i in range(100):
    log.info("filler %d %s", i, "x" * 100)  # more than the pipe holds
sys.stdin.readline()  # the test saw the pipe full
def write_lines() -> None:
    raise OSError("sent to http://admin:hunter2@10.0.0.1:8086")
t = threading.Thread(target=write_lines, name="console")
t.start()
t.join()
print("joined", flush=True)
log.info("after")
"""


def test_a_thread_crash_is_one_line_of_the_log_and_waits_for_no_reader(tmp_path: Path) -> None:
    """A thread that crashes (the console's writer, the store's) while the log is not read:
    Python's hook wrote the traceback with that thread, which stayed in the write (a
    thread the stop waits for, held); now its line is queued, the thread ends, and the
    line is written in the log's order once it is read."""
    got = bytearray()
    with child_on_unread_log(THREAD, journal=True) as (proc, read_end):
        joined = said_while_unread(proc, read_end, "joined", got)
    assert joined, "the crashed thread waited for the log's reader"
    assert proc.wait(30) == 0, got.decode()[-3000:]
    text = got.decode()
    lines = text.splitlines()
    crashed = [ln for ln in lines if "crashed" in ln]
    assert len(crashed) == 1, lines[-5:]
    assert crashed[0].startswith("ERROR monitord: thread console crashed "), crashed
    assert crashed[0].endswith(" | OSError: sent to http://***@10.0.0.1:8086"), crashed
    assert lines[-1] == "INFO monitord.test: after", lines[-3:]
    assert lines.index(crashed[0]) == len(lines) - 2, lines[-3:]  # in the log's order
    assert "Traceback" not in text.replace("exc=Traceback", ""), text[-3000:]
    assert "hunter2" not in text, text[-3000:]


FULL = """
import logging, sys, threading
from monitord.log import setup_logging
setup_logging("INFO")
log = logging.getLogger("monitord.test")
for i in range(3000):  # the pipe full, then the log's queue, the rest dropped (counted)
    log.warning("filler %d %s", i, "x" * 100)
def write_lines() -> None:
    raise OSError("the store's thread")
t = threading.Thread(target=write_lines, name="store")
t.start()
t.join()
print("joined", flush=True)
sys.stdin.readline()  # the test reads the log from now on
raise RuntimeError("the main thread's")
"""


def test_a_crash_while_the_log_is_full_is_still_its_line(tmp_path: Path) -> None:
    """A crash while the log's queue is full (journald stalled, a pager left open): the
    crash's line was dropped with the chatter, counted as one line among the dropped, and
    the journal never said the process crashed nor why, once it read again. The crash's
    line is the one that matters: it is queued whatever the log holds, and the exit code
    stays a crash's."""
    got = bytearray()
    with child_on_unread_log(FULL, journal=True) as (proc, read_end):
        assert proc.stdin is not None and proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        joined = bool(ready) and proc.stdout.readline() == "joined\n"
        proc.stdin.write("\n")
        proc.stdin.flush()
        read_into(read_end, got)  # the reader is back: to the end
    assert joined, got.decode()[-3000:]
    assert proc.wait(30) == 1, got.decode()[-3000:]
    lines = got.decode().splitlines()
    crashed = [ln for ln in lines if " crashed " in ln]
    assert [c.split(":")[0:2] for c in crashed] == [
        ["ERROR monitord", " thread store crashed (a bug"],
        ["ERROR monitord", " crashed (a bug"],
    ], crashed
    assert crashed[0].endswith(" | OSError: the store's thread"), crashed
    assert crashed[1].endswith(" | RuntimeError: the main thread's"), crashed
    assert any("dropped here" in ln for ln in lines), lines[-3:]  # the chatter was
