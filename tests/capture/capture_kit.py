"""Helpers for the capture tests: the CLI as subprocesses, configs, the daemon's store."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from monitord.config import StorageConfig
from monitord.models import Reading
from monitord.outbox import Outbox
from tests.kit import sighup_default

CHAIR = "chair-1"


def config(tmp: Path, name: str, device: str) -> Path:
    """A one-chair config (no MQTT, no InfluxDB) with the given `[[chairs.devices]]` body."""
    path = tmp / f"{name}.toml"
    path.write_text(
        f"""
[site]
id = "site-capture"
[mqtt]
enabled = false
[influx]
enabled = false
[storage]
path = "{tmp / f"{name}.sqlite"}"
[[chairs]]
id = "{CHAIR}"
  [[chairs.devices]]
{device}
"""
    )
    return path


async def monitord(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitord", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=sighup_default,
    )  # fmt: skip


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    """SIGTERM, then (exit code, stdout, stderr)."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def decode_file(path: Path) -> tuple[int, list[dict[str, Any]], str]:
    """`monitord decode --file PATH`: (exit code, one object per stdout line, stderr)."""
    p = subprocess.run(
        [sys.executable, "-m", "monitord", "decode", "--file", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return p.returncode, [json.loads(line) for line in p.stdout.splitlines()], p.stderr


def stored_readings(db: Path) -> list[Reading]:
    """Every reading the daemon committed to its outbox, in arrival order."""
    ob = Outbox(db, StorageConfig(path=db), readonly=True)
    try:
        return sorted((r for r, _ in ob.readings()), key=lambda r: r.seq)
    finally:
        ob.close()


def comparable(rec: dict[str, Any]) -> dict[str, Any]:
    """A reading of `decode --file` without its receive offset `t` (two runs differ)."""
    return {k: v for k, v in rec.items() if k != "t"}


def as_record(r: Reading) -> dict[str, Any]:
    """A stored reading in the `decode --file` shape (monitord/capturefile.py)."""
    from monitord.capturefile import reading_record

    return comparable(reading_record(r, 0.0))


# Two Masimo monitors' serial numbers (real ones: github.com/yahnatan/pulseox, OpenICE).
SN_A, SN_B = "0000056661", "0000066575"


def masimo_swaps(path: Path, lines: int) -> Path:
    """A Masimo ASCII 1 capture whose port goes from one monitor to the other every 3
    lines (masimo_serial_no.CONFIRM_LINES): one reading per line and, from the second
    switch on, the daemon's WARNING "the monitor on this port is now SN=..." at each."""
    head = {
        "format": "monitord-capture", "version": 1, "transport": "serial",
        "driver": "masimo-ascii", "chair": CHAIR, "device": "spo2",
        "config": {"port": "/dev/ttyUSB0"}, "monitord": "0.1.0", "advertised_name": None,
        "address": "/dev/ttyUSB0", "started_at": "2026-11-30T00:00:00Z",
    }  # fmt: skip
    out = [head, {"t": 0.0, "event": "connected", "name": None, "address": "/dev/ttyUSB0"}]
    for i in range(lines):
        sn = SN_A if (i // 3) % 2 == 0 else SN_B
        clock = f"{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
        line = (
            f"02/22/16 {clock} SN={sn} SPO2=098% BPM=097 PI=03.60% SPCO=--.-% "
            "SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n"
        )
        out.append({"t": 1.0 + i, "dir": "rx", "hex": line.encode().hex()})
    path.write_text("".join(json.dumps(x) + "\n" for x in out))
    return path
