"""A refused command is answered on the chair's `cmd/errors`; a broker ACL that does not
let the chair write there (one written before `cmd/errors` was added to
config/mosquitto/monitord.acl) refuses each answer. That was a WARNING per refused
command, "error reply on .../cmd/errors refused: broker refused publish on
.../cmd/errors: ...", naming the topic twice and not what to do; the station's nurse never
learns why her command was refused. The house rule: WARNING once (with the ACL line to
add), DEBUG on repeats.

An in-process daemon logging in as chair-2 under config/mosquitto's ACL less its
`cmd/errors` line, on a real mosquitto (TLS); a station sends it three malformed commands.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from tests.acl_kit import SITE, AclMosquitto
from tests.heard.heard_kit import password_file, station
from tests.kit import eventually

LOGGER = "monitord.sinks.mqtt"
TOPIC = f"monitord/{SITE}/chair-2/cmd/session"


async def test_error_replies_the_acl_refuses_are_warned_once_with_the_acl_line(
    tmp_path: Path, broker: AclMosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    assert broker.tls is not None
    acl = broker.acl_file.read_text()
    line = f"pattern write monitord/{SITE}/%u/cmd/errors"
    assert line in acl
    broker.acl_file.write_text(acl.replace(line, ""))
    broker.stop()
    broker.start()
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    cfg = loads_config(
        f'[site]\nid = "{SITE}"\n'
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ntimeout_s = 5.0\n'
        f'  [mqtt.tls]\n  ca_file = "{broker.tls.ca_file}"\n'
        "[influx]\nenabled = false\n"
        f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n'
        f'[[chairs]]\nid = "chair-2"\nmqtt_username = "chair-2"\n'
        f'mqtt_password_file = "{password_file(tmp_path, "chair-2")}"\n'
    )
    daemon = Daemon(cfg, restart_backoff_s=(0.1, 0.5))
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(
            lambda: "MQTT chair-2: subscribed to" in caplog.text, 30, "chair-2 subscribed"
        )
        async with station(broker) as st:
            for n in range(3):
                await st.publish(TOPIC, {"action": "no-such-action", "n": n})

                def refused(n: int = n) -> bool:
                    return daemon.mqtt is not None and daemon.mqtt.stats.command_errors == n + 1

                await eventually(refused, 20, f"command {n} refused")

        def about() -> list[logging.LogRecord]:
            return [
                r for r in caplog.records if r.name == LOGGER and "cmd/errors" in r.getMessage()
            ]

        await eventually(lambda: len(about()) == 3, 20, "the three replies refused")
        warned = [r for r in about() if r.levelno >= logging.WARNING]
        assert len(warned) == 1, [r.getMessage() for r in about()]
        said = warned[0].getMessage()
        assert f"monitord/{SITE}/chair-2/cmd/errors" in said, said
        assert line in said and "monitord.acl" in said, said  # what to add, and where
        assert all(r.levelno == logging.DEBUG for r in about() if r is not warned[0])
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 15)
