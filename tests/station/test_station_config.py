"""`[station]` in the config: a station-only config (no chairs) is valid for `check-config`
and `monitord station`, not for `monitord run`; check-config names each bad station field
(exit 78); the nurses file and the live model's parsing rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitord.station.auth import (
    Logins,
    NursesFileError,
    RateLimit,
    check_login,
    hash_pin,
    load_nurses,
    nurse_line,
    verify_pin,
)
from monitord.station.model import StationModel
from tests.ops.test_tls_file_access import make_certs
from tests.station.station_kit import write_nurses


def monitord(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitord", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=None if env is None else {**os.environ, **env},
    )


def station_only(tmp: Path, station: str) -> Path:
    cfg = tmp / "station.toml"
    cfg.write_text(f'[site]\nid = "clinic-test"\ntimezone = "Europe/Paris"\n[station]\n{station}')
    return cfg


def test_station_only_config_ok_for_check_config_refused_by_run(tmp_path: Path) -> None:
    write_nurses(tmp_path / "nurses")
    cfg = station_only(tmp_path, 'id = "station-1"\nnurses_file = "nurses"\n')
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")
    r = monitord("run", "--config", str(cfg))
    assert r.returncode == 78
    assert r.stderr.splitlines() == [
        f"{cfg}: chairs: no [[chairs]]: this config monitors nothing; add one [[chairs]] per chair"
    ]


def test_a_nurses_file_naming_nobody_is_a_warning(tmp_path: Path) -> None:
    """Nobody could log in to acknowledge an alarm, and check-config said ok. A warning,
    not an error: the file is re-read at each login, so nurses added later are let in."""
    (tmp_path / "nurses").write_text("# one line per nurse: --add-nurse NAME\n\n")
    (tmp_path / "nurses").chmod(0o600)
    cfg = station_only(tmp_path, 'id = "station-1"\nnurses_file = "nurses"\n')
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    assert r.stderr.splitlines() == [
        f"{cfg}: station.nurses_file: warning: {tmp_path / 'nurses'} names no nurse: nobody "
        "can log in to acknowledge an alarm; add each with monitord station -c CONFIG "
        "--add-nurse NAME"
    ]


def test_check_config_names_missing_station_files(tmp_path: Path) -> None:
    (tmp_path / "nurses").write_text("alice:not-a-hash\n")
    cfg = station_only(
        tmp_path,
        'id = "station-1"\nnurses_file = "nurses"\ntls_cert_file = "c.pem"\n'
        'tls_key_file = "k.pem"\nmqtt_username = "station-1"\n'
        f'mqtt_password_file = "{tmp_path / "nope.pass"}"\n',
    )
    r = monitord("check-config", str(cfg))
    assert r.returncode == 78, r.stderr
    assert r.stderr.splitlines() == [
        f"{cfg}: station.mqtt_password_file: {tmp_path / 'nope.pass'}: no such file "
        "(nor MONITORD_STATION_MQTT_PASSWORD set)",
        f"{cfg}: station.tls_cert_file: {tmp_path / 'c.pem'}: no such file",
        f"{cfg}: station.tls_key_file: {tmp_path / 'k.pem'}: no such file",
        f"{cfg}: station.nurses_file: line 1: expected 'name:pbkdf2_sha256$...' (see --add-nurse)",
    ]


def test_station_refuses_a_config_without_station(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[site]\nid = "x"\n[[chairs]]\nid = "chair-1"\n')
    r = monitord("station", "-c", str(cfg))
    assert r.returncode == 78
    assert r.stderr.strip() == f"{cfg}: station: missing: add a [station] section"


def test_pins_are_salted_hashes_and_checked(tmp_path: Path) -> None:
    a, b = hash_pin("4821", iterations=1000), hash_pin("4821", iterations=1000)
    assert a != b and "4821" not in a  # salted
    assert verify_pin("4821", a) and not verify_pin("4822", a) and not verify_pin("4821", "x")
    p = tmp_path / "nurses"
    p.write_text(nurse_line("alice", "4821") + "# comment\n\n" + nurse_line("bob", "9174"))
    assert sorted(load_nurses(p)) == ["alice", "bob"]
    with pytest.raises(NursesFileError, match="at least 4"):
        nurse_line("carol", "12")
    with pytest.raises(NursesFileError, match="no ':'"):
        nurse_line("a:b", "1234")
    p.write_text(nurse_line("alice", "4821") * 2)
    with pytest.raises(NursesFileError, match="line 2: nurse 'alice' appears twice"):
        load_nurses(p)


def test_a_nurses_file_saved_with_a_byte_order_mark_lets_its_first_nurse_log_in(
    tmp_path: Path,
) -> None:
    # Notepad saves "UTF-8" with a byte-order mark: it was read as part of the first
    # nurse's name ("\ufeffalice"), so alice's login was refused as a name that is no
    # nurse's, and had she been matched, the BOM went into every `by` of hers.
    p = tmp_path / "nurses"
    alice, bob = hash_pin("4821", iterations=1000), hash_pin("9174", iterations=1000)
    p.write_text(f"alice:{alice}\nbob:{bob}\n", encoding="utf-8-sig")
    nurses = load_nurses(p)
    assert sorted(nurses) == ["alice", "bob"]
    assert check_login(nurses, "alice", "4821")


def test_logins_expire_and_rate_limit_counts_failures() -> None:
    logins = Logins(ttl_s=60)
    token, login = logins.open("alice", now=1000)
    assert logins.get(token, now=1059) is login
    assert logins.get(token, now=1060) is None
    assert logins.get("forged", now=1000) is None
    limit = RateLimit(attempts=2, window_s=10)
    limit.failed("1.2.3.4", now=0)
    assert not limit.blocked("1.2.3.4", now=1)
    limit.failed("1.2.3.4", now=1)
    assert limit.blocked("1.2.3.4", now=2) and not limit.blocked("1.2.3.4", now=12)


def test_model_follows_events_and_active_sets_ignores_doctor_and_junk() -> None:
    m = StationModel("monitord", "site")
    base = "monitord/site/chair-1/"
    ev = {
        "time": "2026-11-30T10:00:00.000Z",
        "rule": "bp.crisis",
        "event": "raised",
        "priority": "high",
        "kind": "physiological",
        "alert_id": "a1",
        "phase": "dosing",
        "message": "BP 212/124",
        "value": {},
    }
    ch = m.apply(base + "alerts/events", json.dumps(ev).encode())
    assert ch.chairs == {"chair-1"} and ch.events[0]["chair"] == "chair-1"
    assert m.chairs["chair-1"].alerts[0]["alert_id"] == "a1"
    ack = {**ev, "event": "acknowledged", "by": "alice"}
    m.apply(base + "alerts/events", json.dumps(ack).encode())
    active = {
        "time": "2026-11-30T10:00:05.000Z",
        "alerts": [{"alert_id": "a1", "rule": "bp.crisis", "priority": "high", "ack": True}],
    }
    m.apply(base + "alerts/active", json.dumps(active).encode())
    a = m.chairs["chair-1"].alerts[0]
    assert a["ack"] is True and a["by"] == "alice"  # the name kept from the event
    doctor = {"doctor": True, "state": "offline", "time": "x"}
    assert not m.apply(base + "status", json.dumps(doctor).encode()).chairs
    assert m.chairs["chair-1"].online is None
    why = m.apply(base + "status", b"{not json").rejected
    assert why is not None and why.startswith(f"{base}status: payload is not JSON: ")
    assert m.apply(base + "status", b'{"state": "maybe"}').rejected
    m.apply(base + "status", b'{"state": "offline", "time": "2026-11-30T10:00:06Z"}')
    assert m.chairs["chair-1"].online is False
    m.apply(base + "alerts/events", json.dumps({**ev, "event": "cleared"}).encode())
    assert m.chairs["chair-1"].alerts == []
    m.apply(
        "monitord/site/stations/station-9", b'{"state": "online", "time": "2026-11-30T10:00:07Z"}'
    )
    assert m.stations["station-9"]["state"] == "online"
    err = {
        "time": "2026-11-30T10:00:08Z",
        "topic": "x",
        "error": "session_start while a session is open",
    }
    m.apply(base + "cmd/errors", json.dumps(err).encode())
    assert m.chairs["chair-1"].errors[-1]["error"] == "session_start while a session is open"


def test_shipped_station_config_is_ok(tmp_path: Path) -> None:
    # Its files at their installed paths are stand-ins here (check-config verifies them).
    text = (Path(__file__).resolve().parents[2] / "config" / "station.toml").read_text()
    # Each TLS file must load as what it is (check-config loads the CA as the daemon, the
    # pair as the station): the broker's pair from make-certs.sh stands in for the station's.
    make_certs(tmp_path / "certs")
    made = {"clinic-ca.pem": "clinic-ca.pem", "station.pem": "broker.pem"}
    made["station.key"] = "broker.key"
    for name in ("clinic-ca.pem", "station.pem", "station.key", "station-mqtt.pass"):
        (tmp_path / name).write_text("stand-in\n")
        if name in made:
            shutil.copy(tmp_path / "certs" / made[name], tmp_path / name)
        (tmp_path / name).chmod(0o600)
        text = text.replace(f"/etc/monitord/tls/{name}", str(tmp_path / name))
        text = text.replace(f"/etc/monitord/{name}", str(tmp_path / name))
    write_nurses(tmp_path / "nurses")
    text = text.replace("/etc/monitord/nurses", str(tmp_path / "nurses"))
    cfg = tmp_path / "station.toml"
    cfg.write_text(text)
    # Its broker password as the unit passes it (a relative name: its credential), since
    # check-config refuses a secret that is missing where the unit would load it.
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "secrets_station-mqtt-password").write_text("stand-in\n")
    (creds / "secrets_station-mqtt-password").chmod(0o600)
    r = monitord("check-config", str(cfg), env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")


def test_a_station_whose_id_is_not_its_account_is_warned(tmp_path: Path) -> None:
    """A second room's station.toml copied from the first, its account changed and its
    id kept: the shipped ACL lets the account write only its own stations/<account>, so
    the broker refuses the station's status and the chairs count no station online from
    it. check-config said ok (tests/station/test_station_status_refused.py is the same
    at run time)."""
    write_nurses(tmp_path / "nurses")
    pw = tmp_path / "station-mqtt.pass"
    pw.write_text("pw")
    pw.chmod(0o600)
    login = f'mqtt_username = "station-2"\nmqtt_password_file = "{pw}"\n'
    cfg = station_only(tmp_path, f'id = "station-1"\nnurses_file = "nurses"\n{login}')
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    assert r.stderr.splitlines() == [
        f"{cfg}: station.id: warning: station 'station-1' logs in as 'station-2', which the "
        "shipped ACL (config/mosquitto/monitord.acl) does not let publish its status on "
        "monitord/clinic-test/stations/station-1: the chairs would count no station online "
        'from it; give it the id of its account (id = "station-2") or extend the ACL; but '
        "if another station already logs in as 'station-2', give this one its own account "
        '(mqtt_username = "station-1", with its block in the broker ACL): two stations on one '
        "account take the broker connection from each other"
    ]
    # Its own account's id: nothing to say.
    cfg.write_text(cfg.read_text().replace('id = "station-1"', 'id = "station-2"'))
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")


def test_a_second_room_whose_copy_kept_the_account_is_told_its_own_account(
    tmp_path: Path,
) -> None:
    """The other copy: a second room's station.toml with its id changed to station-2 and
    the first room's account kept. The advice was only "give it the id of its account (id
    = "station-1")": followed, it made the two stations twins on one account, whose broker
    connections take each other over 2-3 times a second
    (tests/station/test_station_takeover.py). It now names the other fix too: its own
    account."""
    write_nurses(tmp_path / "nurses")
    pw = tmp_path / "station-mqtt.pass"
    pw.write_text("pw")
    pw.chmod(0o600)
    login = f'mqtt_username = "station-1"\nmqtt_password_file = "{pw}"\n'
    cfg = station_only(tmp_path, f'id = "station-2"\nnurses_file = "nurses"\n{login}')
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    (line,) = r.stderr.splitlines()
    assert "station 'station-2' logs in as 'station-1'" in line, line
    assert "if another station already logs in as 'station-1'" in line, line
    assert 'its own account (mqtt_username = "station-2"' in line, line


@pytest.mark.parametrize(
    ("name", "code"),
    [("anna\ufeff", "FEFF"), ("an\u200bna", "200B"), ("\u202eanna", "202E"), ("an\tna", "0009")],
)
def test_add_nurse_refuses_a_name_with_a_character_that_shows_as_nothing(
    name: str, code: str
) -> None:
    # Before: "anna\ufeff" was added beside "anna", two nurses that look the same.
    with pytest.raises(NursesFileError) as e:
        nurse_line(name, "4821")
    assert str(e.value) == (
        f"nurse name {name!r}: U+{code} shows as nothing, so the name would look like "
        "another's on the station and the report; type it without"
    )


def test_add_nurse_with_a_name_not_in_utf8_says_so_in_one_line(tmp_path: Path) -> None:
    # Bytes not UTF-8 on the command line (a Latin-1 terminal): the name held a lone
    # surrogate and the write stopped with a UnicodeEncodeError traceback.
    write_nurses(tmp_path / "nurses")
    before = (tmp_path / "nurses").read_bytes()
    cfg = station_only(tmp_path, 'id = "station-1"\nnurses_file = "nurses"\n')
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "station", "-c", str(cfg), "--add-nurse", b"Ren\xe9e"],
        input="4821\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 65, r.stderr
    assert r.stderr.splitlines() == [
        "monitord station: nurse name 'Ren\\udce9e': not UTF-8 (a byte the terminal sent "
        "in another encoding, here as U+DCE9): set the terminal to UTF-8"
    ]
    assert (tmp_path / "nurses").read_bytes() == before  # nothing written
