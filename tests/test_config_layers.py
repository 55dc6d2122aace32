"""`monitord.toml` + `conf.d/*.toml` (issue 19): merged in name order, tables key by key,
`[[chairs]]` concatenated, each file's relative paths its own, errors naming the file
(the error cases are folders under tests/config_cases/, run by tests/test_config.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import monitord.drivers.registry  # noqa: F401  (registers the drivers the config validates against)
from monitord.config import ConfigError, load_config
from monitord.config_checks import check

SITE = """
[site]
id = "clinic-a"

[mqtt]
host = "broker.clinic.lan"
port = 8883
prefix = "clinic"

[storage]
path = "store/outbox.sqlite"
"""

CHAIR = """
[mqtt]
port = 1883

[[chairs]]
id = "chair-{n}"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  simulate = "scen.jsonl"
"""


def fleet(tmp_path: Path, *chairs: int) -> Path:
    (tmp_path / "monitord.toml").write_text(SITE)
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    # The chairs' scenario (check-config reads it: monitord/config_checks.py).
    (conf_d / "scen.jsonl").write_text('{"t": 0, "event": "spo2", "spo2": 97}\n')
    for n in chairs:
        (conf_d / f"{20 + n}-chair.toml").write_text(CHAIR.format(n=n))
    return tmp_path / "monitord.toml"


def test_site_file_and_chair_files_merge(tmp_path: Path) -> None:
    cfg = load_config(fleet(tmp_path, 2, 1))
    # name order: 21-chair.toml (chair-1) before 22-chair.toml (chair-2)
    assert [c.id for c in cfg.chairs] == ["chair-1", "chair-2"]
    # [mqtt] merged key by key: the later file's port, the site file's host and prefix
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.prefix) == ("broker.clinic.lan", 1883, "clinic")
    # relative paths resolve against the file that names them
    assert cfg.storage.path == tmp_path / "store" / "outbox.sqlite"
    dev = cfg.chairs[0].devices[0]
    assert dev.simulate == tmp_path / "conf.d" / "scen.jsonl"


def test_no_conf_d_is_one_file(tmp_path: Path) -> None:
    (tmp_path / "monitord.toml").write_text(
        SITE + CHAIR.format(n=1).replace("[mqtt]\nport = 1883\n", "")
    )
    assert [c.id for c in load_config(tmp_path / "monitord.toml").chairs] == ["chair-1"]


def test_only_toml_files_in_conf_d_count(tmp_path: Path) -> None:
    path = fleet(tmp_path, 1)
    # an editor's backup or a disabled file is not read
    (tmp_path / "conf.d" / "30-chair.toml.disabled").write_text("garbage = [")
    (tmp_path / "conf.d" / "30-chair.toml~").write_text("garbage = [")
    assert [c.id for c in load_config(path).chairs] == ["chair-1"]


def test_same_chair_in_two_files_is_an_error(tmp_path: Path) -> None:
    path = fleet(tmp_path, 1)
    (tmp_path / "conf.d" / "90-copy.toml").write_text(CHAIR.format(n=1))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.lines == [
        f"{tmp_path / 'conf.d' / '90-copy.toml'}: chairs[0].id: duplicate chair id 'chair-1'"
    ]


def test_error_in_second_chair_file_names_it_with_its_own_index(tmp_path: Path) -> None:
    path = fleet(tmp_path, 1)
    bad = tmp_path / "conf.d" / "22-chair.toml"
    bad.write_text(CHAIR.format(n=2).replace('simulate = "scen.jsonl"', ""))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    # merged, this chair is chairs[1]; in its own file it is chairs[0]
    assert e.value.lines == [
        f"{bad}: chairs[0].devices[0]: driver 'masimo-ascii' is serial: set port (or simulate)"
    ]


def test_checks_after_parsing_name_the_file(tmp_path: Path) -> None:
    path = fleet(tmp_path, 1)
    tls = tmp_path / "conf.d" / "10-tls.toml"
    tls.write_text('[mqtt.tls]\nca_file = "missing-ca.pem"\n')
    errors, _ = check(load_config(path), str(path))
    assert errors == [
        f"{tls}: mqtt.tls.ca_file: {tmp_path / 'conf.d' / 'missing-ca.pem'}: no such file"
    ]


def test_check_config_cli_takes_dash_c(tmp_path: Path) -> None:
    path = fleet(tmp_path, 1, 2)
    for argv in (["-c", str(path)], ["--config", str(path)], [str(path)]):
        r = subprocess.run(
            [sys.executable, "-m", "monitord", "check-config", *argv],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", ""), argv


STATION = """
[site]
id = "clinic-a"

[mqtt]
host = "broker.clinic.lan"
port = 8883

[station]
id = "station-1"
nurses_file = "nurses"
"""


def test_conf_d_is_the_chair_daemons_not_the_stations(tmp_path: Path) -> None:
    """A Pi that is a chair and the station: `monitord.toml` + `conf.d/20-chair.toml`, and
    `station.toml` beside them. Only monitord.toml takes conf.d/ (docs/install.md, "Fleet
    configuration"); the station's file is read alone, by `station` and `check-config`
    alike. Before, the chair file's [mqtt] username, [[chairs]] and errors were the
    station's too."""
    from monitord.station.auth import nurse_line

    fleet(tmp_path, 1)  # conf.d/21-chair.toml: [[chairs]] and [mqtt] port = 1883
    (tmp_path / "conf.d" / "30-user.toml").write_text('[mqtt]\nusername = "chair-1"\n')
    station = tmp_path / "station.toml"
    station.write_text(STATION)
    nurses = tmp_path / "nurses"
    nurses.write_text(nurse_line("Alice M", "1234"))
    nurses.chmod(0o600)
    cfg = load_config(station)
    assert (cfg.chairs, cfg.mqtt.port, cfg.mqtt.username) == ([], 8883, None)
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", "-c", str(station)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")
    # monitord.toml itself still takes every layer.
    chair = load_config(tmp_path / "monitord.toml")
    assert ([c.id for c in chair.chairs], chair.mqtt.username) == (["chair-1"], "chair-1")
