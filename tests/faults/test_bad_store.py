"""Issue 12, defect 9: a bad store at start must not leave the chair without monitoring.

Each case puts a real bad file (or a directory, or a read-only mount) where the store
lives and starts a real `monitord run` subprocess with a simulated oximeter chair.
Proves: the daemon starts and monitors (readings flow into a fresh store, or a store in
memory where nothing can be written), the bad file is moved aside to `NAME.bad-<time>`
with its bytes intact (never deleted), one CRITICAL line says what happened and
`monitord status` shows the technical alarm; a store from a newer monitord is refused with
exit 78 and the reason, and left untouched.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from tests.delivery.helpers import alert, reading
from tests.faults.storekit import monitord, remount, tmpfs
from tests.kit import eventually

SCENARIO = "\n".join(
    [f'{{"t": {t}, "event": "spo2", "spo2": 97, "pulse": 70}}' for t in range(0, 600)]
    + ['{"t": 600, "event": "end"}']
)


# The commit interval of the tests that wait for readings shown (see `config`).
COMMIT_S = 0.5


def config(tmp: Path, store: Path, commit_interval_s: float | None = None) -> Path:
    """`commit_interval_s`: the store's (default 5 s). A reading reaches the console once
    committed, so a test that waits for readings shown waits a whole interval for the
    first: 0.5 s for tests that start daemons one after another."""
    (tmp / "s.jsonl").write_text(SCENARIO + "\n")
    commit = "" if commit_interval_s is None else f"commit_interval_s = {commit_interval_s}"
    cfg = tmp / "monitord.toml"
    cfg.write_text(
        f"""
[site]
id = "site-f"
[mqtt]
enabled = false
[influx]
enabled = false
[storage]
path = "{store}"
{commit}
[[chairs]]
id = "chair-1"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  simulate = "{tmp / "s.jsonl"}"
  simulate_speed = 20
"""
    )
    return cfg


def good_store(path: Path) -> None:
    ob = Outbox(path, StorageConfig(path=path))
    for i in range(40):
        ob.add_readings([reading(i * 20 + j) for j in range(20)], {"chair-1": "s-1"})
        ob.add_alert_events([alert(i)])
        ob.commit()
    ob.close()


def garbage(p: Path) -> None:
    p.write_bytes(os.urandom(20_000))


def truncated(p: Path) -> None:
    good_store(p)
    os.truncate(p, p.stat().st_size // 2)


def truncated_mid_page(p: Path) -> None:
    """Cut inside a page: SQLite's read of it comes up short (SQLITE_IOERR_SHORT_READ),
    which it zero-fills and then judges malformed: a bad file, moved aside, not kept as
    a failing card's I/O error (monitord/storeopen.py `_card_fault`)."""
    good_store(p)
    os.truncate(p, p.stat().st_size // 2 + 1234)


def corrupt(p: Path) -> None:
    good_store(p)
    with open(p, "r+b") as f:  # one b-tree page overwritten (a bad SD card sector)
        f.seek(4096 * 5)
        f.write(os.urandom(4096))


def directory(p: Path) -> None:
    p.mkdir()
    (p / "something").write_text("x")


def digest(p: Path) -> str:
    if p.is_dir():
        return "dir:" + ",".join(sorted(os.listdir(p)))
    return hashlib.sha256(p.read_bytes()).hexdigest()


def moved_aside(d: Path) -> list[Path]:
    return [
        p
        for p in d.iterdir()
        if p.name.startswith("outbox.sqlite.bad-") and not p.name.endswith(("-wal", "-shm"))
    ]


class Run:
    """`monitord run --console` in the background, output in a file."""

    def __init__(self, cfg: Path, log: Path, prefix: tuple[str, ...] = ()) -> None:
        """`prefix`: a command the daemon runs under (setpriv, to drop a capability)."""
        self.log = log
        argv = [*prefix, sys.executable, "-m", "monitord", "run", "--console", "--config"]
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                [*argv, str(cfg)],
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def out(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def readings_shown(self) -> int:
        return sum(" SpO2 " in line for line in self.out().splitlines())


@pytest.mark.parametrize(
    "spoil",
    [garbage, truncated, truncated_mid_page, corrupt, directory],
    ids=lambda f: f.__name__,
)
async def test_bad_store_is_moved_aside_and_monitoring_starts(
    tmp_path: Path, spoil: Callable[[Path], None]
) -> None:
    store = tmp_path / "outbox.sqlite"
    spoil(store)
    before = digest(store)
    cfg = config(tmp_path, store, COMMIT_S)
    run = Run(cfg, tmp_path / "daemon.log")
    try:
        await eventually(
            lambda: run.proc.poll() is not None or run.readings_shown() >= 5, 60, "monitoring"
        )
        assert run.proc.poll() is None, run.out()
        st = monitord("status", "--config", str(cfg))
    finally:
        rc = run.stop()
    out = run.out()
    assert rc == 0, out
    assert "Traceback" not in out, out
    bad = moved_aside(tmp_path)
    assert len(bad) == 1, sorted(os.listdir(tmp_path))
    assert digest(bad[0]) == before  # moved aside intact, never deleted
    critical = [ln for ln in out.splitlines() if ln.startswith("CRITICAL")]
    assert len(critical) == 1 and "store.replaced" in critical[0], out
    assert bad[0].name in critical[0]
    assert "TECHNICAL ALARM store.replaced" in st.stdout, st
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:  # the fresh store took the readings
        n = db.execute("SELECT count(*) FROM records WHERE type = 'reading'").fetchone()[0]
    finally:
        db.close()
    assert n >= 5


def test_newer_schema_is_refused_with_exit_78(tmp_path: Path) -> None:
    store = tmp_path / "outbox.sqlite"
    good_store(store)
    db = sqlite3.connect(store)
    db.execute("PRAGMA user_version = 99")
    db.close()
    before = digest(store)
    r = monitord("run", "--config", str(config(tmp_path, store)), timeout=60)
    assert r.returncode == 78, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "newer" in lines[0] and str(store) in lines[0], r.stderr
    assert digest(store) == before
    assert not moved_aside(tmp_path)


async def test_read_only_store_runs_in_memory_with_an_alarm(tmp_path: Path) -> None:
    """The store's file system is mounted read-only (a failing SD card remounts itself so):
    nothing can be moved or created there. The daemon monitors anyway, on a store in
    memory, and says so (see monitord/storeopen.py for why not exit)."""
    with tmpfs(tmp_path / "ro", "8m") as ro:
        store = ro / "outbox.sqlite"
        good_store(store)
        remount(ro, "ro")
        before = digest(store)
        run = Run(config(tmp_path, store, COMMIT_S), tmp_path / "daemon.log")
        try:
            await eventually(
                lambda: run.proc.poll() is not None or run.readings_shown() >= 5, 60, "monitoring"
            )
            assert run.proc.poll() is None, run.out()
        finally:
            rc = run.stop()
        out = run.out()
        assert rc == 0, out
        assert "Traceback" not in out, out
        critical = [ln for ln in out.splitlines() if ln.startswith("CRITICAL")]
        assert len(critical) == 1 and "store.memory" in critical[0], out
        assert "!!! TECHNICAL ALARM store.memory" in out  # on the console too
        assert digest(store) == before
