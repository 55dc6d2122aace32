"""`monitord capture` ended by SIGHUP (its SSH session's terminal closing, or a `kill -HUP`):
Python's default killed it at once, the file without its `end` record and the command
without its summary line. Now a SIGHUP ends it as Ctrl-C and SIGTERM do: exit 0, the file
closed with `end`, the summary said. A real `monitord capture` on a Masimo simulator's pty
(docs/operations.md, "Signals")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.capture_play import pty_openers
from monitord.simulators.serial_sims import make_sim_device
from tests.capture.capture_kit import CHAIR, config, monitord
from tests.capture.test_roundtrip_serial import _pty_path
from tests.kit import eventually


@contextlib.asynccontextmanager
async def capture_after_a_reading(
    tmp_path: Path,
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path]]:
    """A `monitord capture` on a Masimo simulator's pty, one reading already written to
    its stdout (live): yields the process and its capture file; killed if still alive."""
    cfg = config(tmp_path, "cap", f'  id = "mon"\n  driver = "masimo-ascii"\n'
                 f'  port = "{tmp_path / "cap.tty"}"\n')  # fmt: skip
    out = tmp_path / "field.capture.jsonl"
    sim = make_sim_device("masimo-ascii", symlink=tmp_path / "cap.tty", repeat=False)
    async with sim:
        cap = await monitord(
            "capture", "--config", str(cfg), "--device", f"{CHAIR}/mon", "--out", str(out)
        )
        try:
            slave = _pty_path(sim)
            await eventually(lambda: pty_openers(slave) > 1, 30, "port opened")
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 97.0, "pulse_bpm": 70.0}),
                           datetime.now(UTC).replace(microsecond=0))  # fmt: skip
            assert cap.stdout is not None
            first = await asyncio.wait_for(cap.stdout.readline(), 30)  # the reading, live
            assert json.loads(first)["kind"] == "spo2", first
            yield cap, out
        finally:
            if cap.returncode is None:
                cap.kill()
                await cap.wait()


def assert_ended_with_its_end_record(
    cap: asyncio.subprocess.Process, err: bytes, out: Path
) -> None:
    assert cap.returncode == 0, (cap.returncode, err.decode())
    assert "1 reading(s)" in err.decode(), err.decode()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[-1]["event"] == "end", records[-3:]


async def test_a_sighup_ends_the_capture_with_its_end_record(tmp_path: Path) -> None:
    async with capture_after_a_reading(tmp_path) as (cap, out):
        cap.send_signal(signal.SIGHUP)
        _rest, err = await asyncio.wait_for(cap.communicate(), 30)
    assert_ended_with_its_end_record(cap, err, out)


async def test_a_sighup_during_the_captures_end_leaves_its_end_record(tmp_path: Path) -> None:
    """Ctrl-C, then the terminal closing while the capture ends (its device task
    cancelled, the file being closed): the handlers were removed before that, and the
    SIGHUP met the default's death, the file without its `end` record and no summary. Now
    the stop signals are ignored once its end is under way (monitord/hangup.py)."""
    async with capture_after_a_reading(tmp_path) as (cap, out):
        cap.send_signal(signal.SIGINT)
        waiter = asyncio.create_task(cap.communicate())
        while not waiter.done():  # a SIGHUP every few ms until it is gone
            # os.kill, not cap.send_signal: Popen's polls first and could reap the
            # child under asyncio's watcher (then its exit code reads 255).
            with contextlib.suppress(ProcessLookupError):
                os.kill(cap.pid, signal.SIGHUP)
            await asyncio.sleep(0.002)
        _rest, err = await waiter
    assert_ended_with_its_end_record(cap, err, out)
