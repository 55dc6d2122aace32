"""SIGHUP to `monitord run` (docs/operations.md, "Signals"). Python's default is to die at
once: the store's clean-stop row and the chair's `offline` status unwritten, and systemd's
Restart=on-failure does not restart a unit ended by SIGHUP (it counts as clean,
systemd.service(5)): one `kill -HUP`, an admin's reflex after editing the config, ended
monitoring for good. Two real daemons on a real pty-fed oximeter and a real mosquitto:

- run as a service (no controlling terminal, as under systemd): a SIGHUP is said at
  WARNING (the config is read at start only, and how to apply an edit) and monitoring goes
  on: readings fed after it are stored;
- run in a terminal that closes (an SSH session's end: the kernel's hangup of the pty):
  a clean stop, as SIGTERM's: exit 0, the clean-stop row in the store, `offline` retained,
  and a sounding annunciator command ended (it runs in a session of its own, which the
  terminal's hangup does not reach: the killed daemon left it sounding).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from monitord.hangup import HUNG_UP, SAY_AGAIN_AFTER_S, Repeats, reload_warning
from tests.delivery.test_status_clean_stop import status_of
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
from tests.heard.test_annunciator_command import PLAYER, alive, calls, loop_script
from tests.kit import eventually, sighup_default
from tests.servers import Mosquitto

# The store's commits every 0.5 s, not 5: a test waits for a reading stored (and for more
# after a SIGHUP) half a second, not five, per wait.
COMMIT = "commit_interval_s = 0.5\n"

# A monitord WARNING line's start and what it must say (monitord/hangup.py).
SAID = "SIGHUP: nothing reloaded, monitoring goes on"
APPLY = "monitord check-config, then systemctl restart monitord"


class ServiceDaemon(DaemonProcess):
    """`monitord run` without a controlling terminal, as systemd starts it."""

    def start(self) -> None:
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitord", "run", "--config", str(self.cfg_path)],
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a session of its own: no terminal
                preexec_fn=sighup_default,
            )


# Makes the pty on fd 0 the controlling terminal of the new session, then runs monitord:
# what a login shell's foreground command has.
WITH_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'monitord', *sys.argv[1:]])"
)


class TerminalDaemon(DaemonProcess):
    """`monitord run` in the foreground of a terminal (a pty: stdin, stdout and stderr,
    or with `log_in_file` its stderr in the log file, as `2>>run.log`), whose output the
    test reads until `hang_up()` closes the terminal's master side."""

    log_in_file = False

    def start(self) -> None:
        self.master, slave = pty.openpty()
        self.seen = bytearray()
        self.closing = threading.Event()
        env = {**(self.env() or os.environ), "PYTHONFAULTHANDLER": "1"}
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", WITH_TERMINAL, "run", "--config", str(self.cfg_path)],
                stdin=slave,
                stdout=slave,
                stderr=f if self.log_in_file else slave,
                env=env,
                start_new_session=True,
                preexec_fn=sighup_default,
            )
        os.close(slave)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        # Never blocked in read(): a close() of the master from another thread would not
        # release it while a read is under way, and the terminal would never hang up.
        while not self.closing.is_set():
            if not select.select([self.master], [], [], 0.1)[0]:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO once the child's side is gone
                return
            if not data:
                return
            self.seen += data

    def hang_up(self) -> None:
        """The SSH session ends: its pty's master closes and the kernel sends SIGHUP."""
        self.closing.set()
        self.reader.join(5)
        os.close(self.master)

    def output(self) -> str:
        return self.seen.decode(errors="replace") + super().output()


class TerminalDaemonLogged(TerminalDaemon):
    log_in_file = True


@contextlib.asynccontextmanager
async def storing(
    tmp_path: Path, daemon: DaemonProcess, store: Store
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """The daemon started on a live-fed oximeter, yielded once a reading is stored;
    stopped at the end if still running."""
    async with Oximeter(tmp_path) as ox, LiveFeed(ox, period_s=0.2):
        daemon.start()
        try:
            await eventually(lambda: store.readings() > 0, 30, "a reading stored")
            assert daemon.proc is not None
            yield daemon.proc
        finally:
            if daemon.alive:
                daemon.stop()


async def test_a_sighup_to_the_service_is_said_and_monitoring_goes_on(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = write_config(
        tmp_path, influx=NO_INFLUX, mqtt=mqtt_section(mosquitto, mqtt_prefix), extra=COMMIT
    )
    store = Store(tmp_path / "outbox.sqlite")
    daemon = ServiceDaemon(cfg, tmp_path / "daemon.log")
    async with storing(tmp_path, daemon, store) as proc:
        proc.send_signal(signal.SIGHUP)
        await eventually(lambda: SAID in daemon.output() or not daemon.alive, 15, "said")
        assert daemon.alive, daemon.output()[-3000:]
        line = next(ln for ln in daemon.output().splitlines() if SAID in ln)
        assert "WARNING" in line and APPLY in line, line
        after = store.readings()
        await eventually(lambda: store.readings() > after + 5, 30, "readings go on")
        assert daemon.stop() == 0, daemon.output()[-3000:]
    assert store.state("daemon/stopped") is not None


# Said at DEBUG in between (monitord/hangup.py, Repeats).
AGAIN = "DEBUG monitord: SIGHUP again: nothing reloaded"


async def test_sighups_sent_again_and_again_are_said_once_an_hour_not_each_time(
    tmp_path: Path,
) -> None:
    """A logrotate `postrotate` or a config-management run sending SIGHUP every few
    minutes wrote the WARNING (with its advice) each time: a line a minute in the journal
    for months, the other warnings lost among them. Now once at WARNING, the repeats at
    DEBUG (each one seen handled here, the daemon alive), again at WARNING after an hour
    (the test after this one)."""
    cfg = write_config(tmp_path, extra=COMMIT)
    cfg.write_text(cfg.read_text().replace('log_level = "INFO"', 'log_level = "DEBUG"'))
    store = Store(tmp_path / "outbox.sqlite")
    daemon = ServiceDaemon(cfg, tmp_path / "daemon.log")
    async with storing(tmp_path, daemon, store) as proc:
        proc.send_signal(signal.SIGHUP)
        await eventually(lambda: SAID in daemon.output() or not daemon.alive, 15, "said")
        for n in (1, 2, 3):  # each waited for: signals sent at once would merge into one
            proc.send_signal(signal.SIGHUP)
            await eventually(said_again(daemon, n), 15, f"repeat {n} said at DEBUG")
            assert daemon.alive, daemon.output()[-3000:]
        after = store.readings()
        await eventually(lambda: store.readings() > after + 5, 30, "readings go on")
        assert daemon.stop() == 0, daemon.output()[-3000:]
    assert store.state("daemon/stopped") is not None


def said_again(daemon: DaemonProcess, n: int) -> Callable[[], bool]:
    return lambda: daemon.output().count(AGAIN) == n or not daemon.alive


def test_a_sighup_an_hour_after_the_warning_is_said_at_warning_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = [1000.0]
    repeats = Repeats(now=lambda: t[0])
    with caplog.at_level(logging.DEBUG, logger="monitord"):
        for step in (0.0, 60.0, 60.0, SAY_AGAIN_AFTER_S - 120.0 - 1, 1.0, 10.0):
            t[0] += step
            repeats.say("run")
    levels = [r.levelname for r in caplog.records]
    assert levels == ["WARNING", "DEBUG", "DEBUG", "DEBUG", "WARNING", "DEBUG"], levels
    again = caplog.records[4].getMessage()
    assert again == reload_warning("run") + " (3 more since it was last said)", again


async def test_the_terminal_closing_stops_the_daemon_cleanly(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = write_config(
        tmp_path, influx=NO_INFLUX, mqtt=mqtt_section(mosquitto, mqtt_prefix), extra=COMMIT
    )
    store = Store(tmp_path / "outbox.sqlite")
    topic = f"{mqtt_prefix}/{SITE}/{CHAIR}/status"
    daemon = TerminalDaemon(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path) as ox, LiveFeed(ox, period_s=0.2):
        daemon.start()
        try:
            await eventually(lambda: f"MQTT {CHAIR}: subscribed to" in daemon.output(), 30, "up")
            await eventually(lambda: store.readings() > 0, 30, "a reading stored")
            online: dict[str, object] = {}
            for _ in range(100):
                online = await status_of(mosquitto, topic)
                if online.get("state") == "online":
                    break
            assert online.get("state") == "online", online
            code = await hang_up_until_exit(daemon)
        finally:
            if daemon.alive:
                daemon.stop()
    assert code == 0, (code, daemon.output()[-3000:])
    assert store.state("daemon/stopped") is not None  # the clean stop's row
    offline = await status_of(mosquitto, topic)
    assert offline["state"] == "offline", offline
    assert "chair_time" in offline, offline  # the daemon's own, not the Last Will


async def hang_up_until_exit(daemon: TerminalDaemon) -> int | None:
    """The terminal closes; the daemon's exit code, within the unit's TimeoutStopSec
    (20 s), as a SIGTERM's stop (DaemonProcess.stop)."""
    daemon.hang_up()
    proc = daemon.proc
    assert proc is not None
    await eventually(lambda: proc.poll() is not None, 20, "the daemon's exit")
    return proc.returncode


async def test_the_terminal_closing_ends_a_sounding_annunciator_command(
    tmp_path: Path,
) -> None:
    (tmp_path / "player.sh").write_text(PLAYER)
    (tmp_path / "player.sh").chmod(0o755)
    script = loop_script(tmp_path)
    extra = FAST_SPO2_ALERT + f'[annunciator]\ncommand = ["{script}"]\n'
    # A broker that is not there: alarms cannot be delivered, so the chair sounds its own.
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    nowhere = f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\ndelivery_alarm_after_s = 1.0\n'
    cfg = write_config(tmp_path, mqtt=nowhere, extra=extra)
    daemon = TerminalDaemonLogged(cfg, tmp_path / "daemon.log")
    marker = str(tmp_path)
    try:
        async with Oximeter(tmp_path) as ox, LiveFeed(ox, spo2=80.0):
            daemon.start()
            try:
                # spo2.very_low undelivered: the `high` tone, a command looping until ended.
                await eventually(lambda: ("loop.sh", "high") in alive(marker), 60, "sounding")
                code = await hang_up_until_exit(daemon)
            finally:
                if daemon.alive:
                    daemon.stop()
        assert code == 0, (code, daemon.output()[-3000:])
        assert f"INFO monitord: {HUNG_UP}" in daemon.output()  # why it stopped, in its log
        await eventually(lambda: not alive(marker), 10, "the tone ended")
        assert calls(tmp_path)[-1] == "off", calls(tmp_path)
    finally:
        silence(marker)


def silence(marker: str) -> None:
    """What a failing run left sounding (the old code's orphaned tone)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(int(pid), signal.SIGKILL)


async def hup_until_exit(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then a SIGHUP every few ms until the process is gone: one lands in each
    part of the clean stop, up to the interpreter's exit (a terminal closed during a
    Ctrl-C's stop, a logrotate's SIGHUP during `systemctl stop`)."""
    proc.send_signal(signal.SIGTERM)
    while proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.002)
    return proc.returncode


@pytest.mark.parametrize("where", [ServiceDaemon, TerminalDaemonLogged])
async def test_sighups_during_the_clean_stop_change_nothing(
    tmp_path: Path, where: type[DaemonProcess]
) -> None:
    """A SIGHUP once the loop had closed met the default's death (its handlers reset as it
    closed): a stop done cleanly ended by the signal, not exit 0 (6 runs of 6), and one
    between the loop closing its wakeup pipe and removing them wrote a traceback. Now the
    stop signals are ignored once the clean stop is under way."""
    cfg = write_config(tmp_path, extra=COMMIT)
    store = Store(tmp_path / "outbox.sqlite")
    daemon = where(cfg, tmp_path / "daemon.log")
    async with storing(tmp_path, daemon, store) as proc:
        code = await hup_until_exit(proc)
    out = daemon.output()
    assert code == 0, (code, out[-3000:])
    assert "Traceback" not in out and "Exception ignored" not in out, out[-3000:]
    assert store.state("daemon/stopped") is not None
