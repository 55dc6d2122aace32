"""`monitord report` on a store this user cannot read, or cannot open read-only where it is.

An installed Pi keeps the store in /var/lib/monitord, the service user's, mode 0700
(systemd/monitord.service: StateDirectory=): a non-root lead's `monitord report --session
ID` (the config, 0644, gives that path) ended in a PermissionError traceback. `monitord
status` already said it in one line with the fix (tests/ops/test_status_access.py).

A store copied alone (its file, not its `-wal`/`-shm`) into a folder this user cannot
write (a read-only share, a card mounted read-only) was "cannot read it as a monitord
store (attempt to write a readonly database)": it is one, SQLite only needs to make its
`-shm` beside a store in WAL mode. The lead was told the file was not a store.

As root (the test machines) the command runs as another user (setpriv, util-linux, as
tests/ops/test_status_access.py); as any other user the folder is closed to itself.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.outbox import Outbox

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
AS_ROOT = os.geteuid() == 0


def report(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path[1:]])}
    env.pop("MONITORD_INFLUX_PASSWORD", None)  # it would stand in for the file
    user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run(
        [*(user if AS_ROOT else []), sys.executable, "-m", "monitord", "report", *args],
        capture_output=True, text=True, env=env, cwd="/", timeout=60,
    )  # fmt: skip


@pytest.fixture
def open_tmp(tmp_path: Path) -> Iterator[Path]:
    """A folder the other user can enter (pytest's tmp_path is under a 0700 one)."""
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"reportaccess-{os.getpid()}-{tmp_path.name}"
    tmp.mkdir(mode=0o755)
    tmp.chmod(0o755)
    try:
        yield tmp
    finally:
        for d in tmp.iterdir():
            d.chmod(0o755)
        shutil.rmtree(tmp)


def test_a_store_behind_the_service_users_folder_names_sudo(open_tmp: Path) -> None:
    state = open_tmp / "state"
    state.mkdir()
    db = state / "outbox.sqlite"
    Outbox(db, StorageConfig(path=db)).close()
    closed = 0o700 if AS_ROOT else 0o000
    state.chmod(closed)
    out = open_tmp / "reports"
    r = report("--db", str(db), "--session", "s1", "--out", str(out))
    owner = pwd.getpwuid(os.geteuid()).pw_name
    why = f"permission denied (folder {state} is {owner}'s, mode {closed:04o})"
    assert (r.returncode, r.stderr.splitlines()) == (
        66,
        [
            f"monitord report: cannot read {db}: {why}: run it as root: "
            f"sudo monitord report --session s1 --db {db} --out {out}"
        ],
    ), r.stderr


def test_a_store_copied_alone_into_a_folder_it_cannot_write(open_tmp: Path) -> None:
    made = open_tmp / "made"
    made.mkdir()
    Outbox(made / "outbox.sqlite", StorageConfig(path=made / "outbox.sqlite")).close()
    share = open_tmp / "share"
    share.mkdir()
    db = share / "outbox.sqlite"
    shutil.copy(made / "outbox.sqlite", db)  # without its -wal and -shm
    share.chmod(0o755 if AS_ROOT else 0o555)
    r = report("--db", str(db), "--list")
    assert (r.returncode, r.stderr.splitlines()) == (
        66,
        [
            f"monitord report: {db}: cannot open it read-only here: a store in WAL mode needs "
            f"{db.name}-shm beside it and this user cannot make files in {share}: copy the "
            "store (with its -wal file when there is one) to a folder this user can write"
        ],
    ), r.stderr


def test_a_store_the_daemon_is_writing_is_read(tmp_path: Path) -> None:
    """The read-only open's check (a query of `records`) never waits on, nor refuses, a
    store a daemon holds: what it committed is still in the WAL (not checkpointed) and it
    has a write transaction open. (By hand: 40 `report --list` and a `status` against a
    running `monitord demo`, all read.)"""
    from monitord.models import SessionEvent
    from monitord.report import session_spans

    db = tmp_path / "outbox.sqlite"
    daemon = Outbox(db, StorageConfig(path=db))
    try:
        daemon.add_session_events([SessionEvent(1.7e9, "chair-1", "start", "esketamine", "s1")])
        daemon.commit()
        daemon.add_session_events(
            [SessionEvent(1.7e9 + 60, "chair-1", "start", "esketamine", "s2")]
        )  # not committed: the daemon's write transaction stays open
        assert Path(f"{db}-wal").stat().st_size > 0
        with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
            assert [s.session_id for s in session_spans(ob)] == ["s1"]
    finally:
        daemon.rollback()
        daemon.close()


def test_an_influx_password_this_user_cannot_read_names_sudo(open_tmp: Path) -> None:
    # `--from influx` reads [influx] password_file, root-only on an installed machine
    # (/etc/monitord/secrets, 0700): a non-root lead got a PermissionError traceback, and
    # a missing one a FileNotFoundError traceback.
    secrets = open_tmp / "secrets"
    secrets.mkdir()
    (secrets / "influx-password").write_text("pw\n")
    cfg = open_tmp / "central.toml"
    cfg.write_text(
        '[site]\nid = "clinic-north"\n[influx]\nurl = "http://127.0.0.1:9"\napi = "v1"\n'
        f'database = "monitord"\nusername = "reader"\npassword_file = "{secrets}/influx-password"\n'
    )
    closed = 0o700 if AS_ROOT else 0o000
    secrets.chmod(closed)
    r = report("--from", "influx", "-c", str(cfg), "--list")
    owner = pwd.getpwuid(os.geteuid()).pw_name
    why = f"permission denied (folder {secrets} is {owner}'s, mode {closed:04o})"
    assert (r.returncode, r.stderr.splitlines()) == (
        78,
        [
            f"monitord report: influx.password_file: cannot read {secrets}/influx-password: "
            f"{why}: run it as root: sudo monitord report --from influx -c {cfg} --list "
            "(or set MONITORD_INFLUX_PASSWORD)"
        ],
    ), r.stderr
    secrets.chmod(0o755)
    (secrets / "influx-password").unlink()
    r = report("--from", "influx", "-c", str(cfg), "--list")
    assert (r.returncode, r.stderr.splitlines()) == (
        78,
        [
            f"monitord report: influx.password_file: cannot read {secrets}/influx-password: "
            "No such file or directory"
        ],
    ), r.stderr
