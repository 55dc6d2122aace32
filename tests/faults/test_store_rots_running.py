"""A page of the store the running daemon writes goes bad (a card rotting under it; or a
store run unchecked until its late check, monitord/storecheck.py): its commits fail with
SQLITE_CORRUPT. That was taken for a bug of monitord's: the batches dropped, and
`store.dropped` said "a bug ... report it with the journal", nothing about the file, and the
record of the store found sound in this boot kept, so the next start trusted it again.
Now it is said as the bad file it is (`store.unsound`: what to do), alarms still show live,
and the record is forgotten: the next start checks the store first and moves it aside.

Real parts: the daemon on a real store file; the page spoiled in the file itself (its
rightmost leaf of records, where the next commit appends), then another connection's
write so the daemon's SQLite drops its page cache, as it does when the file changes.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.hub import CommittedBatch
from monitord.models import Kind
from monitord.storecheck import sound_this_boot
from tests.faults.writerkit import reading, running, two_chairs
from tests.kit import eventually

ALERTS = '"spo2.very_low" = { for_s = 0 }\n'


def stored(store: Path) -> int:
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        db.close()


def spoil_the_page_written_next(store: Path) -> None:
    """Everything in the file itself (the WAL emptied), its records' last leaf overwritten,
    then a write of another connection (the same value), which makes the daemon's
    connection read its pages afresh."""
    db = sqlite3.connect(store, timeout=10, isolation_level=None)
    try:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
        off, size = db.execute(
            "SELECT pgoffset, pgsize FROM dbstat WHERE name = 'records' AND pagetype = 'leaf'"
            " ORDER BY path DESC LIMIT 1"
        ).fetchone()
        with open(store, "r+b") as f:
            f.seek(off)
            f.write(os.urandom(size))
            os.fsync(f.fileno())
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute(f"PRAGMA user_version = {int(version)}")
    finally:
        db.close()


async def test_a_page_gone_bad_under_the_running_daemon_is_said_as_a_bad_store(
    tmp_path: Path,
) -> None:
    daemon = Daemon(loads_config(two_chairs(tmp_path, "rot", alerts=ALERTS)))
    store = daemon.outbox.path
    assert sound_this_boot(store)  # created now: a restart in this boot would check after
    shown: list[list[str]] = []

    def listener(b: CommittedBatch) -> None:
        if b.chair == "chair-a" and b.events:
            shown.append(sorted(str(a["rule"]) for a in b.active or ()))

    daemon.hub.subscribe(listener, "test")
    async with running(daemon):
        a = daemon.chairs["chair-a"]
        a.submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 97.0}))
        await eventually(lambda: stored(store) > 0, 10, "a reading stored")
        spoil_the_page_written_next(store)
        a.submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0}))
        await eventually(lambda: daemon.alarms.active, 10, "a technical alarm")
        # The nurse still sees the SpO2 alarm (live, in the active set).
        await eventually(lambda: ["spo2.very_low"] in shown, 10, "the alarm shown")
    active = daemon.alarms.active
    assert "store.dropped" not in active, active  # not a bug of monitord's
    text = active["store.unsound"]["text"]
    assert f"the store {store} is unusable" in text, text
    assert "malformed" in text and "moves it aside" in text, text
    assert not sound_this_boot(store)  # the next start checks it first


async def test_a_store_gone_bad_is_said_once_then_once_an_hour_not_at_every_commit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every commit after the page went bad fails (marks-only ones too): that was an ERROR
    line at each, several a second for hours. Said once, counted at DEBUG in between, said
    again an hour on with the count; the alarm raised as before."""
    caplog.set_level(logging.DEBUG, logger="monitord.store")
    daemon = Daemon(loads_config(two_chairs(tmp_path, "rot", alerts=ALERTS)))
    store = daemon.outbox.path
    clock = [1000.0]
    daemon.store._droplog.now = lambda: clock[0]

    def said(level: int) -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.levelno == level and "cannot be stored" in r.getMessage()]  # fmt: skip

    async with running(daemon):
        a = daemon.chairs["chair-a"]
        a.submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 97.0}))
        await eventually(lambda: stored(store) > 0, 10, "a reading stored")
        spoil_the_page_written_next(store)

        def refused() -> int:
            return len(said(logging.ERROR) + said(logging.DEBUG))

        for i in range(5):
            a.submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 96.0 - i}))
            await eventually(lambda: refused() > i, 10, "a commit refused")  # noqa: B023
        assert len(said(logging.ERROR)) == 1, said(logging.ERROR)
        assert said(logging.ERROR)[0].endswith(": dropped"), said(logging.ERROR)
        assert len(said(logging.DEBUG)) >= 4
        clock[0] += 3600.0  # an hour on: said again, with what was dropped since
        a.submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0}))
        await eventually(lambda: len(said(logging.ERROR)) == 2, 10, "said again")
    lines = [r for r in caplog.records if "cannot be stored" in r.getMessage()]
    second = [i for i, r in enumerate(lines) if r.levelno == logging.ERROR][1]
    again, more = lines[second].getMessage(), second - 1  # each one between at DEBUG
    assert f"({more} more commit(s) refused since it was last said, " in again, again
    assert "store.unsound" in daemon.alarms.active  # the alarm as before
