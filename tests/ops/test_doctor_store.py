"""`monitord doctor` and the store an upgrade or a rollback leaves (docs/install.md,
"Going back to an older version"; docs/operations.md, `monitord doctor`).

Before: doctor did not look at the store. On a Pi taken back to an older package with the
newer version's store kept, every line was ok (exit 0), and the daemon then refused to
start on that store (exit 78: no monitoring) at `systemctl enable --now monitord`, the
step the docs give right after doctor. Now its `store` line fails, naming the schema and
what to do; a store from an older version (0.1.0 wrote schema v3) is said to be migrated at
the next start. Doctor only reads: the store's bytes are the same after it, nothing is
moved aside.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitord.commands.doctor_host import check_store
from monitord.config import StorageConfig, load_config
from monitord.outbox import SCHEMA_VERSION, Outbox
from tests.faults.storekit import monitord, tmpfs

# Written by the 0.1.0 store code (d9b47eb): tests/delivery/data/make_v3_store.py.
V3_STORE = Path(__file__).parents[1] / "delivery" / "data" / "outbox-v3.sqlite"


@pytest.fixture
def pty_port() -> Iterator[str]:
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def config(tmp: Path, port: str) -> Path:
    cfg = tmp / "monitord.toml"
    cfg.write_text(
        '[site]\nid = "doctor-store"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{tmp / "state" / "outbox.sqlite"}"\nmax_mb = 1\n'
        '[[chairs]]\nid = "chair-1"\n'
        f'[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\nport = "{port}"\n'
    )
    return cfg


def doctor(cfg: Path) -> tuple[int, dict[str, str]]:
    p = monitord("doctor", "--config", str(cfg), "--credentials", str(cfg.parent), "--timeout", "3")
    print(p.stdout, p.stderr)
    assert p.stderr == "", p.stderr
    return p.returncode, {ln.split(None, 1)[1].split(":", 1)[0]: ln for ln in p.stdout.splitlines()}


def files(folder: Path) -> dict[str, str]:
    """Every file in the store's folder and a digest of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_store_from_a_newer_monitord_fails_its_line(tmp_path: Path, pty_port: str) -> None:
    cfg = config(tmp_path, pty_port)
    store = tmp_path / "state" / "outbox.sqlite"
    Outbox(store, StorageConfig(path=store)).close()
    # What a newer monitord's migration leaves: the next schema version (its tables are
    # this one's or not; nothing here may read them).
    with sqlite3.connect(store) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = files(store.parent)

    rc, lines = doctor(cfg)
    assert rc == 1
    line = lines["store"]
    assert line.startswith("FAIL  store: "), line
    assert f"schema v{SCHEMA_VERSION + 1} is newer than this monitord (v{SCHEMA_VERSION})" in line
    assert "refuses to start" in line and "docs/install.md" in line
    assert files(store.parent) == before

    # What doctor foretells: the daemon's start refuses it, one line, the store untouched.
    p = monitord("run", "-c", str(cfg))
    assert p.returncode == 78, p.stderr
    said = [ln for ln in p.stderr.splitlines() if "newer than this monitord" in ln]
    assert len(said) == 1, p.stderr
    assert store.is_file() and not [n for n in os.listdir(store.parent) if ".bad-" in n]
    with sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    db.close()


def test_a_newer_version_still_in_the_wal_is_seen(tmp_path: Path, pty_port: str) -> None:
    """A newer daemon stopped before its checkpoint (killed, power cut): its migration is
    in the -wal file, the store's own header still says this version."""
    cfg = config(tmp_path, pty_port)
    store = tmp_path / "state" / "outbox.sqlite"
    Outbox(store, StorageConfig(path=store)).close()
    db = sqlite3.connect(store, isolation_level=None)
    try:
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        assert store.read_bytes()[60:64] == SCHEMA_VERSION.to_bytes(4, "big")
        rc, lines = doctor(cfg)
    finally:
        db.close()
    assert rc == 1
    assert lines["store"].startswith("FAIL  store: "), lines["store"]


def test_a_store_from_0_1_0_is_said_to_be_migrated(tmp_path: Path, pty_port: str) -> None:
    cfg = config(tmp_path, pty_port)
    store = tmp_path / "state" / "outbox.sqlite"
    store.parent.mkdir()
    shutil.copy(V3_STORE, store)
    before = files(store.parent)

    rc, lines = doctor(cfg)
    line = lines["store"]
    assert line.startswith("ok    store: "), line
    assert f"schema v3, migrated to v{SCHEMA_VERSION} at the daemon's next start" in line
    assert files(store.parent) == before
    assert rc == 0


def test_a_current_store_or_none_has_no_line(tmp_path: Path, pty_port: str) -> None:
    cfg = config(tmp_path, pty_port)
    rc, lines = doctor(cfg)
    assert "store" not in lines and rc == 0
    store = tmp_path / "state" / "outbox.sqlite"
    Outbox(store, StorageConfig(path=store)).close()
    rc, lines = doctor(cfg)
    assert "store" not in lines and rc == 0


def test_a_store_to_migrate_without_room_is_warned_of(tmp_path: Path, pty_port: str) -> None:
    """The 0.1.0 store on a card with less free space than its size: the migration's step
    would fail at the daemon's start (tests/faults/test_migration_no_room.py)."""
    cfg = config(tmp_path, pty_port)
    with tmpfs(tmp_path / "state", "100k") as card:
        shutil.copy(V3_STORE, card / "outbox.sqlite")
        before = files(card)
        _, lines = doctor(cfg)  # exit 1: the full card also fails the disk line
        assert files(card) == before
    line = lines["store"]
    assert line.startswith("warn  store: "), line
    assert "which may rewrite the whole store" in line and "store.memory" in line


def newer_in_the_wal(store: Path) -> sqlite3.Connection:
    """What a newer daemon killed before its checkpoint leaves: its migration in the -wal
    (and the -shm), the store's own header still at this version. Open until closed."""
    Outbox(store, StorageConfig(path=store)).close()
    db = sqlite3.connect(store, isolation_level=None)
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    assert store.read_bytes()[60:64] == SCHEMA_VERSION.to_bytes(4, "big")
    return db


def test_a_linked_store_is_read_where_it_is(tmp_path: Path, pty_port: str) -> None:
    """storage.path a symlink to the store elsewhere (another disk): SQLite keeps the -wal
    beside the link's target, and a migration needs its room there. Before, doctor read
    `<link>-wal` (none: the header's version, `ok`) and measured the link's disk."""
    cfg = config(tmp_path, pty_port)
    link = tmp_path / "state" / "outbox.sqlite"
    link.parent.mkdir()
    target = tmp_path / "elsewhere" / "outbox.sqlite"
    target.parent.mkdir()
    db = newer_in_the_wal(target)
    try:
        link.symlink_to(target)
        rc, lines = doctor(cfg)
    finally:
        db.close()
    assert rc == 1
    assert lines["store"].startswith("FAIL  store: "), lines["store"]
    assert f"schema v{SCHEMA_VERSION + 1} is newer" in lines["store"]

    link.unlink()
    with tmpfs(tmp_path / "stick", "100k") as stick:
        shutil.copy(V3_STORE, stick / "outbox.sqlite")
        link.symlink_to(stick / "outbox.sqlite")
        before = files(stick)
        _, lines = doctor(cfg)
        assert files(stick) == before
    # (the link's own disk, where tmp_path is, has room to spare)
    assert shutil.disk_usage(tmp_path).free > 10 * V3_STORE.stat().st_size
    line = lines["store"]
    assert line.startswith("warn  store: ") and "which may rewrite the whole store" in line, line


def test_doctor_makes_no_file_beside_the_store(tmp_path: Path, pty_port: str) -> None:
    """A store with its -wal and no -shm (copied from a Pi to look at, or the -shm
    removed): the newer version is in the -wal. Before, doctor read it through SQLite,
    which made the -shm file (as root: chowned to the store's owner) although doctor only
    reads; its bytes are read now (monitord/store/fileheader.py), nothing made."""
    cfg = config(tmp_path, pty_port)
    work = tmp_path / "work" / "outbox.sqlite"
    work.parent.mkdir()
    store = tmp_path / "state" / "outbox.sqlite"
    store.parent.mkdir()
    db = newer_in_the_wal(work)
    try:
        shutil.copy(work, store)
        shutil.copy(f"{work}-wal", f"{store}-wal")
    finally:
        db.close()
    before = files(store.parent)
    assert sorted(before) == ["outbox.sqlite", "outbox.sqlite-wal"]
    rc, lines = doctor(cfg)
    assert files(store.parent) == before
    assert rc == 1 and lines["store"].startswith("FAIL  store: "), lines["store"]
    # SQLite reads the same version (it then makes the -shm: not doctor's to do).
    with sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True) as ro:
        assert ro.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    ro.close()


def test_a_store_doctor_cannot_read_is_said(tmp_path: Path, pty_port: str) -> None:
    """Doctor run by an admin who cannot read the store's -wal (the service user's, mode
    0600): the newer version it holds is unknown. Before, no store line at all (as for no
    store), and the daemon's start then refused it (exit 78). Here root without the
    capabilities that let it read anyway, the files another user's."""
    cfg = config(tmp_path, pty_port)
    store = tmp_path / "state" / "outbox.sqlite"
    store.parent.mkdir()
    db = newer_in_the_wal(store)
    try:
        for name in os.listdir(store.parent):
            os.chown(store.parent / name, 65534, 65534)
        os.chmod(f"{store}-wal", 0o600)
        no_override = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
        doctor_argv = ["doctor", "--config", str(cfg), "--credentials", str(tmp_path)]
        p = subprocess.run(
            [*no_override, sys.executable, "-m", "monitord", *doctor_argv, "--timeout", "3"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        db.close()
    lines = {ln.split(None, 1)[1].split(":", 1)[0]: ln for ln in p.stdout.splitlines()}
    line = lines.get("store", "")
    assert line.startswith("warn  store: "), p.stdout
    assert f"cannot read it here (Permission denied: {store}-wal)" in line, line
    assert "run doctor as root" in line


def test_a_store_path_through_a_file_is_no_matter_of_root(tmp_path: Path, pty_port: str) -> None:
    """storage.path under a regular file (the folder's name taken by a file): no user
    makes or reads a store there. Before, "cannot read it here (Not a directory ...) ->
    run doctor as root", said to root too; `monitord status` already said what is wrong
    with the path. In process: the store check alone."""
    cfg = load_config(config(tmp_path, pty_port))
    (tmp_path / "state").write_text("")
    assert [c.line() for c in check_store(cfg) if c.name == "store"] == [
        f"FAIL  store: {tmp_path / 'state' / 'outbox.sqlite'}: {tmp_path / 'state'} is a file, "
        "not a folder: the daemon cannot make its store there and keeps its outbox in memory "
        "(technical alarm store.memory): nothing kept across a restart -> fix: check "
        "storage.path"
    ]


def test_a_file_in_the_way_is_named_not_measured_nor_allowed(tmp_path: Path, pty_port: str) -> None:
    """storage.path with a file's name as its folder (`state` is a file): the `disk` line
    said "MB free at .../state" and the storage hint "add ReadWritePaths=.../state", the
    file, as if it were the folder to check for space or to allow (systemd starts no
    unit whose ReadWritePaths= does not exist). Now both name the folder that holds it and
    the file in the way. A real doctor run: the lines as the admin reads them."""
    (tmp_path / "state").write_text("")
    code, lines = doctor(config(tmp_path, pty_port))
    assert code == 1  # the store line fails
    state = tmp_path / "state"
    disk = lines["disk"]
    assert f" MB free at {tmp_path} for the outbox " in disk, disk
    assert disk.endswith(
        f"; {state} is a file, not a folder: no store can be made under it "
        "(move it aside or check storage.path)"
    ), disk
    assert lines["storage"].endswith(
        f"(use /var/lib/monitord/outbox.sqlite, or move {state} aside (it is not a folder), "
        f"make {state} the service user's (install -d -o monitord -g monitord -m 0700 "
        f"{state}) and add ReadWritePaths={state} in a drop-in (systemctl edit monitord))"
    ), lines["storage"]


@pytest.mark.parametrize("top", [False, True], ids=["under-tmp", "under-a-missing-top-folder"])
def test_a_missing_store_folder_is_made_then_allowed(
    tmp_path: Path, pty_port: str, top: bool
) -> None:
    """storage.path in folders that do not exist yet: the hint named the deepest folder
    that exists for ReadWritePaths= (`/` for a missing top folder: the whole disk writable,
    ProtectSystem=strict undone; `/srv`: the service user still cannot make a folder in
    it, root's). Now: make the store's folder the service user's, then allow that one
    (systemd starts no unit whose ReadWritePaths= does not exist, systemd.exec(5))."""
    from monitord.commands.doctor_host import check_store_place

    base = Path(f"/monitord-audit-{os.getpid()}-{tmp_path.name}") if top else tmp_path
    assert not base.exists() or not top
    folder = base / "a" / "b"
    cfg = load_config(config(tmp_path, pty_port))
    storage = cfg.storage.model_copy(update={"path": folder / "outbox.sqlite"})
    c = check_store_place(cfg.model_copy(update={"storage": storage}))
    assert c is not None and c.status == "warn"
    assert c.line().endswith(
        f"(use /var/lib/monitord/outbox.sqlite, or make {folder} the service user's "
        f"(install -d -o monitord -g monitord -m 0700 {folder}) and add "
        f"ReadWritePaths={folder} in a drop-in (systemctl edit monitord))"
    ), c.line()
    assert "ReadWritePaths=/ " not in c.line(), c.line()
