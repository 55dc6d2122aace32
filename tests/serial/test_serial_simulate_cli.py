"""`monitord simulate` as a subprocess, read by the real transport + IntelliVue driver,
and `monitord decode --profile intellivue|nonin-2`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from serial_testkit import RecordingContext, simulate_read

from monitord.drivers import intellivue_frames as F
from monitord.drivers.nonin2 import packet_frames
from monitord.models import Kind

SCENARIO = """\
# tiny scenario
{"t": 0, "event": "session_start", "protocol": "esketamine"}
{"t": 0.5, "event": "bp", "sys": 131, "dia": 84, "pulse": 66}
{"t": 1.0, "event": "hr", "hr": 66}
{"t": 1.5, "event": "spo2", "spo2": 98, "pulse": 65}
{"t": 20, "event": "end"}
"""


async def test_simulate_command_feeds_the_driver(tmp_path: Path, ctx: RecordingContext) -> None:
    sim = simulate_read(tmp_path, ctx, SCENARIO, "intellivue", 4, poll_interval_s=0.5)
    async with sim as (proc, _):
        await ctx.until(lambda: bool(ctx.of(Kind.SPO2)), "scenario played", 30)
        assert dict(ctx.of(Kind.BP)[0].values) == {
            "sys_mmHg": 131, "dia_mmHg": 84, "map_mmHg": None, "pulse_bpm": 66,
        }  # fmt: skip
        assert ctx.of(Kind.HR)[0].values["hr_bpm"] == 66
        assert dict(ctx.of(Kind.SPO2)[0].values) == {"spo2_pct": 98, "pulse_bpm": 65}
    assert await asyncio.wait_for(proc.wait(), 30) == 0


def test_simulate_bad_scenario_exit_65(tmp_path: Path) -> None:
    scen = tmp_path / "bad.jsonl"
    scen.write_text('{"t": 0, "event": "bp", "sys": 120}\n')
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "simulate", "--driver", "nonin-2", str(scen)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # the contract's reader (monitord/scenario.py): the file and line, then the reason
    assert r.returncode == 65 and f"{scen}:1: " in r.stderr and "needs sys and dia" in r.stderr


def _decode(profile: str, *data: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitord", "decode", "--profile", profile, *data],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_decode_profiles() -> None:
    obs = F.Observation(
        3, (F.ObservedValue(F.NOM_ECG_CARD_BEAT_RATE, 0, F.NOM_DIM_BEAT_PER_MIN, 61.0),)
    )
    r = _decode("intellivue", F.frame(F.poll_result(1, 1, 1, None, [obs])).hex(" "))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {
        "kind": "hr", "hr_bpm": 61.0, "measured_at": None, "status": [], "contact": None,
        "valid": True,
    }  # fmt: skip
    r = _decode("nonin-2", packet_frames(72, 97).hex())  # one whole 25-frame packet
    assert r.returncode == 0 and json.loads(r.stdout)["spo2_pct"] == 97
    r = _decode("intellivue", F.frame(b"x", corrupt_fcs=True).hex())
    assert r.returncode == 65 and json.loads(r.stdout)["rejected"] == "bad_checksum"


def test_simulate_stopped_by_sigterm_removes_its_link(tmp_path: Path) -> None:
    """`kill` (SIGTERM) left the --link pointing at the simulator's /dev/pts number, which
    the kernel gives to the next pty opened: a daemon or `monitord doctor` on the link then
    found another program's terminal ("present and in use"; seen in a Debian 13 chroot,
    whose /dev/pts is the host's). Now the device is closed as at the scenario's end."""
    scen = tmp_path / "s.jsonl"
    scen.write_text(SCENARIO)
    link = tmp_path / "oxi"
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitord", "simulate", "--driver", "masimo-ascii",
         "--link", str(link), "--speed", "1", str(scen)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == str(link)
        assert link.is_symlink()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert "stopped (SIGTERM)" in err, err
    assert not link.is_symlink(), f"{link} left behind, pointing at {os.readlink(link)}"
