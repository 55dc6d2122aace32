"""Regenerates `intellivue-noise-replug.capture.jsonl` (run from the repo root:
`.venv/bin/python -m tests.capture.cases.make_intellivue_noise_replug`).

The field report it stands for: an IntelliVue on a long RS-232 cable; one poll result
arrives with a bad checksum (line noise), later the cable is unplugged and plugged in
again mid-session, the daemon re-associates and the monitor reports the last NIBP again.
Recorded with `monitord capture` (its command function) from the IntelliVue simulator on
a pty: the same bytes and split as the real port delivered them.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitord.commands.capture import capture
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.intellivue import IntelliVueSim
from tests.kit import eventually

OUT = Path(__file__).with_name("intellivue-noise-replug.capture.jsonl")


async def _polls(sim: IntelliVueSim, n: int) -> None:
    target = sim.polls + n
    await eventually(lambda: sim.polls >= target, 30, "polls answered")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "mp30.tty"
        cfg = Path(tmp) / "c.toml"
        cfg.write_text(
            '[site]\nid = "capture-case"\n'
            '[mqtt]\nenabled = false\n[influx]\nenabled = false\n[[chairs]]\nid = "chair-3"\n'
            f'  [[chairs.devices]]\n  id = "mon"\n  driver = "intellivue"\n  port = "{link}"\n'
            "  poll_interval_s = 0.5\n"
        )
        OUT.unlink(missing_ok=True)
        stop = asyncio.Event()
        args = argparse.Namespace(config=str(cfg), device="chair-3/mon", out=str(OUT), seconds=None)
        async with IntelliVueSim(symlink=link, repeat=False) as sim:
            task = asyncio.create_task(capture(args, stop=stop, out=io.StringIO()))
            await eventually(lambda: sim.mds_confirmed, 30, "associated")
            t0 = datetime.now(UTC).replace(microsecond=0)
            bp: dict[str, float | None] = {
                "sys_mmHg": 186.0,
                "dia_mmHg": 112.0,
                "map_mmHg": 137.0,
                "pulse_bpm": 92.0,
            }
            await sim.send(SimEvent(Kind.BP, bp), t0)
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 97.0, "pulse_bpm": 91.0}), t0)
            await sim.send(SimEvent(Kind.HR, {"hr_bpm": 92.0}), t0)
            await _polls(sim, 2)
            sim.corrupt_next(1)  # line noise: one poll result with a bad FCS
            await sim.send(
                SimEvent(Kind.SPO2, {"spo2_pct": 96.0, "pulse_bpm": 90.0}),
                t0 + timedelta(seconds=2),
            )
            await _polls(sim, 3)
            await sim.drop_link()  # unplugged ...
            await asyncio.sleep(1.0)
            await sim.restore_link()  # ... and plugged in again: the daemon re-associates
            await eventually(lambda: sim.mds_confirmed, 30, "associated")
            await sim.send(
                SimEvent(Kind.SPO2, {"spo2_pct": 95.0, "pulse_bpm": 88.0}),
                t0 + timedelta(seconds=6),
            )
            await _polls(sim, 2)
            stop.set()
            await task


if __name__ == "__main__":
    asyncio.run(main())
