"""A field problem as a test case: a recorded capture (tests/capture/cases/, see the
generator next to it for the story) decoded by `monitord decode --file`, and played back
by `monitord simulate --capture` on a pty to the real serial transport and driver.

The case: one poll result with a bad checksum (line noise on a long RS-232 cable), then
the cable unplugged and plugged in again; after re-association the monitor reports the
last NIBP (186/112) again. Nothing may be lost, the noise is one counted reject, and the
NIBP is one measurement, not two.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from pathlib import Path

from monitord.drivers.base import RejectReason
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from tests.kit import RecordingContext, device_config

from .capture_kit import decode_file

CASE = Path(__file__).parent / "cases" / "intellivue-noise-replug.capture.jsonl"


def test_decode_file_tells_the_story() -> None:
    rc, out, err = decode_file(CASE)
    assert rc == 65  # the noise is a rejected frame, said on one line
    assert [line.split(": rejected: ")[1] for line in err.splitlines()] == [
        "bad_checksum: FCS-16 mismatch"
    ]
    readings = [r for r in out if "rejected" not in r]
    assert [(r["kind"], r.get("sys_mmHg"), r.get("spo2_pct")) for r in readings] == [
        ("bp", 186.0, None),
        ("hr", None, None),
        ("spo2", None, 97.0),
        ("spo2", None, 96.0),
        ("spo2", None, 95.0),  # after the replug; the NIBP re-reported then is no new one
    ]
    assert all(r["valid"] and r["measured_at"] == r["device_time"] for r in readings)


async def test_simulate_capture_plays_the_case_to_the_driver(tmp_path: Path) -> None:
    _, decoded, _ = decode_file(CASE)
    want = [
        (r["kind"], {k: v for k, v in r.items() if k.endswith(("_mmHg", "_bpm", "_pct"))},
         r["device_time"], r["valid"])
        for r in decoded if "rejected" not in r
    ]  # fmt: skip
    link = tmp_path / "mp30"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitord", "simulate", "--capture", str(CASE),
        "--link", str(link), "--speed", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    assert first == str(link)
    ctx = RecordingContext(chair="chair-3", device="mon")
    dev = device_config(id="mon", driver="intellivue", port=first, poll_interval_s=0.5)
    task = asyncio.create_task(
        run_serial_device(dev, DRIVERS["intellivue"], ctx, backoff=PortBackoff(0.05, 0.3))
    )
    try:
        await ctx.until(lambda: len(ctx.readings) >= len(want), "the capture's readings", 60)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    got = [
        (str(r.kind), dict(r.values),
         r.device_time.isoformat().replace("+00:00", "Z") if r.device_time else None, r.valid)
        for r in ctx.readings
    ]  # fmt: skip
    assert got == want
    assert [r.reason for r in ctx.rejects] == [RejectReason.BAD_CHECKSUM]
    # unplugged, replugged; a down told again only when its cause changed (the read
    # failed, then the port was missing), never twice in a row for one cause
    ups = [up for up, _ in ctx.links]
    assert [k for k, _ in itertools.groupby(ups)] == [True, False, True, False], ctx.links
    causes = [why.partition(":")[0] for _up, why in ctx.links]
    assert all(a != b for a, b in itertools.pairwise(causes)), ctx.links
