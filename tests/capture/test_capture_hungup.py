"""`monitord capture` left running (a week on a chair) with its stdout and stderr on a
terminal that closed while the capture goes on (SIGHUP ignored: `nohup` with its
output kept on the terminal, a `disown`ed job): every write there fails with EIO. A real
`monitord capture` on a pty whose master is closed, a Masimo simulator's pty as its port."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import signal
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.capture_play import pty_openers
from monitord.simulators.serial_sims import make_sim_device
from tests.capture.capture_kit import CHAIR, config
from tests.capture.test_roundtrip_serial import _pty_path
from tests.kit import eventually


def _sighup_ignored() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup


def _recorded(out: Path, what: bytes) -> int:
    """How many times `what` is in the bytes the capture file recorded from the port."""
    rx = b"".join(bytes.fromhex(str(r["hex"])) for r in _records(out) if r.get("dir") == "rx")
    return rx.count(what)


def _recorded_or_ended(out: Path, n: int, cap: asyncio.subprocess.Process) -> bool:
    return _recorded(out, b"SPO2=095%") >= n or cap.returncode is not None


def _records(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.read_text().splitlines() if line.endswith("}")]


async def test_a_capture_whose_terminal_closed_goes_on_recording(tmp_path: Path) -> None:
    cfg = config(tmp_path, "cap", f'  id = "mon"\n  driver = "masimo-ascii"\n'
                 f'  port = "{tmp_path / "cap.tty"}"\n')  # fmt: skip
    out = tmp_path / "field.capture.jsonl"
    sim = make_sim_device("masimo-ascii", symlink=tmp_path / "cap.tty", repeat=False)
    master, slave = pty.openpty()
    async with sim:
        cap = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitord", "capture", "--config", str(cfg),
            "--device", f"{CHAIR}/mon", "--out", str(out),
            stdin=asyncio.subprocess.DEVNULL, stdout=slave, stderr=slave,
            preexec_fn=_sighup_ignored,
        )  # fmt: skip
        os.close(slave)
        try:
            await eventually(lambda: pty_openers(_pty_path(sim)) > 1, 30, "port opened")
            now = datetime.now(UTC).replace(microsecond=0)
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 97.0, "pulse_bpm": 70.0}), now)
            seen = b""
            while b'"spo2' not in seen:  # the reading, live, on the terminal
                seen += await asyncio.wait_for(asyncio.to_thread(os.read, master, 4096), 30)
            os.close(master)  # the terminal closes: every write there is EIO from now on
            for i in range(1, 4):  # readings after it, each recorded while it goes on
                later = now.replace(second=(now.second + i) % 60)
                await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 95.0, "pulse_bpm": 72.0}), later)
                await eventually(partial(_recorded_or_ended, out, i, cap), 30, "reading recorded")
            assert cap.returncode is None, "the capture ended when its terminal closed"
            cap.send_signal(signal.SIGTERM)
            rc = await asyncio.wait_for(cap.wait(), 30)
        finally:
            if cap.returncode is None:
                cap.kill()
                await cap.wait()
    assert rc == 0
    records = _records(out)
    assert records[-1]["event"] == "end", records[-3:]
    # The capture ran to its stop: the device link was never recorded as down.
    assert not [r for r in records if r.get("event") == "disconnected"], records
