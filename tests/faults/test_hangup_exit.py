"""`sudo monitord run` in an SSH session that drops: the terminal (sudo's pty) goes, the
daemon stops cleanly on its SIGHUP, and exited 120, not 0: its stderr, line-buffered as in
any run without $PYTHONUNBUFFERED (sudo passes none), held a line whose write had failed
(EIO: the terminal was gone), and the interpreter's final flush failed on it again. A
clean stop said to be a failure (the admin's shell, a wrapper script, a unit's
ExecStopPost). Now what cannot be flushed once the command is done is pointed at
/dev/null (monitord/cli.py): exit 0. A real daemon on a real pty, closed under it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.e2e_kit import LiveFeed, Oximeter, Store, write_config
from tests.faults.test_sighup import TerminalDaemon, hang_up_until_exit
from tests.kit import eventually


class BufferedTerminalDaemon(TerminalDaemon):
    """In a terminal, its output buffered as without $PYTHONUNBUFFERED (the test run's
    environment has it)."""

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


async def test_the_terminal_gone_under_a_buffered_daemon_is_still_a_clean_exit(
    tmp_path: Path,
) -> None:
    cfg = write_config(tmp_path)
    store = Store(tmp_path / "outbox.sqlite")
    daemon = BufferedTerminalDaemon(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path) as ox, LiveFeed(ox, period_s=0.2):
        daemon.start()
        try:
            await eventually(lambda: store.readings() > 0, 30, "a reading stored")
            code = await hang_up_until_exit(daemon)
        finally:
            if daemon.alive:
                daemon.stop()
    assert code == 0, (code, daemon.output()[-3000:])
    assert store.state("daemon/stopped") is not None  # the clean stop's row


def test_output_left_for_a_reader_gone_does_not_turn_the_exit_into_120() -> None:
    """What a command leaves in Python's buffer (stdout to a pipe, buffered as without
    $PYTHONUNBUFFERED) for a reader that has gone (a script's `| grep -q` ended): the
    interpreter's final flush failed on it with EPIPE, "Exception ignored ...
    BrokenPipeError" on stderr and exit 120 for a command that did its work."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    try:
        r = subprocess.run(
            [sys.executable, "-m", "monitord", "--version"],
            stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stderr == b"", r.stderr
