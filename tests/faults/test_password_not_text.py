"""A broker password file that is not UTF-8 text (a secret pasted from a Windows tool as
UTF-16, a key saved as binary) is a login problem, said in one line naming the file.

Before: `check-config` and `run`'s start checks said `ok` (they read the bytes only to see
whether the file was empty); `doctor` ended in a UnicodeDecodeError traceback; and the
daemon, up and READY, logged at every retry "internal error UnicodeDecodeError('utf-8',
b'<the file's bytes>' ...) (a bug: please report it with this line)": the password itself
in the journal, and no word of the file. Now the config checks refuse it (exit 78, the
file named), doctor says it as a FAIL line, and the sink says it as a refused login
("auth"), never with the bytes; a file fixed meanwhile is read at the next retry.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from monitord.commands.checks import SecretProblem, secret
from monitord.config import loads_config
from monitord.config_checks import check
from monitord.daemon import Daemon
from tests.faults.writerkit import running, two_chairs
from tests.kit import eventually
from tests.servers import Mosquitto

SECRET = "s3cr\u00e9t-pass"
NOT_TEXT = SECRET.encode("utf-16")  # BOM ff fe: not UTF-8 from its first byte


def config(tmp_path: Path, mosquitto: Mosquitto, prefix: str, pw: Path) -> str:
    mqtt = (
        f'host = "{mosquitto.host}"\nport = {mosquitto.port}\nprefix = "{prefix}"\n'
        f'username = "chair-a"\npassword_file = "{pw}"'
    )
    return two_chairs(tmp_path, "pw-text", mqtt=mqtt)


def test_config_checks_and_doctor_name_a_password_file_that_is_not_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITORD_MQTT_PASSWORD", raising=False)
    pw = tmp_path / "mqtt.pass"
    pw.write_bytes(NOT_TEXT)
    pw.chmod(0o600)
    cfg = loads_config(two_chairs(tmp_path, "pw-text", mqtt=f'password_file = "{pw}"'))
    errors, _ = check(cfg, "c.toml")  # what `run` and `check-config` say (exit 78)
    assert errors == [
        f"c.toml: mqtt.password_file: {pw} is not UTF-8 text (an invalid byte at offset 0): "
        "the login would fail; write the secret as one line of plain text"
    ], errors
    with pytest.raises(SecretProblem, match=f"{pw} is not UTF-8 text"):  # doctor's FAIL
        secret(pw, None, "mqtt.password_file")
    pw.write_text(SECRET + "\n", encoding="utf-8")
    assert check(cfg, "c.toml")[0] == []
    assert secret(pw, None, "mqtt.password_file") == SECRET


async def test_the_sink_says_a_password_file_that_is_not_text_as_a_login_error(
    tmp_path: Path,
    mosquitto: Mosquitto,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MONITORD_MQTT_PASSWORD", raising=False)
    pw = tmp_path / "mqtt.pass"
    pw.write_bytes(NOT_TEXT)
    caplog.set_level(logging.INFO, logger="monitord.sinks.mqtt")
    daemon = Daemon(loads_config(config(tmp_path, mosquitto, mqtt_prefix, pw)))

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "monitord.sinks.mqtt"]

    def failed() -> list[str]:  # "reconnecting in": the old "internal error" line
        return [m for m in said() if "chair-a: " in m and ("retrying" in m or "reconnecting" in m)]

    async with running(daemon):
        await eventually(failed, 10, "chair-a's failed login said")
        line = failed()[0]
        assert "internal error" not in line and "a bug" not in line, line
        assert f"password file {pw} is not UTF-8 text" in line, line
        assert "check mqtt.username and mqtt.password_file" in line, line
        rec = next(r for r in caplog.records if r.getMessage() == line)
        assert rec.levelno == logging.ERROR  # a login problem, as a refused login is
        # Never the secret's bytes (the old line printed them, repr'd).
        assert not any("\\xff\\xfe" in m or "s\\x003" in m for m in said())
        pw.write_text(SECRET + "\n", encoding="utf-8")  # fixed: read at the next retry
        await eventually(lambda: any("chair-a: connected" in m for m in said()), 20, "up")
