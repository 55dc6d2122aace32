"""A line logged after the exit's last drain of the log (monitord/log.py, at exit), by a
daemon thread still running as the interpreter ends (the console's writer saying its
stdout closed, a thread that crashes): it was queued for the log's writer thread, which
the exit ends, and was lost (most exits) without a count. Now it is written by its
caller, one write that never waits (a long line cut). Real processes."""

from __future__ import annotations

import subprocess
import sys

from monitord.logwriter import CUT

LATE = """
import atexit, logging, threading
go, said = threading.Event(), threading.Event()
def late() -> None:
    go.wait()
    log = logging.getLogger("monitord.test")
    for i in range(100):
        log.warning("logged after the exit's drain %d", i)
    log.error("long %s", "y" * 10_000)
    said.set()
threading.Thread(target=late, daemon=True).start()
def at_exit() -> None:  # registered before the log's own: runs after its last drain
    go.set()
    said.wait(60)
atexit.register(at_exit)
from monitord.log import setup_logging
setup_logging("INFO")
logging.getLogger("monitord.test").info("before")
"""


def test_a_line_logged_after_the_exits_drain_is_written() -> None:
    # Five exits: before, the writer thread took such a line only now and then, as the
    # interpreter's end raced it.
    for _ in range(5):
        r = subprocess.run([sys.executable, "-c", LATE], capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        lines = r.stderr.decode().splitlines()
        late = [f"WARNING monitord.test: logged after the exit's drain {i}" for i in range(100)]
        assert lines[:101] == ["INFO monitord.test: before", *late], lines[-3:]
        assert len(lines) == 102, lines[-3:]
        assert lines[-1].startswith("ERROR monitord.test: long yyy"), lines[-1][:80]
        assert lines[-1].endswith(CUT.decode()) and len(lines[-1]) < 4096, lines[-1][-80:]
