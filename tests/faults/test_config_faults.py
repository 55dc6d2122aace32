"""Issue 12, defects 13 and 14, through the real command line: `monitord check-config`
and `monitord run` subprocesses. The one-line errors themselves are the case folders
tests/config_cases/{empty-file,no-chairs,no-site-id,empty-chairs-list,mqtt-prefix-*,
mqtt-tls-ca-file-missing,mqtt-password-file-missing} (tests/test_config.py runs them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.e2e_kit import DaemonProcess, Oximeter, mqtt_section, write_config
from tests.kit import eventually
from tests.servers import Mosquitto


def monitord(*args: str) -> subprocess.CompletedProcess[str]:
    # The timeout is a liveness bound: `run` on a config it refuses exits at once; one
    # that it accepted would run until the timeout and fail the test.
    return subprocess.run(
        [sys.executable, "-m", "monitord", *args], capture_output=True, text=True, timeout=60
    )


def test_run_refuses_a_config_that_monitors_nothing(tmp_path: Path) -> None:
    # A wrong config path on a Pi, or an empty file: before, `run` reported READY with
    # 0 chairs and never raised an alarm.
    empty = tmp_path / "monitord.toml"
    empty.write_text("")
    r = monitord("run", "--config", str(empty))
    assert r.returncode == 78
    assert r.stderr.splitlines() == [
        f"{empty}: site.id: missing: set [site] id to this clinic's id (it names every "
        "MQTT topic and InfluxDB series; two sites must never share one)",
        f"{empty}: chairs: no [[chairs]]: this config monitors nothing; add one [[chairs]] "
        "per chair",
    ]


def test_run_refuses_a_missing_ca_file_instead_of_retrying_the_broker(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path, mqtt='[mqtt]\nport = 8883\n[mqtt.tls]\nca_file = "ca/missing.pem"\n'
    )
    r = monitord("run", "--config", str(cfg))
    assert r.returncode == 78
    # A relative path is relative to the config file, and the line names it.
    assert r.stderr.splitlines() == [
        f"{cfg}: mqtt.tls.ca_file: {tmp_path / 'ca' / 'missing.pem'}: no such file"
    ]


def test_check_config_warns_of_a_chair_without_devices(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[site]\nid = "north"\n[[chairs]]\nid = "chair-1"\n')
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout) == (0, "ok\n")
    assert r.stderr.splitlines() == [
        f"{cfg}: chairs[0].devices: warning: chair 'chair-1' has no devices; it monitors nothing"
    ]


async def test_world_readable_secret_is_warned_by_check_config_and_run(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("pw\n")
    secret.chmod(0o644)
    login = f'username = "chair-1"\npassword_file = "{secret}"\n'
    mqtt = mqtt_section(mosquitto, mqtt_prefix) + login
    cfg = write_config(tmp_path, mqtt=mqtt)
    line = (
        f"{cfg}: mqtt.password_file: warning: {secret} is readable by every user (mode 0644); "
        f"chgrp monitord {secret} && chmod 0640 {secret}"
    )
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout, r.stderr.splitlines()) == (0, "ok\n", [line])
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path):
        daemon.start()
        try:
            await eventually(lambda: " ready: " in daemon.output(), 30, "daemon ready")
            assert f"WARNING monitord: {line}" in daemon.output().splitlines()
        finally:
            daemon.stop()
    # 0640 is what docs/install.md prescribes: no warning.
    secret.chmod(0o640)
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")
