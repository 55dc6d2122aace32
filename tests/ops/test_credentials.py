"""Secret names as the shipped unit passes them (docs/delivery.md, "Several chairs on one
Pi"; monitord/credentials.py).

systemd/monitord.service loads the whole secrets directory (`LoadCredential=secrets:
/etc/monitord/secrets`): systemd 252 gives each regular file as `secrets_<file>` in
$CREDENTIALS_DIRECTORY and skips symlinks (systemd.exec(5)). These tests lay that
directory out the way systemd does (no root, no running systemd needed) and run the real
daemon and doctor on it.

Before: the unit passed only mqtt-password, influx-token and influx-password; a chair's
`mqtt_password_file = "mqtt-password-chair-3"` was then read relative to the unit's
working directory `/`, and the daemon retried the broker forever ("No such file or
directory: 'mqtt-password-chair-3'") while check-config and doctor said ok.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitord import credentials
from monitord.config import load_config, loads_config, read_secret
from monitord.config_checks import check
from tests.servers import Mosquitto, free_port, session_tmpdir
from tests.station.station_kit import write_nurses

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "monitord.service"
STATION_UNIT = REPO / "systemd" / "monitord-station.service"
USERS = {"chair-3": "pw3", "chair-4": "pw4"}
STATION_USER = ("station-1", "pw-station-1")
PY = [sys.executable, "-m", "monitord"]


def unit_env(**extra: str) -> dict[str, str]:
    """This environment for a `monitord` run from the unit's working directory `/`: this
    checkout's package first (from `/` the interpreter finds only the installed one)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def unit_directory_credential() -> tuple[str, Path]:
    """(ID, directory) of the unit's LoadCredential= of a directory."""
    m = re.search(r"^LoadCredential=([\w-]+):(/\S+)$", UNIT.read_text(), re.M)
    assert m, "the unit loads no credential"
    return m.group(1), Path(m.group(2))


def test_the_layout_these_tests_use_is_the_units() -> None:
    ident, directory = unit_directory_credential()
    assert (ident, directory) == (credentials.DIR_CREDENTIAL, credentials.SECRETS_DIR)
    assert credentials.credential_ids(Path("mqtt-password-chair-3")) == (
        "mqtt-password-chair-3",
        "secrets_mqtt-password-chair-3",
    )


def load_credential_dir(secrets: Path, creds: Path) -> None:
    """What systemd does at start for `LoadCredential=secrets:<secrets>`: a copy of each
    regular file as `secrets_<name>` (subdirectories joined with `_`), symlinks skipped."""
    creds.mkdir()
    for f in sorted(secrets.rglob("*")):
        if f.is_symlink() or not f.is_file():
            continue
        ident = "secrets_" + str(f.relative_to(secrets)).replace("/", "_")
        (creds / ident).write_bytes(f.read_bytes())


def load_unit_credentials(unit: Path, secrets: Path, creds: Path) -> None:
    """What systemd does at start for each `LoadCredential=ID:PATH` of `unit`, with
    /etc/monitord/secrets at `secrets`: a directory as `load_credential_dir`, a file
    as credential ID."""
    lines = re.findall(r"^LoadCredential=([\w-]+):(/\S+)$", unit.read_text(), re.M)
    assert lines, f"{unit.name} loads no credential"
    creds.mkdir()
    for ident, src in lines:
        local = secrets / Path(src).relative_to(credentials.SECRETS_DIR)
        if local.is_dir():
            for f in sorted(local.rglob("*")):
                if f.is_file() and not f.is_symlink():
                    name = str(f.relative_to(local)).replace("/", "_")
                    (creds / f"{ident}_{name}").write_bytes(f.read_bytes())
        else:
            (creds / ident).write_bytes(local.read_bytes())  # missing: the start fails


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    m = Mosquitto(Path(session_tmpdir("mq-creds")), users=dict([*USERS.items(), STATION_USER]))
    m.start()
    try:
        yield m
    finally:
        m.stop()


def two_chairs(tmp: Path, broker: Mosquitto) -> Path:
    cfg = tmp / "monitord.toml"
    chairs = "".join(
        f"""
[[chairs]]
id = "{c}"
mqtt_username = "{c}"
mqtt_password_file = "mqtt-password-{c}"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "socket://127.0.0.1:{c[-1]}"
"""
        for c in USERS
    )
    cfg.write_text(
        f"""
[site]
id = "clinic-north"
[mqtt]
host = "{broker.host}"
port = {broker.port}
[influx]
enabled = false
[storage]
path = "{tmp}/state/outbox.sqlite"
{chairs}"""
    )
    return cfg


def secrets_dir(tmp: Path, users: dict[str, str]) -> Path:
    sec = tmp / "secrets"
    sec.mkdir(mode=0o700)
    for u, p in users.items():
        (sec / f"mqtt-password-{u}").write_text(p + "\n")
        (sec / f"mqtt-password-{u}").chmod(0o600)
    return sec


def test_two_chairs_log_in_with_the_shipped_units_credentials(
    tmp_path: Path, broker: Mosquitto
) -> None:
    cfg = two_chairs(tmp_path, broker)
    load_credential_dir(secrets_dir(tmp_path, USERS), tmp_path / "credentials")
    env = unit_env(CREDENTIALS_DIRECTORY=str(tmp_path / "credentials"))
    d = subprocess.Popen(
        [*PY, "run", "-c", str(cfg)],
        env=env,
        cwd="/",  # the unit's working directory
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Until both chairs are connected (a fixed 6 s before: most of it spent after that),
    # or 30 s: the daemon of the bug retries the broker forever, and says why.
    lines: list[str] = []
    stdout = d.stdout
    assert stdout is not None

    def read() -> None:
        for ln in stdout:
            lines.append(ln)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and d.poll() is None
            and not all(any(f"MQTT {c}: connected" in ln for ln in list(lines)) for c in USERS)
        ):
            time.sleep(0.1)
    finally:
        d.terminate()
        d.wait(30)
        reader.join(30)
    out = "".join(lines)
    print(out[-3000:])
    for chair in USERS:
        assert f"MQTT {chair}: connected" in out, chair
    assert "No such file" not in out and "cannot reach broker" not in out


def test_a_credential_the_unit_did_not_pass_stops_the_daemon_with_78(
    tmp_path: Path, broker: Mosquitto
) -> None:
    cfg = two_chairs(tmp_path, broker)
    # chair-4's file was never written to the secrets directory.
    load_credential_dir(secrets_dir(tmp_path, {"chair-3": "pw3"}), tmp_path / "credentials")
    env = unit_env(CREDENTIALS_DIRECTORY=str(tmp_path / "credentials"))
    p = subprocess.run(
        [*PY, "run", "-c", str(cfg)], env=env, cwd="/", capture_output=True, text=True, timeout=60
    )
    print(p.stderr)
    assert p.returncode == 78
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "chairs[1].mqtt_password_file" in lines[0]
    assert "'mqtt-password-chair-4' was not passed to the service" in lines[0]
    assert "/etc/monitord/secrets/mqtt-password-chair-4" in lines[0] and "restart" in lines[0]


def test_read_secret_finds_both_credential_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "mqtt-password").write_text("own-line\n")  # an older drop-in's credential
    (creds / "secrets_mqtt-password-chair-3").write_text("from-directory\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mqtt-password-chair-9").write_text("never read from the cwd\n")
    assert read_secret(Path("mqtt-password")) == "own-line"
    assert read_secret(Path("mqtt-password-chair-3")) == "from-directory"
    with pytest.raises(credentials.CredentialMissing, match="'mqtt-password-chair-9'"):
        read_secret(Path("mqtt-password-chair-9"))


def test_check_config_outside_the_unit_looks_where_the_unit_loads(
    tmp_path: Path, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check-config run by the admin resolves names in the secrets directory, as the
    unit will: a missing one and a symlink (which systemd skips) are errors."""
    cfg = load_config(str(two_chairs(tmp_path, broker)))
    sec = secrets_dir(tmp_path, {"chair-3": "pw3"})
    (sec / "mqtt-password-chair-4").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").write_text("pw4\n")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setattr(credentials, "SECRETS_DIR", sec)
    errors, _ = check(cfg, "m.toml")
    print(errors)
    assert len(errors) == 1 and "chairs[1].mqtt_password_file" in errors[0]
    assert "symbolic link" in errors[0]
    (sec / "mqtt-password-chair-4").unlink()
    errors, _ = check(cfg, "m.toml")
    assert len(errors) == 1 and f"{sec}/mqtt-password-chair-4: no such file" in errors[0]
    (sec / "mqtt-password-chair-4").write_text("pw4\n")
    (sec / "mqtt-password-chair-4").chmod(0o600)
    assert check(cfg, "m.toml") == ([], [])


def test_check_config_judges_the_station_secret_as_the_chairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[station] mqtt_password_file, a name in the secrets directory the station's unit
    loads: a symlink there (systemd skips it) is an error and an empty file (the
    install's placeholder) a warning, as for a chair's. Before, check-config said `ok`
    to both: the station then stopped at start ("'pw' was not passed to the service")
    or was refused by the broker for ever."""
    sec = tmp_path / "secrets"
    sec.mkdir(mode=0o700)
    cfg = tmp_path / "station.toml"
    cfg.write_text(
        '[site]\nid = "clinic-north"\n[station]\nid = "station-1"\n'
        f'nurses_file = "{write_nurses(tmp_path / "nurses")}"\n'
        'mqtt_username = "station-1"\nmqtt_password_file = "station-mqtt-password"\n'
    )
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.delenv("MONITORD_STATION_MQTT_PASSWORD", raising=False)
    monkeypatch.setattr(credentials, "SECRETS_DIR", sec)
    c = load_config(str(cfg))
    secret = sec / "station-mqtt-password"
    (tmp_path / "elsewhere").write_text("pw\n")
    secret.symlink_to(tmp_path / "elsewhere")
    assert check(c, "s.toml") == (
        [
            f"s.toml: station.mqtt_password_file: {secret} is a symbolic link, which systemd "
            "skips when it loads the secrets directory: put the file itself there"
        ],
        [],
    )
    secret.unlink()
    secret.write_text("")
    secret.chmod(0o600)
    assert check(c, "s.toml") == (
        [],
        [
            f"s.toml: station.mqtt_password_file: warning: {secret} is empty: the login "
            "would be refused; write the secret into it (one line)"
        ],
    )
    secret.unlink()
    (errors, _) = check(c, "s.toml")
    assert len(errors) == 1 and errors[0].startswith(
        f"s.toml: station.mqtt_password_file: {secret}: no such file "
        "(nor MONITORD_STATION_MQTT_PASSWORD set); the unit passes "
        f"{sec}/station-mqtt-password as credential secrets_station-mqtt-password: write"
    ), errors
    # What the station does read: in the environment, the file is not looked at.
    monkeypatch.setenv("MONITORD_STATION_MQTT_PASSWORD", "pw")
    assert check(c, "s.toml") == ([], [])


def device(chair: str) -> str:
    """The chair's oximeter on a port of its own (one serial-over-LAN port serves one
    client: check-config refuses it named twice)."""
    return (
        '  [[chairs.devices]]\n  id = "ox"\n  driver = "masimo-ascii"\n'
        f'  port = "socket://127.0.0.1:{chair[-1]}"\n'
    )


def test_mqtt_password_file_is_checked_only_when_a_chair_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[mqtt] password_file is the login of the chairs without their own (config/example.toml
    names it; docs/delivery.md then gives each chair its own). Before, with every chair on
    its own login, a missing mqtt-password (never read) was exit 78."""
    chairs = "".join(
        f'[[chairs]]\nid = "{c}"\nmqtt_username = "{c}"\nmqtt_password_file = '
        f'"mqtt-password-{c}"\n{device(c)}'
        for c in USERS
    )
    cfg = tmp_path / "monitord.toml"
    cfg.write_text(
        '[site]\nid = "clinic-north"\n[mqtt]\nusername = "chair-1"\n'
        f'password_file = "mqtt-password"\n[influx]\nenabled = false\n{chairs}'
    )
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.delenv("MONITORD_MQTT_PASSWORD", raising=False)
    sec = secrets_dir(tmp_path, USERS)  # no mqtt-password in it
    monkeypatch.setattr(credentials, "SECRETS_DIR", sec)
    assert check(load_config(str(cfg)), "m.toml") == ([], [])
    # A chair on [mqtt]'s login: its file is read, and missing it is refused.
    cfg.write_text(cfg.read_text() + f'[[chairs]]\nid = "chair-1"\n{device("chair-1")}')
    (errors, _) = check(load_config(str(cfg)), "m.toml")
    assert len(errors) == 1 and errors[0].startswith(
        f"m.toml: mqtt.password_file: {sec}/mqtt-password: no such file"
    ), errors


def test_doctor_looks_up_names_as_the_unit_and_says_it_runs_outside(
    tmp_path: Path, broker: Mosquitto
) -> None:
    cfg = two_chairs(tmp_path, broker)
    sec = secrets_dir(tmp_path, {"chair-3": "pw3"})
    (tmp_path / "mqtt-password-chair-4").write_text("pw4\n")  # in the cwd: not the unit's
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    p = subprocess.run(
        [*PY, "doctor", "-c", str(cfg), "--credentials", str(sec), "--timeout", "2"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(p.stdout, p.stderr)
    assert p.returncode == 1
    checks = [ln for ln in p.stdout.splitlines() if "config checks" in ln]
    assert any(ln.startswith("FAIL") and "mqtt-password-chair-4" in ln for ln in checks)
    cred = next(ln for ln in p.stdout.splitlines() if " credentials:" in ln)
    assert "outside the unit" in cred and str(sec) in cred
    # The fix names the file the unit loads, not one in --credentials DIR (it said "the
    # unit passes DIR/NAME as credential NAME": neither was the unit's).
    unit_file = credentials.SECRETS_DIR / "mqtt-password-chair-4"
    (fail,) = [ln for ln in checks if ln.startswith("FAIL")]
    assert f"the unit passes {unit_file} as credential secrets_mqtt-password-chair-4" in fail
    assert f"the unit passes {sec}" not in fail
    (mqtt,) = [ln for ln in p.stdout.splitlines() if ln.split()[1:2] == ["mqtt:"]]
    assert f"the unit reads {unit_file}" in mqtt, mqtt


def test_check_config_without_the_secrets_directory_names_it(
    tmp_path: Path, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run by hand on a Pi where /etc/monitord/secrets was never made: check-config said
    ok (it could not look), and the unit then failed to start. One line per secret now,
    naming the missing directory and the file to write, as for a missing file."""
    cfg = load_config(str(two_chairs(tmp_path, broker)))
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    gone = tmp_path / "no-secrets-here"
    monkeypatch.setattr(credentials, "SECRETS_DIR", gone)
    errors, _ = check(cfg, "m.toml")
    assert len(errors) == 2, errors
    for i, chair in enumerate(USERS):
        assert errors[i].startswith(f"m.toml: chairs[{i}].mqtt_password_file: ")
        assert f"{gone}/mqtt-password-{chair}: no such file" in errors[i]
        assert f"the secrets directory {gone} does not exist" in errors[i]
        assert "\n" not in errors[i]


def test_the_station_unit_passes_a_secret_of_any_name(tmp_path: Path, broker: Mosquitto) -> None:
    """docs/station.md: `mqtt_password_file` is a name in /etc/monitord/secrets. Before, the
    station's unit passed only `station-mqtt-password`, so a site's `"broker-pass"` stopped
    the station at start (exit 78, "'broker-pass' was not passed to the service")."""
    user, password = STATION_USER
    sec = tmp_path / "secrets"
    sec.mkdir(mode=0o700)
    (sec / "station-mqtt-password").write_text("")  # the install's empty placeholder
    (sec / "broker-pass").write_text(password + "\n")
    for f in sec.iterdir():
        f.chmod(0o600)
    load_unit_credentials(STATION_UNIT, sec, tmp_path / "credentials")
    cfg = tmp_path / "station.toml"
    cfg.write_text(
        f"""
[site]
id = "clinic-north"
[mqtt]
host = "{broker.host}"
port = {broker.port}
[station]
id = "{user}"
listen = "127.0.0.1:{free_port()}"
nurses_file = "{write_nurses(tmp_path / "nurses")}"
mqtt_username = "{user}"
mqtt_password_file = "broker-pass"
"""
    )
    env = unit_env(CREDENTIALS_DIRECTORY=str(tmp_path / "credentials"))
    env.pop("MONITORD_STATION_MQTT_PASSWORD", None)
    log = tmp_path / "station.log"
    with open(log, "wb") as out:
        st = subprocess.Popen(
            [*PY, "station", "-c", str(cfg)], env=env, cwd="/", stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 30
        while "station MQTT: connected" not in log.read_text() and st.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        st.terminate()
        st.wait(timeout=30)
    text = log.read_text()
    print(text[-3000:])
    assert "station MQTT: connected" in text, text
    assert "was not passed" not in text and "not authori" not in text.lower()


def test_a_nested_secret_name_is_said_where_it_is_looked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name with a directory (`sub/pw`, which the unit passes as `secrets_sub_pw`) was
    judged by its file's own directory: with no --credentials given, both checks said it
    was looked up in --credentials, and doctor's line sent the admin to the unit's file
    as if it were elsewhere; inside the unit it was told to "create" the unit's copy."""
    from monitord.commands import checks

    sec = tmp_path / "secrets"
    sec.mkdir()
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setattr(credentials, "SECRETS_DIR", sec)
    monkeypatch.setattr(checks, "SECRETS_DIR", sec)
    cfg = loads_config(
        '[site]\nid = "c"\n[mqtt]\nusername = "u"\npassword_file = "sub/pw"\n'
        '[[chairs]]\nid = "chair-1"\n'
    )
    (error,) = check(cfg, "m.toml")[0]
    assert error == (
        f"m.toml: mqtt.password_file: {sec}/sub/pw: no such file (nor MONITORD_MQTT_PASSWORD "
        f"set); the unit passes {sec}/sub/pw as credential secrets_sub_pw: write the secret "
        "there (a regular file; directory 0700, file 0600, root-only)"
    )
    with pytest.raises(checks.SecretProblem) as e:
        checks.secret(Path("sub/pw"), None, "password file")
    assert (
        str(e.value) == f"password file not found at {sec}/sub/pw; create it (root-only, mode 0600)"
    )
    unit = tmp_path / "unit-credentials"
    unit.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(unit))
    with pytest.raises(checks.SecretProblem) as e:
        checks.secret(Path("sub/pw"), unit, "password file")
    assert str(e.value) == (
        f"password file not found at {unit}/sub/pw: the unit did not pass it; write it to "
        f"{sec}/sub/pw (root-only, mode 0600), then restart the service"
    )
