"""A Pi taken back to an older monitord with the newer one's store still in place
(docs/install.md, going back to an older version): `monitord status` and `monitord
report` say in one line which schema the store has, which this monitord knows, and what
to do; they said only "newer than this monitord". The file is not touched."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from monitord.outbox import SCHEMA_VERSION
from tests.faults.test_bad_store import good_store


@pytest.mark.parametrize(
    ("command", "code"),
    [(["status"], 1), (["report", "--list"], 66)],
    ids=["status", "report"],
)
def test_a_newer_store_is_named_with_both_versions_and_left_as_it_is(
    tmp_path: Path, command: list[str], code: int
) -> None:
    store = tmp_path / "outbox.sqlite"
    good_store(store)
    with sqlite3.connect(store) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    r = subprocess.run(
        [sys.executable, "-m", "monitord", *command, "--db", str(store)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == code, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert (
        f"{store}: schema v{SCHEMA_VERSION + 1} is newer than this monitord (v{SCHEMA_VERSION}): "
        "a newer monitord wrote it; read it with that version or a later one" in lines[0]
    ), lines[0]
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    db.close()
