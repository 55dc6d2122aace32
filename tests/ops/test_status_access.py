"""`monitord status` where the store or the technical-alarm side file cannot be read.

An installed Pi keeps the store in /var/lib/monitord, the service user's, mode 0700
(systemd/monitord.service: StateDirectory=). A non-root admin's `monitord status` printed
`monitord status: [Errno 13] Permission denied: '/var/lib/monitord/outbox.sqlite'` with no
hint, and the side file `<store>.alarms` (the daemon's technical alarms, monitord/techalarm.py)
was dropped without a word: read errors were taken as "no technical alarms".

As root (the test machines), the command runs as another user (setpriv, util-linux, as
tests/ops/test_tls_file_access.py) in front of a root-owned 0700 folder; as any other user
the folder is closed to itself (mode 000). Both run the same check, never a skip.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitord.cli import main
from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.techalarm import alarm_file

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
AS_ROOT = os.geteuid() == 0
CLOSED = 0o700 if AS_ROOT else 0o000

ALARMS = {
    "pid": 1,
    "updated": "2026-01-05T10:00:00Z",
    "active": {"store.unwritable": {"text": "the disk is full", "since": "2026-01-05T10:00:00Z"}},
    "cleared": {},
}


def make_store(state: Path) -> Path:
    state.mkdir(mode=0o755)
    db = state / "outbox.sqlite"
    Outbox(db, StorageConfig(path=db)).close()
    alarm_file(db).write_text(json.dumps(ALARMS))
    return db


def status(*args: str, other_user: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path[1:]])}
    user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run(
        [*(user if other_user and AS_ROOT else []), sys.executable, "-m", "monitord", "status",
         *args],
        capture_output=True, text=True, env=env, cwd="/", timeout=60,
    )  # fmt: skip


def test_a_store_this_user_cannot_read_is_one_line_with_the_fix(tmp_path: Path) -> None:
    # pytest's tmp_path is under a 0700 folder: somewhere the other user can enter.
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"statusaccess-{os.getpid()}-{tmp_path.name}"
    tmp.mkdir(mode=0o755)
    tmp.chmod(0o755)
    state = tmp / "state"
    try:
        db = make_store(state)
        state.chmod(CLOSED)
        p = status("--db", str(db), other_user=True)
        print(p.returncode, p.stdout, p.stderr)
        owner = pwd.getpwuid(os.geteuid()).pw_name
        why = f"permission denied (folder {state} is {owner}'s, mode {CLOSED:04o})"
        assert p.returncode == 1
        assert p.stderr.splitlines() == [
            f"monitord status: cannot read {db}: {why}: "
            f"run it as root: sudo monitord status --db {db}"
        ]
        # The side file is behind the same folder: said, not dropped.
        assert p.stdout.splitlines() == [
            f"TECHNICAL ALARMS NOT SHOWN: cannot read {alarm_file(db)}: {why}"
        ]
    finally:
        state.chmod(0o755)
        shutil.rmtree(tmp)


def test_a_side_file_that_cannot_be_read_is_said(tmp_path: Path) -> None:
    """Root reads any file: the side file is made unreadable for root too, as a folder
    where the file should be (IsADirectoryError; the same code path as EACCES)."""
    db = make_store(tmp_path / "state")
    p = status("--db", str(db))
    assert p.returncode == 0, p.stderr
    assert "TECHNICAL ALARM store.unwritable since 2026-01-05T10:00:00Z" in p.stdout
    alarm_file(db).unlink()
    alarm_file(db).mkdir()
    p = status("--db", str(db))
    assert p.returncode == 0, p.stderr
    line = f"TECHNICAL ALARMS NOT SHOWN: cannot read {alarm_file(db)}: Is a directory"
    assert line in p.stdout.splitlines(), p.stdout
    p = status("--db", str(db), "--json")
    assert json.loads(p.stdout)["technical"] == {
        "unreadable": f"cannot read {alarm_file(db)}: Is a directory"
    }
    # No side file at all (a daemon that never ran here) is no line, as before.
    alarm_file(db).rmdir()
    p = status("--db", str(db))
    assert p.returncode == 0 and "TECHNICAL" not in p.stdout, p.stdout


def test_a_store_folder_that_is_a_file_names_it_not_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """storage.path under a regular file (its folder's name typed where a file is): no
    user reads a store there. Before, "permission denied (folder X is root's, mode 0644):
    run it as root: sudo monitord status ..." even to root (os.access found the file not
    enterable); now what is wrong with the path, whoever runs it (as another user too:
    the file's mode must not make it a permission problem again). In process but that."""
    # pytest's tmp_path is under a 0700 folder: the other user needs one it can enter.
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"statusfile-{os.getpid()}-{tmp_path.name}"
    tmp.mkdir(mode=0o755)
    tmp.chmod(0o755)
    try:
        notdir = tmp / "state"
        notdir.write_text("")
        notdir.chmod(0o644)
        db = notdir / "outbox.sqlite"
        cfg = tmp_path / "monitord.toml"
        cfg.write_text(f'[site]\nid = "s1"\n[storage]\npath = "{db}"\n[[chairs]]\nid = "c1"\n')
        fault = f"{notdir} is a file, not a folder"
        assert main(["status", "-c", str(cfg)]) == 1
        out, err = capsys.readouterr()
        assert (out.splitlines(), err.splitlines()) == (
            [f"TECHNICAL ALARMS NOT SHOWN: cannot read {alarm_file(db)}: {fault}"],
            [f"monitord status: cannot read {db}: {fault}: check storage.path"],
        )
        # `report` and `backup` read the store by the same path and said the same.
        for cmd in (["report", "--list"], ["backup", str(tmp_path / "copy.sqlite")]):
            assert main([cmd[0], "-c", str(cfg), *cmd[1:]]) == 66, cmd
            assert capsys.readouterr().err.splitlines() == [
                f"monitord {cmd[0]}: cannot read {db}: {fault}"
            ]
        p = status("--db", str(db), other_user=True)
        assert p.stderr.splitlines() == [f"monitord status: cannot read {db}: {fault}: check --db"]
    finally:
        shutil.rmtree(tmp)


@pytest.mark.parametrize("kind", ["pipe", "dangling-link"])
def test_a_store_folder_that_is_no_folder_nor_file_names_what_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """A pipe (or a device: /dev/null/...) where the store's folder should be read
    "... is not a folder either, not a folder"; a link to nothing is said as one."""
    notdir = tmp_path / "state"
    if kind == "pipe":
        os.mkfifo(notdir)
    else:
        notdir.symlink_to(tmp_path / "gone")
    db = notdir / "outbox.sqlite"
    what = "a device, pipe or socket" if kind == "pipe" else "a symbolic link to nothing"
    assert main(["status", "--db", str(db)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"monitord status: cannot read {db}: {notdir} is {what}, not a folder: check --db"
    ]
