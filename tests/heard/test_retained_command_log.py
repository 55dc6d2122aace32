"""A command a station left retained on a chair's command topic is refused, never run,
and the daemon tries to clear it; the shipped ACL lets no chair write its own commands,
so it stays until a station account clears it, and the broker replays it at every
(re)subscribe. Each replay was two WARNINGs ("could not clear the retained command",
"rejected command") at every reconnect (a broker restart, a network flap), for as long as
it stayed. The house rule: WARNING once, DEBUG on repeats. Each replay is still refused
on `cmd/errors` (the station sees why).

An in-process daemon logging in as chair-2 under config/mosquitto's ACL on a real
mosquitto (TLS), restarted twice; the WARNING count after the second restart must not be
above the count before the first.
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


def said(caplog: pytest.LogCaptureFixture, text: str, level: int | None = None) -> int:
    return sum(
        r.name == LOGGER and text in r.getMessage() and (level is None or r.levelno == level)
        for r in caplog.records
    )


async def test_retained_command_replayed_at_each_reconnect_is_warned_once(
    tmp_path: Path, broker: AclMosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    assert broker.tls is not None
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    async with station(broker) as st:
        await st.publish(TOPIC, {"action": "end"}, retain=True)
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
    rejected, unclear = "rejected command on " + TOPIC, "could not clear the retained command"
    try:
        await eventually(lambda: said(caplog, rejected) >= 1, 30, "the replay refused")
        first = (said(caplog, rejected, logging.WARNING), said(caplog, unclear, logging.WARNING))
        for n in (2, 3):  # two broker restarts: the chair subscribes again each time
            broker.stop()
            broker.start()

            def refused(n: int = n) -> bool:
                return said(caplog, rejected) >= n

            await eventually(refused, 30, f"replay {n} refused")
        assert said(caplog, unclear) == 3, "the clear was refused each time (the ACL)"
        again = (said(caplog, rejected, logging.WARNING), said(caplog, unclear, logging.WARNING))
        assert first == again == (1, 1), caplog.text
        assert daemon.mqtt is not None and daemon.mqtt.stats.command_errors == 3
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 15)
