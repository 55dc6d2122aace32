"""`monitord status` on a full disk (its store closed, so no -shm beside it): SQLite
cannot make the -shm it needs even to read a WAL store and says "disk I/O error". Under
the daemon's own technical alarm (the store kept, this run from memory: the disk is
full), status said the store itself was the fault: "cannot read it as a monitord store
(disk I/O error)", a technician sent looking for a bad file in an intact store. Now it
says the disk is full, that the store was not read for lack of room, and the fix; and
with space freed the same command reads it. Real parts: a tmpfs mounted by the test,
filled to ENOSPC by another file, the store written by a real Outbox, the daemon's store
open (storeopen.py) with its alarm side file, `monitord status` as a command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.storeopen import open_store
from monitord.techalarm import TechAlarms
from tests.faults.storekit import fill, monitord, tmpfs
from tests.faults.test_full_disk_at_start import WRITE


def test_status_on_a_full_disk_says_the_disk_is_full_not_that_the_store_is_bad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    with tmpfs(tmp_path / "disk", "4m") as disk:
        store = disk / "outbox.sqlite"
        subprocess.run([sys.executable, "-c", WRITE, str(store), "closed"], check=True)
        filler = fill(disk)
        alarms = TechAlarms()
        alarms.attach(store)
        try:
            open_store(StorageConfig(path=store), alarms).close()
            assert list(alarms.active) == ["store.memory"], alarms.active

            r = monitord("status", "--db", str(store))
            assert r.returncode == 1, r
            assert "TECHNICAL ALARM store.memory" in r.stdout, r.stdout
            (line,) = r.stderr.splitlines()
            assert "as a monitord store" not in line, line
            assert "the disk it is on is full" in line, line
            assert "free space on that disk" in line, line

            filler.unlink()
            r = monitord("status", "--db", str(store))
            assert r.returncode == 0, r.stderr
            assert "chair chair-1" in r.stdout, r.stdout
        finally:
            alarms.close()
