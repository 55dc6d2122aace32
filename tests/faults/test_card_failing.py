"""A failing SD card under a running daemon (the usual end of a Raspberry Pi's card): ext4
hits an I/O error and, with Raspberry Pi OS's `errors=remount-ro`, every later write fails
with EROFS; or the card's writes and syncs fail with EIO. Not a full disk
(test_store_full.py): freeing space fixes nothing here, the card must be replaced.

Real parts: `monitord run` reading a Masimo oximeter on a pty, publishing to a real
mosquitto, its store on a directory whose writes and syncs fail (errno EROFS or EIO) from
the moment the test opens a gate: tests/faults/sdfail.c, an LD_PRELOAD shim, under the
system's own libsqlite3 (no mock of SQLite). While the card fails the patient desaturates.

Proves: the alarm is still raised and shown in the retained active set on MQTT; the
technical alarm `store.unwritable` is raised once, names the failing card ("replace it")
and not a full disk ("free disk space"), in the journal and in `monitord status` (from
the copy in RAM: the side file beside the store is on the failing card too); no
traceback, no crashed task; a card that works again (the gate closed) stores what was held.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from monitord.store.schema import unwritable_advice
from monitord.techalarm import runtime_alarm_file
from tests.e2e.e2e_kit import (
    CHAIR,
    COUNTING_COMMIT_S,
    FAST_SPO2_ALERT,
    NO_MQTT,
    SITE,
    Oximeter,
    Store,
    in_thread,
    mosquitto_pub,
    mqtt_section,
    warm_up,
    write_config,
)
from tests.faults.sdkit import FailingCardDaemon, build
from tests.faults.storekit import monitord, remount, tmpfs
from tests.faults.test_bad_store import good_store
from tests.faults.test_store_full import feed, feed_until
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

NOBODY = 65534


def config_on_card(tmp_path: Path, mqtt: str = NO_MQTT, extra: str = "") -> tuple[Path, Path]:
    """The one-chair config with its store on `tmp_path/card` (the directory the shim
    fails) and the counting commit interval; returns the config and the card."""
    card = tmp_path / "card"
    card.mkdir()
    cfg = write_config(
        tmp_path, mqtt=mqtt, extra=f"commit_interval_s = {COUNTING_COMMIT_S}\n" + extra
    )
    cfg.write_text(
        cfg.read_text().replace(str(tmp_path / "outbox.sqlite"), str(card / "outbox.sqlite"))
    )
    return cfg, card


async def warm_and_stop(ox: Oximeter, first: FailingCardDaemon, card: Path) -> None:
    """A first daemon stores readings on the card (still working) and stops cleanly."""
    first.start()
    try:
        await warm_up(ox, Store(card / "outbox.sqlite"))
    finally:
        assert first.stop() == 0, first.output()[-3000:]


async def feed_until_unwritable(ox: Oximeter, daemon: FailingCardDaemon) -> None:
    """Readings fed (SpO2 97) until the daemon says the card's technical alarm."""
    for _ in range(100):
        await feed(ox, 97.0, 0.3)
        if "TECHNICAL ALARM store.unwritable" in daemon.output():
            return
    raise AssertionError(daemon.output()[-3000:])


@pytest.mark.parametrize("errno_", [errno.EROFS, errno.EIO], ids=["EROFS", "EIO"])
async def test_a_failing_card_says_replace_it_and_alarms_still_show(
    tmp_path: Path,
    mosquitto: Mosquitto,
    mqtt_prefix: str,
    errno_: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The unit's RuntimeDirectory= (a tmpfs: /run), for the daemon and `monitord status`.
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path / "run"))
    base = f"{mqtt_prefix}/{SITE}/{CHAIR}"
    cfg, card = config_on_card(
        tmp_path, mqtt=mqtt_section(mosquitto, mqtt_prefix), extra=FAST_SPO2_ALERT
    )
    store = Store(card / "outbox.sqlite")
    gate = tmp_path / "failing"
    daemon = FailingCardDaemon(cfg, tmp_path / "daemon.log", build(tmp_path), card, gate, errno_)
    async with (
        Observer(mosquitto, [f"{base}/alerts/active", f"{base}/cmd/errors"]) as nurse,
        Oximeter(tmp_path) as ox,
    ):
        daemon.start()
        try:
            _, warm_stored = await warm_up(ox, store)
            assert warm_stored, daemon.output()
            gate.touch()  # the card fails from here on
            await feed_until_unwritable(ox, daemon)

            def very_low_shown() -> bool:
                last = nurse.of("alerts/active")[-1:]
                sets = [b["alerts"] for b in last if isinstance(b, dict)]
                return any(a["rule"] == "spo2.very_low" for al in sets for a in al)

            await feed_until(ox, 80.0, very_low_shown, "spo2.very_low active")
            # A nurse starts a session: refused at once, the answer naming the card.
            await mosquitto_pub(mosquitto, f"{base}/cmd/session", json.dumps({"action": "start"}))
            await eventually(lambda: nurse.of("cmd/errors"), 20, "answer on cmd/errors")
            st = await in_thread(lambda: monitord("status", "--config", str(cfg)))
            gate.unlink()  # a card that works again: what was held is stored
            await feed_until(ox, 97.0, lambda: not very_low_shown(), "spo2.very_low over")
            await eventually(
                lambda: "technical alarm store.unwritable cleared" in daemon.output(),
                30,
                "store alarm cleared",
            )
        finally:
            rc = daemon.stop()
    out = daemon.output()
    assert rc == 0, out[-3000:]
    assert "Traceback" not in out and "crashed" not in out, out[-3000:]
    said = [ln for ln in out.splitlines() if "TECHNICAL ALARM store.unwritable" in ln]
    assert len(said) == 1, said  # once, not a line per failed commit
    assert "replace it" in said[0] and "SD card is failing" in said[0], said[0]
    assert "free disk space" not in said[0], said[0]
    # `monitord status` while the card failed: the alarm, though the side file beside the
    # store could not be written (before: no technical alarm at all, "daemon: running").
    shown = [ln for ln in st.stdout.splitlines() if "TECHNICAL ALARM store.unwritable" in ln]
    assert shown and "replace it" in shown[0], st
    # The command's answer (before: "cannot be written (disk full?)" on a failing card).
    refusal = nurse.of("cmd/errors")[0]["error"]
    assert "not applied" in refusal and "the SD card is failing" in refusal, refusal
    assert "disk full" not in refusal, refusal


def write_error(store: Path) -> sqlite3.Error:
    """The error of a real SQLite write to `store` (a commit the file system refuses)."""
    db = sqlite3.connect(store, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE IF NOT EXISTS t (x BLOB)")
    except sqlite3.Error as e:
        return e
    try:
        for _ in range(10_000):
            db.execute("INSERT INTO t VALUES (randomblob(65536))")
    except sqlite3.Error as e:
        return e
    finally:
        db.close()
    raise AssertionError("the file system took every write")


def test_the_advice_tells_a_full_disk_from_a_card_gone_read_only(tmp_path: Path) -> None:
    """Real file systems: a full tmpfs (SQLITE_FULL) is freed; a read-only one (the kernel's
    flag, as ext4 `errors=remount-ro` sets it) is the card to replace."""
    with tmpfs(tmp_path / "full", "2m") as full:
        e = write_error(full / "outbox.sqlite")
        assert unwritable_advice(e, full / "outbox.sqlite") == "the disk is full: free disk space"
    with tmpfs(tmp_path / "ro", "2m") as ro:
        sqlite3.connect(ro / "outbox.sqlite").close()
        remount(ro, "ro")
        text = unwritable_advice(write_error(ro / "outbox.sqlite"), ro / "outbox.sqlite")
        assert text.startswith("its file system is now read-only: the SD card is failing"), text
        assert "replace it" in text and "free disk space" not in text, text


@pytest.mark.parametrize("reads", [False, True], ids=["writes", "reads-and-writes"])
async def test_a_restart_on_a_card_whose_writes_fail_monitors(tmp_path: Path, reads: bool) -> None:
    """systemd restarts the daemon on a card whose writes fail with EIO (it still opens
    files for writing, unlike a read-only one): the daemon starts and reads the oximeter,
    with a technical alarm saying to replace the card and the store kept where it is (not
    moved aside as a bad file), rather than exit 1 with a traceback at every start (before:
    `os.ftruncate` of `<store>.lock` raised EIO: a restart loop, then no daemon at all).
    `reads`: its reads fail too (EIO), so the store's check at start fails: still the
    card's fault, the file kept (before: moved aside as unusable)."""
    cfg, card = config_on_card(tmp_path)
    gate, shim = tmp_path / "failing", build(tmp_path)
    first = FailingCardDaemon(cfg, tmp_path / "first.log", shim, card, gate, errno.EIO)
    second = FailingCardDaemon(cfg, tmp_path / "second.log", shim, card, gate, errno.EIO, reads)
    async with Oximeter(tmp_path) as ox:
        await warm_and_stop(ox, first, card)
        gate.touch()  # the card fails while the daemon is down
        second.start()
        try:
            for _ in range(100):
                await feed(ox, 97.0, 0.2)
                if "link up" in second.output() or (second.proc and second.proc.poll()):
                    break
            assert second.proc is not None and second.proc.poll() is None, second.output()
            await feed(ox, 97.0, 1)
            assert second.proc.poll() is None, second.output()
        finally:
            rc = second.stop()
    out = second.output()
    assert rc == 0 and "Traceback" not in out, out[-3000:]
    assert "ready" in out and "TECHNICAL ALARM store." in out, out[-3000:]
    # The store is intact (its check reads it): kept where it is for the next start or a
    # copy off the card, not moved aside as a bad file with its backlog and snapshot.
    assert sorted(p.name for p in card.glob("*.bad-*")) == [], out[-3000:]
    said = [ln for ln in out.splitlines() if "TECHNICAL ALARM store.memory" in ln]
    assert said and "not moved aside" in said[0] and "replace it" in said[0], out[-3000:]


async def test_a_stop_while_the_card_fails_says_what_is_lost_and_why(tmp_path: Path) -> None:
    """The daemon stopped while its card fails with EIO: what it held in memory is LOST,
    said at CRITICAL with the card as the cause (before: "cannot be written (disk
    full?)", sending the technician to free space on a card that must be replaced)."""
    cfg, card = config_on_card(tmp_path)
    gate = tmp_path / "failing"
    daemon = FailingCardDaemon(cfg, tmp_path / "d.log", build(tmp_path), card, gate, errno.EIO)
    async with Oximeter(tmp_path) as ox:
        daemon.start()
        try:
            await warm_up(ox, Store(card / "outbox.sqlite"))
            gate.touch()
            await feed_until_unwritable(ox, daemon)
            await feed(ox, 97.0, 1)
        finally:
            rc = daemon.stop()
    out = daemon.output()
    assert rc == 0 and "Traceback" not in out, out[-3000:]
    lost = [ln for ln in out.splitlines() if "stopping while" in ln and "LOST" in ln]
    assert lost and "the SD card is failing" in lost[0], out[-3000:]
    assert "disk full" not in lost[0], lost[0]


async def test_a_second_daemon_on_a_failing_card_names_the_holder_not_a_dead_pid(
    tmp_path: Path,
) -> None:
    """The daemon restarted on a card failing with EIO holds the store's lock but cannot
    write its pid into `<store>.lock`, which keeps the previous daemon's. A second
    `monitord run` on the same store is refused (exit 75) naming the pid that holds the
    lock, as the kernel says (before: the dead previous daemon's pid, read from the file:
    an admin told to stop a process that is gone, or another one by then)."""
    cfg, card = config_on_card(tmp_path)
    gate, shim = tmp_path / "failing", build(tmp_path)
    first = FailingCardDaemon(cfg, tmp_path / "first.log", shim, card, gate, errno.EIO)
    holder = FailingCardDaemon(cfg, tmp_path / "holder.log", shim, card, gate, errno.EIO)
    async with Oximeter(tmp_path) as ox:
        await warm_and_stop(ox, first, card)
        gate.touch()  # the card fails while the daemon is down
        holder.start()
        try:
            await eventually(lambda: " ready" in holder.output(), 30, "the holder ready")
            r = await in_thread(lambda: monitord("run", "--config", str(cfg)))
        finally:
            assert holder.stop() == 0, holder.output()[-3000:]
    assert first.proc is not None and holder.proc is not None
    assert r.returncode == 75, r
    line = r.stderr.strip().splitlines()[-1]
    assert f"pid {holder.proc.pid}" in line, line
    assert f"pid {first.proc.pid}" not in line, line


def without_dac_override(cfg: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`monitord run` as root without CAP_DAC_OVERRIDE: kept out of others' files."""
    drop = ("setpriv", "--inh-caps=-dac_override", "--bounding-set=-dac_override")
    with open(log, "wb") as f:
        return subprocess.Popen(
            [*drop, sys.executable, "-m", "monitord", "run", "--config", str(cfg)],
            stdout=f,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )


async def test_a_copy_in_ram_left_by_another_user_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The RAM copy a run by hand as another user left in the runtime directory (root's,
    with the service stopped: the directory is kept until reboot) is the daemon's to
    replace. Before, the daemon could not open it for writing (one DEBUG line), never
    updated it, and a card failing from the start showed in `monitord status` that run's
    stale document: no technical alarm. As root here, the roles are swapped: the stale copy
    is `nobody`'s and the daemon runs without CAP_DAC_OVERRIDE (setpriv), which is what
    keeps the service user out of root's file: the same refusal (EACCES)."""
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(run))
    cfg, card = config_on_card(tmp_path)
    store = card / "outbox.sqlite"
    stale = runtime_alarm_file(store)
    stale.write_text(
        json.dumps({"pid": 1, "updated": "2026-01-01T00:00:00Z", "active": {}, "cleared": {}})
    )
    os.chown(stale, NOBODY, NOBODY)
    good_store(store)  # a previous run's
    gate = tmp_path / "failing"
    gate.touch()  # the card fails from the start: the side file beside the store too
    env = FailingCardDaemon(cfg, tmp_path / "x", build(tmp_path), card, gate, errno.EIO).env()
    log = tmp_path / "daemon.log"
    proc = without_dac_override(cfg, log, env)
    try:
        await eventually(lambda: "TECHNICAL ALARM store." in log.read_text(), 30, "store alarm")
        st = await in_thread(lambda: monitord("status", "--config", str(cfg)))
    finally:
        proc.terminate()
        rc = proc.wait(20)
    out = log.read_text()
    assert rc == 0 and "Traceback" not in out, out[-3000:]
    assert "TECHNICAL ALARM store.memory" in st.stdout, st


def test_a_shim_that_does_not_build_fails_with_gccs_words(tmp_path: Path) -> None:
    """The kit's build: a source gcc refuses fails the test with gcc's error, not a bare
    exit status (what a CI image with a different compiler would show)."""
    broken = tmp_path / "broken.c"
    broken.write_text("int f(void) { return undeclared_name; }\n")
    with pytest.raises(AssertionError, match="undeclared_name"):
        build(tmp_path, broken)
