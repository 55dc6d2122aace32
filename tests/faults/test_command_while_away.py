"""Issue 16, "MQTT v5 for every connection" and acceptance 5 ("QoS 1 with MQTT v5
sessions"): the broker keeps a chair's session (clean start off, a session expiry of a
day: monitord/mqttv5.py), its command subscription and the commands queued for it while
the daemon is away (a restart, an upgrade, a crash). A nurse's `start` sent in that gap
is carried out when the daemon is back, not lost.

Found by mutation: a session expiry of 0 (the session ends with the connection) failed
only the docs-number test that quotes the constant; no test sent a command while the
daemon was down. Real mosquitto, two `monitord run` processes on one store.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.e2e_kit import DaemonProcess, Oximeter, Store
from tests.faults.test_mqtt_commands import base, cmd, config, connects, fresh, publish, sessions
from tests.kit import eventually
from tests.servers import Mosquitto


async def test_a_command_sent_while_the_daemon_is_down_is_carried_out_when_it_is_back(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    cfg = config(tmp_path, mosquitto, mqtt_prefix)
    store = Store(tmp_path / "outbox.sqlite")
    async with Oximeter(tmp_path):
        first = DaemonProcess(cfg, tmp_path / "first.log")
        first.start()
        try:
            # Subscribed once: the broker now holds the chair's session.
            await eventually(lambda: connects(first) == 1, 30, "first run subscribed")
        finally:
            assert first.stop() == 0, first.output()
        # The daemon is down: the nurse's command waits in the chair's session.
        await publish(mosquitto, f"{base(mqtt_prefix)}/cmd/session", cmd("start", time=fresh()))
        second = DaemonProcess(cfg, tmp_path / "second.log")
        second.start()
        try:
            await eventually(lambda: sessions(store) == ["start"], 30, "the queued start")
        finally:
            assert second.stop() == 0, second.output()
