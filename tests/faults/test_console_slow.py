"""`monitord run --console` whose stdout is read slowly or not at all, its reader still
there: a `| less` left open on its first page, a `| tee` onto a slow disk, a terminal whose
output is paused (Ctrl-S, scroll lock). Each console line was written by the event loop
itself, a blocking write: once the pipe's buffer was full the loop stopped in that write,
and with it every chair's readings, alarms, MQTT and the status for as long as the reader
did not read (a nurse's alarm held by a pager). Now the lines go through a bounded queue
to a writer thread of their own: a reader that falls behind loses console lines (said once
at WARNING), never monitoring, and a clean stop does not wait for it. Real daemons, a real
pty-fed oximeter, a real pipe of one page that nothing reads."""

from __future__ import annotations

import fcntl
import sys
import termios
from pathlib import Path

from tests.e2e.e2e_kit import LiveFeed, Oximeter, Store, write_config
from tests.faults.test_console_gone import PipedDaemon
from tests.kit import eventually

BEHIND = "console: stdout is not read fast enough"
PAGE = 4096


class UnreadDaemon(PipedDaemon):
    """`monitord run --console`, its stdout a pipe of one page that the test holds open
    and never reads; its stderr (the log) in a file."""

    pipe_size = PAGE  # full after ~50 lines, not 64 KiB

    def unread(self) -> int:
        """Bytes written into the pipe and not read."""
        buf = bytearray(4)
        fcntl.ioctl(self.read_end, termios.FIONREAD, buf)
        return int.from_bytes(buf, sys.byteorder)


async def test_a_console_nobody_reads_holds_up_no_reading_and_no_stop(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    store = Store(tmp_path / "outbox.sqlite")
    daemon = UnreadDaemon(cfg, tmp_path / "daemon.log")
    try:
        async with Oximeter(tmp_path) as ox, LiveFeed(ox, period_s=0.02):
            daemon.start()
            try:
                await eventually(lambda: store.readings() > 0, 30, "a reading stored")
                # The pipe fills: no line fits any more (a line is under 200 bytes).
                await eventually(lambda: daemon.unread() > PAGE - 200, 60, "the pipe full")
                after = store.readings()
                await eventually(
                    lambda: store.readings() > after + 40 or not daemon.alive,
                    30,
                    "readings stored while nobody reads the console",
                )
                assert daemon.alive, daemon.output()[-3000:]
                # Once the queue (BACKLOG lines, ~10 s of this feed) is full too.
                await eventually(lambda: BEHIND in daemon.output(), 90, "said")
            finally:
                rc = daemon.stop()  # the reader still there, still not reading
    finally:
        daemon.close_reader()
    out = daemon.output()
    assert rc == 0, (rc, out[-3000:])
    line = next(ln for ln in out.splitlines() if BEHIND in ln)
    assert "WARNING" in line, line
    assert out.count(BEHIND) == 1, out[-3000:]
    assert "Traceback" not in out and "a bug" not in out, out[-3000:]
