"""A bench stopped by SIGTERM unwinds: its `finally` blocks (which stop its `monitord run`
child and its servers) run and its work dir goes. Before, Python died at once and the
bench's daemon lived on, retrying its ptys' /dev/pts/N paths and opening, exclusively,
the pty a later test or run got with that number (two CI runs failed on it)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, sys
from pathlib import Path
from bench.common import Workdir

out = Path(sys.argv[1])

async def run(wd: Path) -> None:
    try:
        (out / "workdir").write_text(str(wd))
        await asyncio.sleep(60)  # a bench's probes
    finally:
        # as alert_latency stops its daemon: an await inside the finally
        await asyncio.to_thread((out / "stopped").write_text, "daemon stopped")

with Workdir("sigterm-test-") as wd:
    asyncio.run(run(wd))
"""


def test_a_bench_stopped_by_sigterm_stops_its_children_and_removes_its_dir(
    tmp_path: Path,
) -> None:
    p = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "workdir").exists():
            assert p.poll() is None and time.monotonic() < deadline, "the bench never started"
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 128 + signal.SIGTERM
    finally:
        if p.poll() is None:
            p.kill()
    assert (tmp_path / "stopped").read_text() == "daemon stopped"
    assert not Path((tmp_path / "workdir").read_text()).exists()
