"""Issue 12, defect 10: a second `monitord run` on the same config is refused.

Two real daemon processes on one config, with a real mosquitto (two daemons with one
client id would throw each other off the broker) and a real oximeter on a pty. Proves:
the second exits 75 at once with one line naming the first's pid, touches nothing, and
the first keeps its broker connection and keeps storing; after the first is SIGKILLed (no
chance to clean up), a new daemon starts: a stale lock file never blocks a restart.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from tests.e2e.e2e_kit import (
    COUNTING_COMMIT_S,
    DaemonProcess,
    Oximeter,
    Store,
    in_thread,
    mqtt_section,
    whole_second,
    write_config,
)
from tests.kit import eventually
from tests.servers import Mosquitto


def second_run(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitord", "run", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


async def test_second_daemon_on_one_store_exits_75_naming_the_first(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    # Readings committed every 0.5 s, not 5: "still storing" below is seen in a moment (at
    # 5 s it took most of the 5 s the test waits for it).
    cfg = write_config(
        tmp_path,
        mqtt=mqtt_section(mosquitto, mqtt_prefix),
        extra=f"commit_interval_s = {COUNTING_COMMIT_S}\n",
    )
    store = Store(tmp_path / "outbox.sqlite")
    first = DaemonProcess(cfg, tmp_path / "first.log")
    third = DaemonProcess(cfg, tmp_path / "third.log")
    async with Oximeter(tmp_path) as ox:
        first.start()
        try:
            await eventually(lambda: "connected to" in first.output(), 30, "first connected")
            r = await in_thread(lambda: second_run(cfg))
            assert r.returncode == 75, r
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1, r.stderr
            assert first.proc is not None and f"pid {first.proc.pid}" in lines[0], r.stderr
            assert str(tmp_path / "outbox.sqlite") in lines[0]
            # The first one is undisturbed: still connected once, still storing.
            for _ in range(50):
                await ox.send(97.0, whole_second())
                await asyncio.sleep(0.1)
                if store.readings() >= 3:
                    break
            assert store.readings() >= 3
            assert first.alive
            assert first.output().count("connected to") == 1, first.output()

            first.kill()  # SIGKILL: the lock file stays behind, the lock does not
            third.start()
            await eventually(lambda: "connected to" in third.output(), 30, "restart connected")
            assert third.alive, third.output()
        finally:
            if first.alive:
                first.stop()
            rc = third.stop() if third.proc is not None else 0
    assert rc == 0, third.output()
