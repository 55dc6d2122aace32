"""A store migration from an old schema runs before READY=1 and, on a large store on a Pi's
SD card, could outlast systemd's start timeout (TimeoutStartSec, 90 s by default): the
daemon was killed and restarted into the same migration, never monitoring. While it
migrates, the daemon now sends EXTEND_TIMEOUT_USEC= (monitord/sdnotify.py StartExtender),
from SQLite's progress handler: a migration that hangs stops sending it."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import _MIGRATIONS, SCHEMA_VERSION, Outbox, _split_sql
from monitord.sdnotify import Notifier, StartExtender
from tests.test_lifecycle import sim_config


def v1_store(path: Path, rows: int) -> None:
    """An outbox as monitord wrote it at schema v1, with `rows` readings."""
    db = sqlite3_connect(path)
    for stmt in _split_sql(_MIGRATIONS[0]):
        db.execute(stmt)
    db.execute("PRAGMA user_version = 1")
    body = {"chair": "chair-1", "device": "ox", "kind": "spo2", "values": {"spo2_pct": 97},
            "measured_at": 1, "received_at": 1, "valid": True, "flags": [], "contact": True,
            "device_time": None, "session": None}  # fmt: skip
    db.execute("BEGIN")
    for i in range(rows):
        db.execute(
            "INSERT INTO records (type, chair, t_ns, body, influx, mqtt, added_ns) "
            "VALUES ('reading', 'chair-1', ?, ?, 1, NULL, 0)",
            (i + 1, json.dumps({**body, "measured_at": i + 1, "received_at": i + 1})),
        )
    db.execute("COMMIT")
    db.close()


def sqlite3_connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    return db


def test_a_migration_reports_progress_while_each_step_runs(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    v1_store(path, 3000)
    seen: list[str] = []
    ob = Outbox(path, StorageConfig(path=path), progress=seen.append)
    assert ob.schema_version() == SCHEMA_VERSION
    ob.close()
    steps = {f"migrating the store to schema v{v}" for v in range(2, SCHEMA_VERSION + 1)}
    assert set(seen) == steps
    # not only once per step: also from within the steps (SQLite's progress handler)
    assert len(seen) > len(steps), seen


def test_the_extender_sends_at_most_every_interval(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "n.sock"))
    sock.settimeout(0.5)
    now = [100.0]
    ext = StartExtender(Notifier(str(tmp_path / "n.sock")), every_s=5, extend_s=30,
                        clock=lambda: now[0])  # fmt: skip
    for t in (100.0, 101.0, 104.9, 105.0, 106.0):
        now[0] = t
        ext("migrating")
    got = [sock.recv(4096).decode() for _ in range(2)]
    sock.settimeout(0.1)
    try:
        extra = sock.recv(4096)
    except TimeoutError:
        extra = b""
    sock.close()
    assert extra == b""
    for msg in got:
        assert msg.split("\n")[:2] == ["EXTEND_TIMEOUT_USEC=30000000", "STATUS=migrating"]


def test_the_daemon_extends_its_start_while_it_migrates(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(sim_config(tmp_path))
    v1_store(tmp_path / "outbox.sqlite", 500)
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.5)
    env = {**os.environ, "NOTIFY_SOCKET": sock_path}
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitord", "run", "--config", str(cfg)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    msgs: list[str] = []
    try:
        until = time.monotonic() + 30
        while time.monotonic() < until and "READY=1" not in msgs and proc.poll() is None:
            try:
                msgs.extend(sock.recv(4096).decode().split("\n"))
            except TimeoutError:
                pass
        assert "READY=1" in msgs, (msgs, proc.poll())
        extend = [i for i, m in enumerate(msgs) if m.startswith("EXTEND_TIMEOUT_USEC=")]
        assert extend and extend[0] < msgs.index("READY=1"), msgs
        # the first from the integrity check before the migration (at most one each 5 s)
        assert msgs[extend[0] + 1] == "STATUS=checking the store", msgs
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        ob = Outbox(tmp_path / "outbox.sqlite", StorageConfig(path=tmp_path / "outbox.sqlite"))
        assert ob.schema_version() == SCHEMA_VERSION  # it did migrate
        ob.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
