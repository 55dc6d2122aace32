"""The REMS record of a session during which the chair's store was replaced.

A nurse starts a session and doses; the daemon is stopped and its store found unusable at
the next start (here its header overwritten, as a failing card can): the daemon moves it
aside to `outbox.sqlite.bad-<UTC time>` and starts a fresh store (`store.replaced`). The
session's start, dose and first vitals are in the old file; the fresh store's engine has
no session open, so the nurse's end is refused and the later vitals are stored outside
any session. Before, `monitord report` on the store (what the clinical lead files the
form from) listed nothing for that day and said "no session ...": the dosed session was
simply absent, with no word of the other file. Now every report on that store says when
it was started fresh and where the rest is (one line on stderr; `--date` with no session
says it in its error line), and a report on the moved-aside file (once recovered) says
where what came after is.

Real parts: `monitord run` as a subprocess, the e2e Masimo oximeter on a pty, the real
mosquitto for the session commands, `monitord report` as the lead runs it.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.e2e_kit import DaemonProcess, LiveFeed, Oximeter, Store, commanded_chair
from tests.faults.storekit import monitord
from tests.faults.test_mqtt_commands import cmd, connects, publish, sessions
from tests.kit import eventually
from tests.servers import Mosquitto

SID = "s-replaced"


def copy_of(db: Path, to: Path) -> None:
    """A consistent copy of the store (its -wal applied): the lead's recovered file."""
    src, dst = sqlite3.connect(f"file:{db}?mode=ro", uri=True), sqlite3.connect(to)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


async def test_a_session_across_a_replaced_store_says_where_its_start_is(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b, cfg, db, store = commanded_chair(tmp_path, mosquitto, mqtt_prefix)
    log = tmp_path / "daemon.log"
    async with Oximeter(tmp_path) as ox, LiveFeed(ox, period_s=0.25):
        first = DaemonProcess(cfg, log)
        first.start()
        try:
            await eventually(lambda: connects(first) == 1, 30, "daemon connected")
            await publish(mosquitto, f"{b}/cmd/session", cmd("start", session_id=SID))
            await publish(mosquitto, f"{b}/cmd/session", cmd("dose_start"))
            await eventually(lambda: sessions(store) == ["start", "dose_start"], 20, "dosed")
            have = store.readings()
            await eventually(lambda: store.readings() >= have + 3, 20, "first vitals")
        finally:
            assert first.stop() == 0, first.output()
        recovered = tmp_path / "recovered.sqlite"
        copy_of(db, recovered)
        spoil(db)

        second = DaemonProcess(cfg, log)
        second.start()
        try:
            await eventually(lambda: "store.replaced" in second.output(), 30, "replaced")
            await eventually(lambda: connects(second) == 2, 30, "daemon connected again")
            fresh = Store(db)
            await eventually(lambda: fresh.readings() >= 3, 20, "vitals in the fresh store")
            await publish(mosquitto, f"{b}/cmd/session", cmd("end", session_id=SID))
            have = fresh.readings()
            await eventually(lambda: fresh.readings() >= have + 3, 20, "later vitals")
            assert sessions(fresh) == [], sessions(fresh)  # the end refused: nothing open
        finally:
            assert second.stop() == 0, second.output()
    assert "Traceback" not in second.output(), second.output()
    check_reports(tmp_path, db, recovered)


def spoil(db: Path) -> None:
    with open(db, "r+b") as f:  # the header gone: SQLite calls it "not a database"
        f.write(b"\xde\xad" * 50)


def check_reports(tmp_path: Path, db: Path, recovered: Path) -> None:
    """What the lead's reports say: on the store, on the moved-aside file recovered."""
    bad = [p for p in tmp_path.iterdir() if p.name.startswith("outbox.sqlite.bad-")]
    bad = [p for p in bad if not p.name.endswith(("-wal", "-shm"))]
    assert len(bad) == 1, sorted(p.name for p in tmp_path.iterdir())
    old = bad[0]

    # The lead lists the chair's store: no session there, and a line saying where it is.
    listed = monitord("report", "--db", str(db), "--list", timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "", listed.stdout
    lines = listed.stderr.strip().splitlines()
    assert lines, "the store was replaced, and the report said nothing of it"
    line = lines[0]
    assert "this store was started fresh at " in line, listed.stderr
    assert f"moved to {old}" in line and f"report it with --db {old}" in line, line
    assert "start, dose and first vitals there" in line, line

    # The day's records: refused as none, in one line that says where the session is.
    today = datetime.now(UTC).date().isoformat()
    day = monitord(
        "report", "--db", str(db), "--date", today, "--out", str(tmp_path / "r"), timeout=120
    )
    assert day.returncode == 66, day
    lines = day.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("monitord report: no session"), day.stderr
    assert f"--db {old}" in lines[0], lines[0]

    # The moved-aside file, once recovered (here: the copy taken before its header went):
    # the session, not ended, and a line saying the rest of it is in the store.
    recovered.replace(old)
    aside = monitord("report", "--db", str(old), "--list", timeout=120)
    assert aside.returncode == 0, aside.stderr
    assert f"\t{SID}\tNOT ENDED" in aside.stdout, aside.stdout
    assert f"what was recorded after then is in {db}, not here" in aside.stderr, aside.stderr
