"""A daemon restarted on a large store monitored nothing until its whole-file check
(`PRAGMA quick_check`, every page of the file) was done: ~7 s for a 322 MB store from a
cold cache on an x86 VM, minutes on a Pi's SD card; all that time the chair was OFFLINE
and no alarm could be raised. A store found sound in this boot (a restart after a crash,
a watchdog kill, an upgrade) is now checked after monitoring has started
(monitord/storecheck.py); after a reboot or power loss, or a file never checked, first,
as before (tests/faults/test_bad_store.py).

Real parts: `monitord run` reading a Masimo oximeter on a pty, publishing to a real
mosquitto; its store built through the store's own API and made slow to read by the
LD_PRELOAD shim tests/faults/sdfail.c (every read of it 3 ms longer, the bytes read from
it counted), so its check takes tens of seconds on a store of a few tens of MB.

Proves: after a crash (SIGKILL), the restarted daemon raises and publishes an alarm while
it has read less of its store than a whole-file check reads (every page in use): before,
it had read all of it first. And a store gone bad while found sound in this boot is said
(`store.unsound`) while monitoring goes on, and moved aside by the next start.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.store.codec import SINKS
from tests.delivery.helpers import reading
from tests.e2e.e2e_kit import (
    CHAIR,
    FAST_SPO2_ALERT,
    SITE,
    DaemonProcess,
    Oximeter,
    mqtt_section,
)
from tests.faults.sdkit import FailingCardDaemon, build
from tests.faults.test_bad_store import COMMIT_S, Run, config, good_store, moved_aside
from tests.faults.test_card_failing import config_on_card
from tests.faults.test_store_full import feed_until
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

ROWS = 200_000  # ~25 MB: ~6,000 pages, each read 3 ms longer: a check of ~20 s


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Days of one chair's readings, delivered, through the store's API (built once)."""
    path = tmp_path_factory.mktemp("big") / "outbox.sqlite"
    ob = Outbox(path, StorageConfig(path=path))
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=ROWS + 7200)
    for k in range(0, ROWS, 5000):
        ids = ob.add_readings([reading(i, CHAIR, t0) for i in range(k, k + 5000)], {})
        ob.commit()
        for sink in SINKS:
            ob.mark_delivered(sink, ids)
    # As the daemon's minutely prune leaves it: its size counter settled (unsettled, the
    # first prune sums every row's size in one step, the alarm's commit queued behind it).
    ob.prune()
    ob.close()
    return path


def newest_id(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT max(id) FROM records").fetchone()[0])
    finally:
        db.close()


def bytes_in_use(path: Path) -> int:
    """What a whole-file check reads at least: every page but the free ones."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    finally:
        db.close()
    return int((pages - free) * size)


async def test_a_restart_after_a_crash_alarms_before_its_store_is_checked(
    tmp_path: Path, big_store: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    base = f"{mqtt_prefix}/{SITE}/{CHAIR}"
    cfg, card = config_on_card(
        tmp_path, mqtt=mqtt_section(mosquitto, mqtt_prefix), extra=FAST_SPO2_ALERT
    )
    store = card / "outbox.sqlite"
    shutil.copy(big_store, store)
    whole = bytes_in_use(store)
    count = tmp_path / "read-bytes"
    slow = FailingCardDaemon(
        cfg, tmp_path / "second.log", build(tmp_path), card, tmp_path / "never-failing",
        errno.EIO, read_us=3000, read_count=count,
    )  # fmt: skip
    async with (
        Observer(mosquitto, [f"{base}/alerts/active"]) as nurse,
        Oximeter(tmp_path) as ox,
    ):
        first = DaemonProcess(cfg, tmp_path / "first.log")
        first.start()
        try:  # it monitors (its check done at start) until a reading of its own is stored
            top = newest_id(store)
            await feed_until(ox, 97.0, lambda: newest_id(store) > top, "a reading stored")
        finally:
            first.kill()  # a crash: no clean stop
        slow.start()

        def very_low_shown() -> bool:
            last = nurse.of("alerts/active")[-1:]
            sets = [b["alerts"] for b in last if isinstance(b, dict)]
            return any(a["rule"] == "spo2.very_low" for al in sets for a in al)

        try:
            await feed_until(ox, 80.0, very_low_shown, "spo2.very_low published")
            read = int(count.read_text())
            # Published (so committed: durable before delivered) having read less of the
            # store than its check reads: the check had not finished. Before: all of it.
            assert read < whole, (read, whole, slow.output()[-3000:])
            assert slow.alive, slow.output()[-3000:]
        finally:
            rc = slow.stop()  # the check still running: interrupted, a clean stop
    out = slow.output()
    assert rc == 0, out[-3000:]
    assert "Traceback" not in out and "crashed" not in out, out[-3000:]
    assert "its whole-file check runs meanwhile" in out, out[-3000:]
    assert "TECHNICAL ALARM" not in out, out[-3000:]


def corrupt_in_place(p: Path, page: int) -> None:
    """One b-tree page overwritten in the file itself (its inode kept): a card's rot."""
    with open(p, "r+b") as f:
        f.seek(4096 * page)
        f.write(os.urandom(4096))


async def first_run(cfg: Path, log: Path) -> None:
    """A daemon that monitors and stops: its store checked at its start (never checked
    before), found sound in this boot."""
    run = Run(cfg, log)
    try:
        await eventually(lambda: run.readings_shown() >= 3, 60, "first run monitoring")
    finally:
        assert run.stop() == 0, run.out()


async def test_a_store_found_bad_while_monitoring_is_said_and_set_aside_next(
    tmp_path: Path, big_store: Path
) -> None:
    store = tmp_path / "outbox.sqlite"
    shutil.copy(big_store, store)
    cfg = config(tmp_path, store, COMMIT_S)
    await first_run(cfg, tmp_path / "first.log")
    # A page of days-old readings, which the start does not read: found by the check only.
    corrupt_in_place(store, store.stat().st_size // 4096 // 3)
    second = Run(cfg, tmp_path / "second.log")
    try:
        await eventually(lambda: "store.unsound" in second.out(), 60, "store.unsound said")
        await eventually(lambda: second.readings_shown() >= 3, 60, "second run monitoring")
    finally:
        assert second.stop() == 0, second.out()
    said = [ln for ln in second.out().splitlines() if ln.startswith("CRITICAL")]
    assert len(said) == 1 and "store.unsound" in said[0], second.out()
    assert "integrity check" in said[0], said[0]
    assert "moves it aside" in said[0], said[0]
    assert "Traceback" not in second.out(), second.out()
    assert not moved_aside(tmp_path)  # not under the running daemon: kept until a restart
    third = Run(cfg, tmp_path / "third.log")
    try:  # checked first again, found bad: moved aside, a fresh store (as any bad store)
        await eventually(lambda: third.readings_shown() >= 3, 60, "third run monitoring")
    finally:
        assert third.stop() == 0, third.out()
    assert len(moved_aside(tmp_path)) == 1, sorted(os.listdir(tmp_path))
    assert "TECHNICAL ALARM store.replaced" in third.out(), third.out()


async def test_a_bad_page_met_by_a_start_that_checks_after_starts_again_checking_first(
    tmp_path: Path,
) -> None:
    """A page the start itself reads is bad: before the start left the check for later it
    was found by the check; now SQLite meets it in the start, which begins again, checking
    first (storecheck.start_again), rather than failing with a traceback (no monitoring)."""
    store = tmp_path / "outbox.sqlite"
    good_store(store)
    cfg = config(tmp_path, store, COMMIT_S)
    await first_run(cfg, tmp_path / "first.log")
    corrupt_in_place(store, 5)
    second = Run(cfg, tmp_path / "second.log")
    try:
        await eventually(lambda: second.readings_shown() >= 3, 60, "second run monitoring")
    finally:
        rc = second.stop()
    out = second.out()
    assert rc == 0 and "Traceback" not in out, out
    assert "starting again, checking it first" in out, out
    bad = moved_aside(tmp_path)
    assert len(bad) == 1, sorted(os.listdir(tmp_path))
    critical = [ln for ln in out.splitlines() if ln.startswith("CRITICAL")]
    assert len(critical) == 1 and "store.replaced" in critical[0], out


def chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True)


async def test_a_bad_page_at_the_start_with_a_record_that_cannot_be_removed(
    tmp_path: Path,
) -> None:
    """As above, the record of the store's check undeletable (immutable, as on a card
    that went read-only with its errors): the start began again only once it had removed
    the record, else it failed with a traceback, and so did every start after it (systemd's
    restarts, then a failed unit: the chair never monitored). Now the start that begins
    again is told to check first (not by the record), and does so once only."""
    store = tmp_path / "outbox.sqlite"
    good_store(store)
    cfg = config(tmp_path, store, COMMIT_S)
    await first_run(cfg, tmp_path / "first.log")
    corrupt_in_place(store, 5)
    record = store.with_name(store.name + ".checked")
    assert record.exists()
    chattr("+i", record)
    try:
        second = Run(cfg, tmp_path / "second.log")
        try:
            await eventually(lambda: second.readings_shown() >= 3, 60, "second run monitoring")
        finally:
            rc = second.stop()
    finally:
        chattr("-i", record)
    out = second.out()
    assert rc == 0 and "Traceback" not in out, out
    assert out.count("starting again, checking it first") == 1, out
    assert len(moved_aside(tmp_path)) == 1, sorted(os.listdir(tmp_path))
    critical = [ln for ln in out.splitlines() if ln.startswith("CRITICAL")]
    assert len(critical) == 1 and "store.replaced" in critical[0], out
