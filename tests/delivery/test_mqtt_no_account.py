"""The daemon's refused-login line names a missing broker account, as `monitord doctor`
does: mosquitto refuses a user it has no account for exactly as a wrong password (reason
135, 0x87), and the fleet's ninth chair is that. Before, the journal's line (what an IT
admin reads first) said only "check mqtt.username and mqtt.password_file", the Pi's own
files, while doctor named the `mosquitto_passwd` line to run on the broker. Said once at
ERROR; the retries at DEBUG. The real TLS broker with password accounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from monitord.config import MqttConfig, StorageConfig, TlsConfig
from monitord.outbox import Outbox
from monitord.sinks.mqtt import Command, MqttSink
from tests.conftest import TLS_USERS
from tests.kit import eventually
from tests.servers import Mosquitto, TlsMaterial

ADD = "mosquitto_passwd /etc/mosquitto/monitord.passwd chair-9)"


async def test_a_login_the_broker_has_no_account_for_names_the_fix(
    mosquitto_tls: Mosquitto,
    tls_material: TlsMaterial,
    mqtt_prefix: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "chair-9" not in TLS_USERS  # no account for it on this broker
    monkeypatch.delenv("MONITORD_MQTT_PASSWORD", raising=False)
    pw = tmp_path / "mqtt.pass"
    pw.write_text("chair-9-pw\n")
    cfg = MqttConfig(
        host=mosquitto_tls.host,
        port=mosquitto_tls.port,
        prefix=mqtt_prefix,
        timeout_s=2,
        tls=TlsConfig(ca_file=tls_material.ca_file),
        username="chair-9",
        password_file=pw,
    )
    store = tmp_path / "outbox.sqlite"
    outbox = Outbox(store, StorageConfig(path=store))

    async def on_cmd(chair: str, cmd: Command) -> str | None:
        return None

    sink = MqttSink(
        cfg, "site-a", ["chair-1"], outbox, on_cmd, backoff_base_s=0.05, backoff_cap_s=0.2
    )
    caplog.set_level(logging.DEBUG, logger="monitord")
    task = asyncio.create_task(sink.run())
    try:
        await eventually(
            lambda: sum("repeat" in r.getMessage() for r in caplog.records) >= 2,
            what="several retries",
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        outbox.close()
    refused = [r for r in caplog.records if "refused the login" in r.getMessage()]
    first, repeats = refused[0], refused[1:]
    assert first.levelno >= logging.WARNING and ADD in first.getMessage(), first.getMessage()
    assert "\n" not in first.getMessage()
    assert repeats and all(r.levelno == logging.DEBUG for r in repeats)  # once, not per retry
    # `monitord status` keeps the short line (its connection's last error), no advice.
    assert sink.link.as_dict()["last_error"].count("mosquitto_passwd") == 0
