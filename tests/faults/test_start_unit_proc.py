"""The check-after-start of a restarted daemon (monitord/storecheck.py) must hold under the
shipped unit. Its `ProcSubset=pid` mounts the service's /proc with `subset=pid`
(systemd.exec(5); the kernel's Documentation/filesystems/proc.rst: "subset=pid hides all
top level files and directories in the procfs that are not related to tasks"), so
/proc/sys/kernel/random/boot_id cannot be read. The record of a store found sound was
keyed by that boot id only: under the unit it was never written, and every restart read
the whole store before opening a device (minutes on a Pi's SD card, no alarm possible).
Now it is kept in the runtime directory (`RuntimeDirectory=monitord`: a tmpfs emptied at
every boot, kept across restarts by `RuntimeDirectoryPreserve=yes`).

Real parts: `monitord run` in a mount namespace of its own whose /proc is mounted as
systemd mounts the unit's (`unshare -m`, as root: the suite runs as root), a simulated
oximeter, a store built through the store's API.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.faults.test_bad_store import Run, config, good_store
from tests.kit import eventually

# The daemon under a /proc as the unit's `ProcSubset=pid` makes it (argv follows).
UNIT_PROC = (
    "unshare", "-m", "sh", "-c",
    'mount -t proc -o subset=pid proc /proc && exec "$@"', "sh",
)  # fmt: skip
LATER = "its whole-file check runs meanwhile"


async def run_once(cfg: Path, log: Path) -> str:
    run = Run(cfg, log, prefix=UNIT_PROC)
    try:
        await eventually(lambda: run.readings_shown() >= 3, 60, f"monitoring ({log.name})")
        if LATER in run.out():  # its check ran after the start: let it end
            await eventually(lambda: "whole-file check passed" in run.out(), 60, "check done")
    finally:
        assert run.stop() == 0, run.out()
    out = run.out()
    assert "Traceback" not in out and "TECHNICAL ALARM" not in out, out
    return out


def boot_id_under_unit_proc() -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*UNIT_PROC, "cat", "/proc/sys/kernel/random/boot_id"], capture_output=True
    )


async def test_under_the_units_proc_a_restart_checks_its_store_after_monitoring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hidden = boot_id_under_unit_proc()
    assert hidden.returncode != 0, hidden  # the boot id is out of the daemon's sight
    store = tmp_path / "outbox.sqlite"
    good_store(store)
    cfg = config(tmp_path, store)
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(run_dir))
    first = await run_once(cfg, tmp_path / "first.log")
    assert LATER not in first, first  # never checked: checked before monitoring
    second = await run_once(cfg, tmp_path / "second.log")
    # Found sound by the first run in this boot: monitored first, checked after.
    assert LATER in second, second
    # A reboot empties the runtime directory (a tmpfs): the next start checks first.
    shutil.rmtree(run_dir)
    run_dir.mkdir(mode=0o700)
    third = await run_once(cfg, tmp_path / "third.log")
    assert LATER not in third, third
