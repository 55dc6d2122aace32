"""`monitord decode --file` of a capture the daemon logs about (a Masimo's port going
from one monitor to another: a WARNING at each), its output and its log in one file
read as a pager reads (`monitord decode --file X 2>&1 | less`): each of its lines stays
whole. Before, a reading's JSON was written in two writes (`print`: the text, then its
newline, under PYTHONUNBUFFERED=1) or cut wherever stdout's 8 KB buffer filled, and the
log's own thread (monitord/logwriter.py), writing the replay's WARNINGs meanwhile,
landed a line inside it: `{"t": 32.0, ... "contact": true}WARNING monitord.drivers...`,
a line neither JSON nor the log's.

Real parts: the command as a subprocess, a one-page pipe for both its outputs (the
pager's, which fills while the pager shows its first screen), read a little at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.capture.capture_kit import masimo_swaps
from tests.log_kit import one_page_pipe, pipe_full

LINES = 600  # 600 readings, 199 WARNINGs: more than the pipe holds while the replay runs
WARNING = "WARNING monitord.drivers.masimo_ascii: chair-1/spo2: the monitor on this port is now"


@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_a_captures_readings_and_its_log_lines_stay_whole_in_one_file(
    tmp_path: Path, unbuffered: str
) -> None:
    cap = masimo_swaps(tmp_path / "swaps.capture.jsonl", LINES)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "JOURNAL_STREAM")}
    env["PYTHONUNBUFFERED"] = unbuffered  # "": Python's own buffering
    read_end, write_end = one_page_pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitord", "decode", "--file", str(cap)],
        stdout=write_end, stderr=write_end, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    os.close(write_end)
    got = bytearray()
    try:
        while not pipe_full(read_end) and proc.poll() is None:
            time.sleep(0.02)  # the pager's first screen, the pipe filling behind it
        while data := os.read(read_end, 1024):  # the pager read on, a little at a time
            got += data
    finally:
        os.close(read_end)
        proc.wait(30)
    assert proc.returncode == 0
    lines = got.decode().splitlines()
    torn = [ln for ln in lines if not ln.startswith(WARNING) and not ln.endswith("}")]
    assert not torn, torn[:3]
    readings = [json.loads(ln) for ln in lines if ln.startswith("{")]
    assert [r["t"] for r in readings] == [1.0 + i for i in range(LINES)]
    assert sum(ln.startswith(WARNING) for ln in lines) == LINES // 3 - 1
