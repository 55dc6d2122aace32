"""A TLS file the service user cannot reach (docs/reliability.md, defect 13: "a missing or
unreadable TLS file" is exit 78 with one line; systemd does not retry 78).

Before: config_checks called `Path.is_file()`, which raises PermissionError when a
directory on the way is closed to the user: `monitord run` (and check-config) as the
service user died with a traceback and exit 1 (Restart=on-failure: 5 restarts, then a
failed unit), while `sudo monitord doctor` said "secret and TLS files usable". And
scripts/make-certs.sh made its output folder 0700 root-only (`umask 077; mkdir -p`),
which docs/install.md's fleet example then names as `ca_file`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitord import serviceuser
from monitord.commands import doctor_host
from monitord.config import load_config

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534

# The service user (the unit's `User=`) shut out of a folder: as root, the test runs the
# command as another user (setpriv, util-linux) and closes the folder to all but its
# owner, as make-certs.sh made it; as any other user, it closes the folder to itself too
# (mode 000; only root would still enter). Never a skip: both ways run the same check.
AS_ROOT = os.geteuid() == 0
CLOSED = 0o700 if AS_ROOT else 0o000


def make_certs(out: Path) -> None:
    subprocess.run(
        ["bash", str(REPO / "scripts/make-certs.sh"), "--out", str(out), "--broker", "b.lan"],
        check=True,
        capture_output=True,
    )


def write_config(tmp: Path, ca: str) -> Path:
    cfg = tmp / "monitord.toml"
    cfg.write_text(
        f"""
[site]
id = "t"
[mqtt]
host = "b.lan"
port = 8883
  [mqtt.tls]
  ca_file = "{ca}"
[influx]
enabled = false
[storage]
path = "{tmp}/state/o.sqlite"
[[chairs]]
id = "chair-1"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "/dev/ttyUSB0"
"""
    )
    cfg.chmod(0o644)
    return cfg


def as_service_user(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path[1:]])}
    user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run(
        [*(user if AS_ROOT else []), sys.executable, "-m", "monitord", *args],
        capture_output=True, text=True, env=env, cwd="/", timeout=60,
    )  # fmt: skip


def public_tmp(tmp_path: Path) -> Path:
    # pytest's tmp_path is under a 0700 folder: somewhere the other user can enter.
    d = Path(os.environ.get("TMPDIR", "/tmp")) / f"tlsaccess-{os.getpid()}-{tmp_path.name}"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    return d


def test_make_certs_folder_is_traversable_and_keys_private(tmp_path: Path) -> None:
    make_certs(tmp_path / "a" / "tls")
    mode = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "a" / "tls").iterdir()}
    assert (tmp_path / "a" / "tls").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o755  # a parent it made
    assert mode["clinic-ca.pem"] == mode["broker.pem"] == 0o644
    assert mode["clinic-ca.key"] == mode["broker.key"] == 0o600


def test_ca_in_a_closed_folder_is_exit_78_one_line(tmp_path: Path) -> None:
    tmp = public_tmp(tmp_path)
    try:
        make_certs(tmp / "tls")
        (tmp / "tls").chmod(CLOSED)  # 0700 as make-certs.sh made it before (see CLOSED)
        cfg = write_config(tmp, "tls/clinic-ca.pem")
        for cmd in (["check-config", "-c", str(cfg)], ["run", "-c", str(cfg)]):
            p = as_service_user(*cmd)
            print(cmd[0], p.returncode, p.stderr)
            assert p.returncode == 78, p.stderr
            assert "Traceback" not in p.stderr
            lines = p.stderr.strip().splitlines()
            assert len(lines) == 1 and "mqtt.tls.ca_file" in lines[0], lines
            assert f"{tmp}/tls/clinic-ca.pem" in lines[0] and "0755" in lines[0]
        # Made by the script as it is now: the service user reads it.
        (tmp / "tls").chmod(0o755)
        p = as_service_user("check-config", "-c", str(cfg))
        assert (p.returncode, p.stdout.strip()) == (0, "ok"), p.stderr
    finally:
        shutil.rmtree(tmp)


def test_doctor_as_root_names_the_folder_the_service_user_cannot_enter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """doctor runs as root: it checks the path as the service user would walk it."""
    tmp = public_tmp(tmp_path)
    try:
        tls = tmp / "tls"
        make_certs(tls)
        tls.chmod(0o700)
        cfg = load_config(str(write_config(tmp, str(tls / "clinic-ca.pem"))))
        monkeypatch.setattr(serviceuser, "service_ids", lambda: (NOBODY, {NOBODY}))
        lines = [c.line() for c in doctor_host.check_service_files(cfg)]
        print(lines)
        assert len(lines) == 1 and lines[0].startswith("FAIL  mqtt.tls.ca_file")
        assert f"cannot enter {tls} (mode 0700) -> fix: chmod 0755 {tls}" in lines[0]
        tls.chmod(0o755)
        assert doctor_host.check_service_files(cfg) == []
    finally:
        shutil.rmtree(tmp)
