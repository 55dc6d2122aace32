"""A secret readable by every user is warned of with the mode to give it. The warning said
"e.g. 0640 root:monitord" for every secret: right for one named by an absolute path (the
daemon reads it as itself), wrong for one in the secrets directory, which is root-only
0600 (docs/install.md; systemd hands the service a copy): following it gave the group a
root-only secret."""

from __future__ import annotations

import grp
import os
import shutil
from pathlib import Path

import pytest

from monitord.config import loads_config
from monitord.config_checks import check
from tests.servers import make_tls_material
from tests.station.station_kit import write_nurses

CONFIG = """[site]
id = "north"
[mqtt]
username = "chair-1"
password_file = "{name}"
[[chairs]]
id = "chair-1"
"""


def _warning(tmp_path: Path, name: str, secrets: Path) -> str:
    cfg = loads_config(CONFIG.format(name=name))
    errors, warnings = check(cfg, "c.toml", secrets_dir=secrets, as_daemon=False)
    assert not errors, errors
    (line,) = [w for w in warnings if "readable by every user" in w]
    return line


def test_a_secret_in_the_secrets_directory_is_told_root_only(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "mqtt-password").write_text("pw\n")
    (secrets / "mqtt-password").chmod(0o644)
    line = _warning(tmp_path, "mqtt-password", secrets)
    assert line.endswith("chmod 0600 it (root-only: systemd hands the service a copy)"), line
    assert "monitord" not in line.split("(mode 0644)")[1], line


def test_a_secret_by_absolute_path_is_told_the_service_group(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("pw\n")
    secret.chmod(0o644)
    line = _warning(tmp_path, str(secret), tmp_path / "unused")
    # "chmod o-r it" alone left a root:root file 0640: the daemon could not read it.
    assert line.endswith(f"chgrp monitord {secret} && chmod 0640 {secret}"), line


def test_a_world_readable_nurses_file_is_told_monitord_0600(tmp_path: Path) -> None:
    # "chmod o-r it" left the PIN hashes 0640 (its group could read them) and kept the
    # owner: docs/install.md says the station's nurses file and TLS key are monitord's, 0600.
    nurses = write_nurses(tmp_path / "nurses")
    nurses.chmod(0o644)
    cfg = loads_config(
        f'[site]\nid = "north"\n[station]\nid = "station-1"\nnurses_file = "{nurses}"\n'
    )
    errors, warnings = check(cfg, "s.toml", as_daemon=False)
    assert not errors, errors
    (line,) = [w for w in warnings if "readable by every user" in w]
    want = f"chown monitord:monitord {nurses} && chmod 0600 {nurses}"
    assert line.endswith(f"(mode 0644); {want}"), line


def test_a_group_readable_nurses_file_or_station_key_is_told_monitord_0600(
    tmp_path: Path,
) -> None:
    # docs/install.md: monitord's own, 0600. A 0640 file (`chmod o-r` of a 0644 one, or
    # `install -m 0640`) gave its group the PIN hashes or the private key, with no warning.
    tls = make_tls_material(tmp_path / "tls")
    nurses = write_nurses(tmp_path / "nurses")
    key = tmp_path / "station.key"
    shutil.copy(tls.server_key, key)
    for f in (nurses, key):
        f.chmod(0o640)
    cfg = loads_config(
        f'[site]\nid = "north"\n[station]\nid = "station-1"\nnurses_file = "{nurses}"\n'
        f'tls_cert_file = "{tls.server_cert}"\ntls_key_file = "{key}"\n'
    )
    errors, warnings = check(cfg, "s.toml", as_daemon=False)
    assert not errors, errors
    group = grp.getgrgid(os.getgid()).gr_name
    for key_name, f in (("nurses_file", nurses), ("tls_key_file", key)):
        (line,) = [w for w in warnings if f"station.{key_name}: warning" in w]
        want = f"chown monitord:monitord {f} && chmod 0600 {f}"
        assert line.endswith(f"readable by group {group} (mode 0640); {want}"), line


def test_a_group_readable_secret_in_the_secrets_directory_is_told_root_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs/install.md: the secrets directory's files are root-only 0600. One 0640 (`install
    # -m 0640`, or "chmod o-r" of a 0644 one) gave its group the broker password, and only
    # a world-readable one was warned of. One by absolute path is 0640 group monitord.
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "mqtt-password").write_text("pw\n")
    (secrets / "mqtt-password").chmod(0o640)
    cfg = loads_config(CONFIG.format(name="mqtt-password"))
    errors, warnings = check(cfg, "c.toml", secrets_dir=secrets, as_daemon=False)
    assert not errors, errors
    group = grp.getgrgid(os.getgid()).gr_name
    (line,) = [w for w in warnings if "mqtt.password_file: warning" in w]
    assert line.endswith(
        f"is readable by group {group} (mode 0640); "
        "chmod 0600 it (root-only: systemd hands the service a copy)"
    ), line
    (secrets / "mqtt-password").chmod(0o600)
    assert not _about_secret(check(cfg, "c.toml", secrets_dir=secrets, as_daemon=False)[1])
    absolute = tmp_path / "pw"
    absolute.write_text("pw\n")
    absolute.chmod(0o640)
    cfg = loads_config(CONFIG.format(name=absolute))
    assert not _about_secret(check(cfg, "c.toml", as_daemon=False)[1])
    # Under the unit the file read is systemd's copy, the service's own: no advice on it.
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "secrets_mqtt-password").write_text("pw\n")
    (creds / "secrets_mqtt-password").chmod(0o640)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    cfg = loads_config(CONFIG.format(name="mqtt-password"))
    assert not _about_secret(check(cfg, "c.toml")[1])


def _about_secret(warnings: list[str]) -> list[str]:
    return [w for w in warnings if "mqtt.password_file" in w]
