"""A secret named by an absolute path that the service user cannot read.

docs/operations.md ("Secrets"): a relative name is passed by the unit
(`LoadCredential=secrets:/etc/monitord/secrets`, readable by the service whatever the
file's mode); "an absolute path is read as it is", by the daemon as the unit's user
`monitord`. Before: a root-only `password_file = "/etc/monitord/mqtt.pass"` (0600 root,
as an admin makes a secret) passed `check-config` (also as the service user: only an
empty or world-readable file was said) and `sudo monitord doctor` (root reads it), and
`monitord run` started, then logged `MQTT chair-1: cannot reach broker ...: [Errno 13]
Permission denied: '/.../mqtt.pass'` every few seconds, forever: no monitoring reached the
station, and systemd saw a running service. Now it is exit 78 with one line naming the
field and the file (systemd does not retry 78), and doctor, as root, fails the line for
the service user.

As root (the test machines), the commands run as another user (setpriv, as
tests/ops/test_tls_file_access.py); as any other user the file is closed to itself (mode
000; only root would read it). Both run the same check, never a skip.
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
from tests.ops.test_tls_file_access import NOBODY, REPO, as_service_user, public_tmp

AS_ROOT = os.geteuid() == 0
CLOSED = 0o600 if AS_ROOT else 0o000


def write_config(tmp: Path, secret: Path) -> Path:
    cfg = tmp / "monitord.toml"
    cfg.write_text(
        f"""
[site]
id = "t"
[mqtt]
host = "127.0.0.1"
port = 1
username = "chair-1"
password_file = "{secret}"
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


def test_a_secret_the_service_user_cannot_read_is_exit_78_one_line(tmp_path: Path) -> None:
    tmp = public_tmp(tmp_path)
    try:
        (tmp / "state").mkdir(mode=0o777)
        (tmp / "state").chmod(0o777)  # the daemon's store: the other user may write it
        secret = tmp / "mqtt.pass"
        secret.write_text("s3cret\n")
        secret.chmod(CLOSED)
        cfg = write_config(tmp, secret)
        # check-config first: on the old code `run` would retry the login for ever.
        for cmd in (["check-config", "-c", str(cfg)], ["run", "-c", str(cfg)]):
            p = as_service_user(*cmd)
            print(cmd[0], p.returncode, p.stdout, p.stderr)
            assert p.returncode == 78, p.stderr
            assert "Traceback" not in p.stderr
            lines = p.stderr.strip().splitlines()
            assert len(lines) == 1, lines
            assert lines[0].startswith(f"{cfg}: mqtt.password_file: {secret}: not readable"), lines
            assert f"mode {CLOSED:04o}" in lines[0] and "/etc/monitord/secrets" in lines[0]
        # Readable by the service user (here: every user): the config is accepted.
        secret.chmod(0o644)
        p = as_service_user("check-config", "-c", str(cfg))
        assert (p.returncode, p.stdout.strip()) == (0, "ok"), p.stderr
    finally:
        shutil.rmtree(tmp)


def test_doctor_as_root_fails_a_secret_the_service_user_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """doctor runs as root, so it reads every file: it judges the secret as the service
    user (here another uid than the file's owner) would meet it."""
    tmp = public_tmp(tmp_path)
    try:
        secret = tmp / "mqtt.pass"
        secret.write_text("s3cret\n")
        secret.chmod(0o600)
        cfg = load_config(str(write_config(tmp, secret)))
        monkeypatch.setattr(serviceuser, "service_ids", lambda: (NOBODY, {NOBODY}))
        lines = [c.line() for c in doctor_host.check_service_files(cfg)]
        print(lines)
        assert len(lines) == 1 and lines[0].startswith("FAIL  mqtt.password_file: "), lines
        assert f"user monitord cannot read {secret} (mode 0600)" in lines[0]
        # The fix keeps it a secret (not 0644) or puts it where the unit passes it.
        assert "-> fix: chgrp monitord" in lines[0] and "chmod 0640" in lines[0]
        assert "/etc/monitord/secrets" in lines[0]
        # A relative name is a credential the unit passes: never judged by its mode here.
        rel = load_config(str(write_config(tmp, Path("mqtt.pass"))))
        assert rel.mqtt.password_file == Path("mqtt.pass")
        assert doctor_host.check_service_files(rel) == []
        secret.chmod(0o644)
        assert doctor_host.check_service_files(cfg) == []
    finally:
        shutil.rmtree(tmp)


# check-config run by an admin who is neither root nor the service user: the service user
# (here a stand-in uid, as the doctor test's) is made to exist for monitord.serviceuser,
# in the subprocess that runs as that admin. As root, the admin is NOBODY (setpriv) and
# the file is root's, in the stand-in's group; as any other user, the admin is this user
# and the file this user's, readable by its group only (0040: the owner may not read it),
# the stand-in being in that group. Never a skip: both ways run the same check.
AS_ADMIN = """
import sys
from monitord import serviceuser
serviceuser.service_ids = lambda: ({uid}, {{{gid}}})
from monitord.cli import main
sys.argv = ["monitord", *sys.argv[1:]]
sys.exit(main())
"""
SERVICE = 4242  # the stand-in service user: neither NOBODY, root nor this user
SERVICE_GID = SERVICE if AS_ROOT else os.getgid()


def give_to_service(path: Path) -> None:
    """`path` readable by the service's group and not by the admin: 0640 root:monitord as
    docs/operations.md says (as root); 0040 in this user's group (else)."""
    if AS_ROOT:
        os.chown(path, 0, SERVICE)
        path.chmod(0o640)
    else:
        path.chmod(0o040)


def as_admin(*args: str) -> subprocess.CompletedProcess[str]:
    """`monitord ARGS` run by the admin, with the service user SERVICE in SERVICE_GID."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path[1:]])}
    user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    script = AS_ADMIN.format(uid=SERVICE, gid=SERVICE_GID)
    return subprocess.run(
        [*(user if AS_ROOT else []), sys.executable, "-c", script, *args],
        capture_output=True, text=True, env=env, cwd="/", timeout=60,
    )  # fmt: skip


def test_check_config_by_an_admin_outside_the_group_accepts_a_0640_service_group_secret(
    tmp_path: Path,
) -> None:
    """docs/operations.md ("Secrets") tells to make an absolute secret 0640 root:monitord.
    Before, an admin outside the group running `monitord check-config` (install.md step 1,
    no sudo) got exit 78 whose fix was `chgrp monitord` and `chmod 0640`: what it already
    was. The service user reads it; `monitord run` by that admin still refuses it (it
    would read the file as itself)."""
    tmp = public_tmp(tmp_path)
    try:
        (tmp / "state").mkdir(mode=0o777)
        (tmp / "state").chmod(0o777)
        secret = tmp / "mqtt.pass"
        secret.write_text("s3cret\n")
        give_to_service(secret)
        cfg = write_config(tmp, secret)
        p = as_admin("check-config", "-c", str(cfg))
        assert (p.returncode, p.stdout.strip()) == (0, "ok"), p.stderr
        # The service user cannot read it either (0600 root, or 000): refused, naming it.
        secret.chmod(CLOSED)
        p = as_admin("check-config", "-c", str(cfg))
        assert p.returncode == 78, p.stderr
        assert p.stderr.startswith(f"{cfg}: mqtt.password_file: {secret}: not readable"), p.stderr
        # `run` reads it as this user: refused whoever else may read it.
        give_to_service(secret)
        p = as_admin("run", "-c", str(cfg))
        assert p.returncode == 78, p.stderr
        assert f"{secret}: not readable by this user" in p.stderr, p.stderr
    finally:
        shutil.rmtree(tmp)


def test_station_secret_by_absolute_path_is_judged_as_the_chairs(tmp_path: Path) -> None:
    """[station] mqtt_password_file named by an absolute path: the station reads it as the
    unit's user too. Before, unreadable, its fix said "make it 0644" (a broker password
    readable by every user, which the next check-config then warned of), and an admin
    outside the group was refused a 0640 root:monitord file as for the chairs."""
    from tests.station.station_kit import write_nurses

    tmp = public_tmp(tmp_path)
    try:
        write_nurses(tmp / "nurses").chmod(0o644)  # this admin reads it (a warning only)
        secret = tmp / "station.pass"
        secret.write_text("s3cret\n")
        secret.chmod(CLOSED)
        cfg = tmp / "station.toml"
        cfg.write_text(
            '[site]\nid = "clinic-test"\n[station]\nid = "station-1"\nnurses_file = "nurses"\n'
            f'mqtt_username = "station-1"\nmqtt_password_file = "{secret}"\n'
        )
        cfg.chmod(0o644)
        p = as_service_user("check-config", "-c", str(cfg))
        assert p.returncode == 78, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(
            f"{cfg}: station.mqtt_password_file: {secret}: not readable by this user"
        ), lines
        assert "0644" not in lines[0] and f"chmod 0640 {secret}" in lines[0], lines
        assert "/etc/monitord/secrets" in lines[0], lines
        # In the service's group, checked by an admin outside it: accepted.
        give_to_service(secret)
        p = as_admin("check-config", "-c", str(cfg))
        assert (p.returncode, p.stdout.strip()) == (0, "ok"), p.stderr
    finally:
        shutil.rmtree(tmp)


def test_check_config_by_an_admin_outside_the_group_accepts_a_0640_client_key(
    tmp_path: Path,
) -> None:
    """docs/install.md: "A client key (`[mqtt.tls] key_file`) is 0640 root:monitord". An
    admin outside the group was refused it by check-config ("make it 0644, or 0640 group
    monitord for a key": what it was), as the secrets; `run` as that admin still refuses."""
    from tests.ops.test_tls_file_access import make_certs
    from tests.ops.test_tls_file_access import write_config as tls_config

    tmp = public_tmp(tmp_path)
    try:
        make_certs(tmp / "tls")
        key = tmp / "tls" / "broker.key"  # a client key stand-in: only its mode is judged
        give_to_service(key)
        cfg = tls_config(tmp, str(tmp / "tls" / "clinic-ca.pem"))
        text = cfg.read_text().replace(
            "  ca_file =",
            f'  cert_file = "{tmp / "tls" / "broker.pem"}"\n  key_file = "{key}"\n  ca_file =',
        )
        cfg.write_text(text)
        p = as_admin("check-config", "-c", str(cfg))
        assert (p.returncode, p.stdout.strip()) == (0, "ok"), p.stderr
        key.chmod(CLOSED)  # the service user cannot read it either: refused
        p = as_admin("check-config", "-c", str(cfg))
        assert p.returncode == 78, p.stderr
        assert f"mqtt.tls.key_file: {key}: not readable by this user" in p.stderr, p.stderr
    finally:
        shutil.rmtree(tmp)


def test_check_config_by_an_admin_outside_the_group_accepts_the_stations_own_files(
    tmp_path: Path,
) -> None:
    """docs/install.md ("The nurses' station"): the nurses file and the station's TLS key
    belong to the service's user. An admin outside its group was refused both ("not
    readable by this user (make it 0644, ...)": PIN hashes for every user to read) while
    the station reads them; `monitord station` by that admin still refuses them."""
    from tests.ops.test_tls_file_access import make_certs
    from tests.station.station_kit import write_nurses

    tmp = public_tmp(tmp_path)
    try:
        make_certs(tmp / "tls")
        nurses, key = write_nurses(tmp / "nurses"), tmp / "tls" / "broker.key"
        for f in (nurses, key):
            give_to_service(f)
        cfg = tmp / "station.toml"
        cfg.write_text(
            '[site]\nid = "clinic-test"\n[station]\nid = "station-1"\n'
            f'nurses_file = "{nurses}"\ntls_cert_file = "{tmp / "tls" / "broker.pem"}"\n'
            f'tls_key_file = "{key}"\n'
        )
        cfg.chmod(0o644)
        p = as_admin("check-config", "-c", str(cfg))
        assert (p.returncode, p.stdout.strip()) == (0, "ok"), p.stderr
        # Closed to the service user too: refused, each naming its file.
        for f in (nurses, key):
            f.chmod(CLOSED)
        p = as_admin("check-config", "-c", str(cfg))
        assert p.returncode == 78, p.stderr
        lines = p.stderr.strip().splitlines()
        assert [ln.split(": ")[1:3] for ln in lines] == [
            ["station.nurses_file", str(nurses)],
            ["station.tls_key_file", str(key)],
        ], lines
        assert all("not readable by this user" in ln for ln in lines), lines
        # Their fix keeps PIN hashes and the key private: never "make it 0644".
        assert all("(make it owned by monitord, mode 0600)" in ln for ln in lines), lines
        assert not any("0644" in ln for ln in lines), lines
    finally:
        shutil.rmtree(tmp)


def test_doctor_as_root_fails_station_files_the_service_user_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/install.md ("The nurses' station"): `sudo monitord station --add-nurse` makes
    the nurses file 0600 root; the station (user monitord) then stops at start with exit
    78. `sudo check-config` reads it as root; before, `sudo monitord doctor` said nothing
    of it either (it judged only the chairs' secrets and TLS files for the service)."""
    from tests.station.station_kit import write_nurses

    tmp = public_tmp(tmp_path)
    try:
        nurses = write_nurses(tmp / "nurses")  # 0600, this user's: as --add-nurse made it
        cfg = tmp / "station.toml"
        cfg.write_text(
            f'[site]\nid = "clinic-test"\n[station]\nid = "station-1"\nnurses_file = "{nurses}"\n'
        )
        monkeypatch.setattr(serviceuser, "service_ids", lambda: (NOBODY, {NOBODY}))
        lines = [c.line() for c in doctor_host.check_service_files(load_config(str(cfg)))]
        print(lines)
        assert len(lines) == 1 and lines[0].startswith("FAIL  station.nurses_file: "), lines
        assert f"user monitord cannot read {nurses} (mode 0600)" in lines[0], lines
        # The fix keeps the PIN hashes private (never 0644): the service user's own file.
        assert f"-> fix: chown monitord:monitord {nurses} && chmod 0600 {nurses}" in lines[0]
        monkeypatch.setattr(serviceuser, "service_ids", lambda: (os.geteuid(), {os.getegid()}))
        assert doctor_host.check_service_files(load_config(str(cfg))) == []
    finally:
        shutil.rmtree(tmp)


def test_station_files_in_a_closed_directory_are_never_told_0644(tmp_path: Path) -> None:
    """The station's nurses file and TLS key behind a directory its reader may not enter
    (a key left in /etc/ssl/private, 0710 root:ssl-cert; a folder made under umask 077).
    Before: "make the directories 0755 and the file 0644", the fix of a certificate: PIN
    hashes and a private key readable by every user. Now the directories are opened and
    the files stay monitord's, 0600."""
    from tests.ops.test_tls_file_access import CLOSED as CLOSED_DIR
    from tests.ops.test_tls_file_access import make_certs
    from tests.station.station_kit import write_nurses

    tmp = public_tmp(tmp_path)
    private = tmp / "private"
    try:
        make_certs(tmp / "tls")
        private.mkdir()
        nurses = write_nurses(private / "nurses")
        key = private / "station.key"
        shutil.copy(tmp / "tls" / "broker.key", key)
        private.chmod(CLOSED_DIR)
        cfg = tmp / "station.toml"
        cfg.write_text(
            '[site]\nid = "clinic-test"\n[station]\nid = "station-1"\n'
            f'nurses_file = "{nurses}"\ntls_cert_file = "{tmp / "tls" / "broker.pem"}"\n'
            f'tls_key_file = "{key}"\n'
        )
        cfg.chmod(0o644)
        p = as_service_user("check-config", "-c", str(cfg))
        assert p.returncode == 78, p.stderr
        lines = p.stderr.strip().splitlines()
        assert [ln.split(": ")[1:3] for ln in lines] == [
            ["station.nurses_file", str(nurses)],
            ["station.tls_key_file", str(key)],
        ], lines
        assert all("not reachable by this user" in ln for ln in lines), lines
        assert all("owned by monitord, mode 0600" in ln for ln in lines), lines
        assert not any("0644" in ln for ln in lines), lines
    finally:
        if private.exists():
            private.chmod(0o755)
        shutil.rmtree(tmp)


def test_a_client_key_the_service_user_cannot_read_is_never_told_0644(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/install.md: a client key (`[mqtt.tls] key_file`) is 0640 root:monitord. A
    root-only 0600 one: `sudo monitord doctor` said "chmod 0644 KEY" (the certificates'
    fix: the private key for every user); behind a folder the service user may not enter,
    check-config said "the file 0644". Both now keep it 0640 group monitord."""
    from tests.ops.test_tls_file_access import CLOSED as CLOSED_DIR
    from tests.ops.test_tls_file_access import make_certs
    from tests.ops.test_tls_file_access import write_config as tls_config

    tmp = public_tmp(tmp_path)
    private = tmp / "private"
    try:
        make_certs(tmp / "tls")
        private.mkdir()
        key = private / "client.key"  # a client key stand-in: only its mode is judged
        shutil.copy(tmp / "tls" / "broker.key", key)
        key.chmod(0o600)
        cfg = tls_config(tmp, str(tmp / "tls" / "clinic-ca.pem"))
        cfg.write_text(
            cfg.read_text().replace(
                "  ca_file =",
                f'  cert_file = "{tmp / "tls" / "broker.pem"}"\n  key_file = "{key}"\n  ca_file =',
            )
        )
        monkeypatch.setattr(serviceuser, "service_ids", lambda: (NOBODY, {NOBODY}))
        lines = [c.line() for c in doctor_host.check_service_files(load_config(str(cfg)))]
        assert len(lines) == 1 and lines[0].startswith("FAIL  mqtt.tls.key_file: "), lines
        assert f"chgrp monitord {key} && chmod 0640 {key}" in lines[0], lines
        assert "0644" not in lines[0], lines
        monkeypatch.undo()
        # Closed to its reader itself (`run`, check-config as the service user): the file,
        # whose prose said "make it 0644, or 0640 group monitord for a key", then a folder.
        for closed, said in ((key, "not readable"), (private, "not reachable")):
            closed.chmod(CLOSED if closed == key else CLOSED_DIR)
            p = as_service_user("check-config", "-c", str(cfg))
            assert p.returncode == 78, p.stderr
            line = p.stderr.strip()
            assert f"mqtt.tls.key_file: {key}: {said} by this user" in line, line
            assert "0640 group monitord" in line and "0644" not in line, line
    finally:
        if private.exists():
            private.chmod(0o755)
        shutil.rmtree(tmp)


def test_every_file_kind_is_listed_and_an_unlisted_key_is_no_quiet_0644() -> None:
    # The advice for a file the service reads depends on what it is; a key missing from
    # the list fell through to "public" (0644), also for a secret added later.
    from monitord.config_checks import FILE_KINDS, file_kind

    assert {k for k, v in FILE_KINDS.items() if v != "public"} == {
        "mqtt.tls.key_file",
        "station.tls_key_file",
        "station.nurses_file",
    }
    with pytest.raises(KeyError):
        file_kind("station.mqtt_password_file")
