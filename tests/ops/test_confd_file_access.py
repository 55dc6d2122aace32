"""A conf.d file the admin made 0640 root:root (ops audit, item 6): check-config as another
user said "cannot read: Permission denied" and nothing else, where every other mode error
names the fix. Now the one line says who, the mode and owner, and the fix (0644: a config
holds no secret, docs/install.md; or sudo). As root the command runs as `nobody`
(setpriv, as tests/ops/test_tls_file_access.py); as any other user the file is closed to
itself (mode 000)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

from tests.ops.test_tls_file_access import AS_ROOT, NOBODY, REPO, public_tmp

MAIN = """
[site]
id = "t"
[influx]
enabled = false
"""
CHAIR = """
[[chairs]]
id = "chair-1"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "/dev/ttyUSB0"
"""


def test_a_closed_conf_d_file_is_one_line_with_the_fix(tmp_path: Path) -> None:
    tmp = public_tmp(tmp_path)
    try:
        main = tmp / "monitord.toml"
        main.write_text(MAIN)
        main.chmod(0o644)
        (tmp / "conf.d").mkdir(mode=0o755)
        chair = tmp / "conf.d" / "20-chair.toml"
        chair.write_text(CHAIR)
        mode = 0o640 if AS_ROOT else 0o000  # root:root 0640: closed to all but root
        chair.chmod(mode)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path[1:]])}
        user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        p = subprocess.run(
            [*(user if AS_ROOT else []), sys.executable, "-m", "monitord", "check-config",
             str(main)],
            capture_output=True, text=True, env=env, cwd="/", timeout=60,
        )  # fmt: skip
        assert (p.returncode, p.stdout) == (78, ""), p.stderr
        me = pwd.getpwuid(NOBODY if AS_ROOT else os.geteuid()).pw_name
        st = chair.stat()
        owner = f"{pwd.getpwuid(st.st_uid).pw_name}:"
        (line,) = p.stderr.splitlines()
        assert line.startswith(
            f"{chair}: cannot read: Permission denied (this user {me}; mode {mode:04o}, {owner}"
        ), line
        assert line.endswith(
            "a config file holds no secret and the daemon reads it as user monitord: "
            f"chmod 0644 {chair} (docs/install.md), or run it with sudo"
        ), line
        chair.chmod(0o644)  # the fix given: then it is read
        p = subprocess.run(
            [*(user if AS_ROOT else []), sys.executable, "-m", "monitord", "check-config",
             str(main)],
            capture_output=True, text=True, env=env, cwd="/", timeout=60,
        )  # fmt: skip
        assert (p.returncode, p.stdout) == (0, "ok\n"), p.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_conf_d_folder_not_to_be_listed_is_one_line_with_the_fix(tmp_path: Path) -> None:
    """A conf.d/ the daemon's user may not list (made 0700 root:root): `glob` found nothing
    in it, and the daemon ran on the main file alone, the chair written there left out
    without a word (here, with none left, "monitors nothing"; with a chair in the main
    file, that Pi's own chair unmonitored). Now the one line names the folder and the fix,
    for the daemon, check-config and the upgrade checks' `check-config --files`."""
    tmp = public_tmp(tmp_path)
    try:
        main = tmp / "monitord.toml"
        main.write_text(MAIN)
        main.chmod(0o644)
        conf_d = tmp / "conf.d"
        conf_d.mkdir(mode=0o755)
        (conf_d / "20-chair.toml").write_text(CHAIR)
        (conf_d / "20-chair.toml").chmod(0o644)
        mode = 0o700 if AS_ROOT else 0o300  # listed by its owner alone / by nobody
        conf_d.chmod(mode)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path[1:]])}
        user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        me = pwd.getpwuid(NOBODY if AS_ROOT else os.geteuid()).pw_name
        owner = f"{pwd.getpwuid(conf_d.stat().st_uid).pw_name}:"
        for extra in ([], ["--files"]):
            p = subprocess.run(
                [*(user if AS_ROOT else []), sys.executable, "-m", "monitord", "check-config",
                 *extra, str(main)],
                capture_output=True, text=True, env=env, cwd="/", timeout=60,
            )  # fmt: skip
            assert (p.returncode, p.stdout) == (78, ""), (extra, p.stdout, p.stderr)
            (line,) = p.stderr.splitlines()
            assert line.startswith(
                f"{conf_d}: cannot list: Permission denied (this user {me}; mode {mode:04o}, "
                f"{owner}"
            ), line
            assert line.endswith(
                "its files would be left out; the daemon lists it as user monitord: "
                f"chmod 0755 {conf_d} (docs/install.md), or run it with sudo"
            ), line
        conf_d.chmod(0o755)  # the fix given: then the chair is read
        p = subprocess.run(
            [*(user if AS_ROOT else []), sys.executable, "-m", "monitord", "check-config",
             "--files", str(main)],
            capture_output=True, text=True, env=env, cwd="/", timeout=60,
        )  # fmt: skip
        assert (p.returncode, p.stdout) == (0, f"{main}\n{conf_d / '20-chair.toml'}\n"), p.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
