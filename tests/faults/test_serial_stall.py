"""Issue 12 defect 11: a daemon stalled for longer than `silence_s` (SIGSTOP: a frozen
process, a swapped-out Pi) reads what the serial port buffered before judging silence.

Real daemon (`monitord run` subprocess) reading a Masimo oximeter on a real pty that the
test writes itself, so every line counted as sent was taken by the kernel (nothing
dropped on the device side). `silence_s = 1`; the daemon is stopped for 2 s while the
oximeter writes 5 lines a second, then continued, five times. Whether the silence timer
or the port is looked at first after SIGCONT is a race (about one stall in two lost its
lines before the fix), hence five stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import tty
from datetime import UTC, datetime
from pathlib import Path

from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.masimo import line
from tests.e2e.e2e_kit import DaemonProcess, Store
from tests.faults.clock_kit import write_config
from tests.kit import eventually

# Twice `silence_s`: at SIGCONT the silence timer is a whole `silence_s` overdue, so the
# race below is met at each stall (3 s proved nothing more and cost 5 s a run).
STALL_S = 2.0
FIRST_PULSE = 40
SILENCE_S = 1.0
STALLS = 5
COMMIT_S = 0.5  # storage.commit_interval_s


class Oximeter:
    """The device end of a pty behind `link`; `send()` counts lines the kernel took, each
    numbered by its pulse rate (40, 41, ...) so the store tells which arrived."""

    def __init__(self, link: Path) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        link.symlink_to(os.ttyname(self.slave))
        self.sent = 0

    def send(self) -> None:
        ev = SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": FIRST_PULSE + self.sent})
        data = line(ev, datetime.now(UTC))
        assert os.write(self.master, data) == len(data)  # the pty buffer has room
        self.sent += 1

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


async def stream(ox: Oximeter, stop: asyncio.Event, per_s: float = 5.0) -> None:
    """A line every 1/per_s s until `stop`: never a real silence of `silence_s`."""
    while not stop.is_set():
        ox.send()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0 / per_s)


def first_stored(store: Store) -> int | None:
    """The number of the first line stored (lines before the port opened are flushed)."""
    rows = store._q("SELECT body FROM records WHERE type='reading' ORDER BY id LIMIT 1")
    return None if not rows else int(json.loads(rows[0][0])[3]["pulse_bpm"]) - FIRST_PULSE


async def test_stall_longer_than_silence_loses_no_buffered_line(tmp_path: Path) -> None:
    ox = Oximeter(tmp_path / "ox.tty")
    # Group commits every COMMIT_S (not 5 s): the waits for stored lines take a moment.
    cfg = write_config(
        tmp_path, {"ox": str(tmp_path / "ox.tty")}, f"commit_interval_s = {COMMIT_S}"
    )
    cfg.write_text(cfg.read_text() + f"silence_s = {SILENCE_S:g}\n")
    store = Store(tmp_path / "outbox.sqlite")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    stop = asyncio.Event()
    streamer = asyncio.create_task(stream(ox, stop))
    expected = stored = 0
    while_streaming = ""
    try:
        daemon.start()
        await eventually(lambda: first_stored(store) is not None, 30, "first line stored")
        await asyncio.sleep(1.0)
        assert daemon.proc is not None
        for _ in range(STALLS):
            daemon.proc.send_signal(signal.SIGSTOP)
            try:
                await asyncio.sleep(STALL_S)  # the oximeter writes on meanwhile
            finally:
                daemon.proc.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.6)
        stop.set()
        await streamer
        # The log up to the last line sent: every stall's SIGCONT is 0.6 s or more behind.
        # After it the device is silent for real, and the daemon rightly says so when
        # storing and stopping take the test longer than `silence_s` (seen in a CI run).
        while_streaming = daemon.output()
        first = first_stored(store)
        assert first is not None
        expected = ox.sent - first

        def all_stored() -> bool:
            nonlocal stored
            stored = store.readings()
            return stored >= expected

        await eventually(all_stored, 30, "every line sent after the port opened stored")
    except AssertionError as e:
        raise AssertionError(f"{e}: sent {expected}, stored {stored}") from None
    finally:
        stop.set()
        daemon.stop()
        ox.close()
    log = daemon.output()
    assert "Traceback" not in log, log
    assert store.readings() == expected
    assert "silent for" not in while_streaming, log  # a stalled reader is not a silent device
