"""`monitord run` whose log (stderr) is not read: `monitord run 2>&1 | less` left on its first
page, a terminal paused with Ctrl-S, a journald that hangs (its stream socket fills: a
journal on a slow SD card, journald blocked in fsync, or restarted under load). Every log
line was written by the event loop itself, a blocking write: once the pipe's or the
socket's buffer was full the loop stopped in that write, and with it every chair's
readings, alarms and MQTT for as long as nobody read. Now the lines go through a bounded
queue to a writer thread (monitord/log.py): a log that falls behind loses log lines, counted
in one line once it takes them again, never monitoring, and a clean stop does not wait for
it for long. Real daemons, a real pty-fed oximeter, a real mosquitto, a real pipe of one
page and a real unix stream socket (what systemd's StandardOutput=journal gives) that
nothing reads."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.e2e_kit import (
    CHAIR,
    FAST_SPO2_ALERT,
    NO_INFLUX,
    SITE,
    DaemonProcess,
    LiveFeed,
    Oximeter,
    Store,
    mqtt_section,
    write_config,
)
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

PAGE = 4096


class UnreadLogDaemon(DaemonProcess):
    """`monitord run` at DEBUG (a log of a line or more per reading), its stdout and stderr
    one file the test holds open and does not read: a pipe of one page, or (`journal`) a
    unix stream socket named by $JOURNAL_STREAM, as systemd connects the journal."""

    journal = False

    def start(self) -> None:
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
        if self.journal:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            for s, opt in ((theirs, socket.SO_SNDBUF), (ours, socket.SO_RCVBUF)):
                s.setsockopt(socket.SOL_SOCKET, opt, PAGE)  # the kernel's least: a few KiB
            self.read_end, self.probe = ours.detach(), theirs.dup()
            write_end = theirs.detach()
            st = os.fstat(write_end)
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        else:
            self.read_end, write_end = os.pipe()
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PAGE)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitord", "run", "--config", str(self.cfg_path)],
            stdout=write_end, stderr=write_end, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        os.close(write_end)

    def full(self) -> bool:
        """No line fits any more: a pipe holds a page less than a line (a line is under
        200 bytes); a socket, whose room counts the kernel's overhead of each write, does
        not take even one byte more (a blank line, sent by the test on its own copy of
        the daemon's end, if it does)."""
        if not self.journal:
            buf = bytearray(4)
            fcntl.ioctl(self.read_end, termios.FIONREAD, buf)
            return int.from_bytes(buf, sys.byteorder) > PAGE - 200
        try:
            self.probe.send(b"\n", socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        return False

    def read_all(self) -> str:
        """What was written, read to its end (once the daemon has exited)."""
        if self.journal:  # the test's copy of the daemon's end: else no end to read to
            self.probe.close()
        out = bytearray()
        while data := os.read(self.read_end, 65536):
            out += data
        os.close(self.read_end)
        return out.decode(errors="replace")


class UnreadJournalDaemon(UnreadLogDaemon):
    journal = True


def raised(msgs: list[Any]) -> bool:
    return any(e["event"] == "raised" and e["rule"] == "spo2.very_low" for e in msgs)


@pytest.mark.parametrize("where", [UnreadLogDaemon, UnreadJournalDaemon])
async def test_an_alarm_after_the_log_stopped_being_read_is_published(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, where: type[UnreadLogDaemon]
) -> None:
    cfg = write_config(
        tmp_path,
        mqtt=mqtt_section(mosquitto, mqtt_prefix),
        influx=NO_INFLUX,
        # The log's lines at DEBUG come mostly with each commit's delivery (a PUBLISH of
        # the vitals): commits every 0.2 s (not 5) fill the page in seconds, not half a
        # minute; ten readings a second to commit.
        extra="commit_interval_s = 0.2\n" + FAST_SPO2_ALERT,
    )
    cfg.write_text(cfg.read_text().replace('log_level = "INFO"', 'log_level = "DEBUG"'))
    store = Store(tmp_path / "outbox.sqlite")
    daemon = where(cfg, tmp_path / "unused.log")
    topic = f"{mqtt_prefix}/{SITE}/{CHAIR}/alerts/events"
    try:
        async with (
            Observer(mosquitto, [topic]) as nurse,
            Oximeter(tmp_path) as ox,
            LiveFeed(ox, spo2=97.0, period_s=0.1) as feed,
        ):
            daemon.start()
            try:
                await eventually(lambda: store.readings() > 0, 30, "a reading stored")
                await eventually(daemon.full, 60, "the log full")
                feed.spo2 = 80.0  # a desaturation while nobody reads the log
                await eventually(
                    lambda: raised(nurse.of("alerts/events")) or not daemon.alive,
                    30,
                    "spo2.very_low published to the nurses",
                )
                assert daemon.alive
                assert raised([e for e in store.alert_events()])
            finally:
                rc = daemon.stop()  # its log still not read: the stop is not held up
        out = daemon.read_all()
    except BaseException:
        with contextlib.suppress(OSError):
            daemon.read_all()
        raise
    assert rc == 0, (rc, out[-3000:])
    assert "Traceback" not in out, out[-3000:]
