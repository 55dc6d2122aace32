"""`monitord run --console` whose stdout goes away (the `| head` or `| tee` reading it ended,
SIGPIPE being ignored by Python: a write raises instead). Before, the write's error went up
into whatever printed: a technical alarm said at start ended the daemon (exit 141, every
chair unmonitored), and while it ran, the readings' listener logged "a bug: please report
it" and the clean stop's flush at exit failed again. Now the console ends, said once at
WARNING, and monitoring goes on. Real daemons, a real pty-fed oximeter, real pipes."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.e2e_kit import DaemonProcess, LiveFeed, Oximeter, Store, write_config
from tests.kit import eventually

SAID = "console: stdout is closed (Broken pipe): no more console lines; monitoring goes on"


class PipedDaemon(DaemonProcess):
    """`monitord run --console`, its stdout a pipe the test reads and then closes; its
    stderr (the log) in a file."""

    pipe_size: int | None = None  # the pipe's buffer in bytes: the kernel's (64 KiB) if None

    def start(self) -> None:
        self.read_end, write_end = os.pipe()
        if self.pipe_size is not None:
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, self.pipe_size)
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitord", "run", "--console", "--config",
                 str(self.cfg_path)],
                stdout=write_end, stderr=f, stdin=subprocess.DEVNULL, env=env,
            )  # fmt: skip
        os.close(write_end)

    def read_line(self) -> bytes:
        out = b""
        while not out.endswith(b"\n"):
            out += os.read(self.read_end, 1)
        return out

    def close_reader(self) -> None:
        os.close(self.read_end)


async def test_a_closed_console_ends_the_console_not_monitoring(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    store = Store(tmp_path / "outbox.sqlite")
    daemon = PipedDaemon(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path) as ox, LiveFeed(ox, period_s=0.2):
        daemon.start()
        try:
            await eventually(lambda: store.readings() > 0, 30, "a reading stored")
            assert daemon.read_line()  # the console works
            daemon.close_reader()  # `| head -1` has what it wanted
            await eventually(lambda: SAID in daemon.output() or not daemon.alive, 30, "said")
            after = store.readings()
            await eventually(lambda: store.readings() > after + 5, 30, "readings go on")
            assert daemon.alive, daemon.output()[-3000:]
        finally:
            rc = daemon.stop()
    out = daemon.output()
    assert rc == 0, (rc, out[-3000:])
    assert out.count(SAID) == 1, out[-3000:]
    assert "a bug" not in out and "Traceback" not in out and "Exception" not in out, out


async def test_a_technical_alarm_at_start_with_no_console_reader_does_not_stop_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "afile").touch()
    cfg = write_config(tmp_path)
    # A store that cannot be created: technical alarm store.memory, said on the console.
    cfg.write_text(cfg.read_text().replace("outbox.sqlite", "afile/outbox.sqlite"))
    store_said = "TECHNICAL ALARM store.memory"
    daemon = PipedDaemon(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path) as ox, LiveFeed(ox, period_s=0.2):
        daemon.start()
        daemon.close_reader()  # nobody reads the console from the start
        try:
            await eventually(
                lambda: "chair-1/ox: link up" in daemon.output() or not daemon.alive, 30, "up"
            )
            assert daemon.alive, daemon.output()[-3000:]
            assert store_said in daemon.output()
            assert SAID in daemon.output()
        finally:
            rc = daemon.stop()
    assert rc == 0, (rc, daemon.output()[-3000:])
