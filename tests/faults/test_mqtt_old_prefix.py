"""A command on a topic of an earlier configuration is not this chair's command.

The daemon's MQTT session (client id `monitord-{site}-{chair}`, clean start off, a day's
expiry: docs/mqtt.md) outlives a restart, and with it every subscription the broker keeps
for it, also those of a configuration changed since (another `mqtt.prefix`). The daemon
took whatever arrived there for a command of its chair, by the topic's last level only: a
`cmd/session start` sent on the OLD prefix started a session on the chair, and an old
prefix's station status was refused as a malformed command on `cmd/errors`. Found by
tests/faults/test_chain_chaos.py (its seeds share the broker, site and chair ids, not the
prefix). Now such a message is ignored with one WARNING naming its topic, and the
subscription it came by is ended (the session would keep it for as long as the daemon
reconnects within its expiry).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiomqtt

from tests.e2e.e2e_kit import NO_INFLUX, DaemonProcess, Store, mqtt_section, write_config
from tests.kit import eventually
from tests.servers import Mosquitto, unique_name

CHAIR = "chair-1"


async def publish(broker: Mosquitto, topic: str, body: dict[str, Any]) -> None:
    async with aiomqtt.Client(broker.host, broker.port, timeout=10) as c:
        await c.publish(topic, json.dumps(body), qos=1)


async def test_a_command_on_an_earlier_prefix_is_not_executed(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    site = unique_name("site")  # its own client ids: no other test's session
    old, new = f"{mqtt_prefix}/old", f"{mqtt_prefix}/new"

    def configure(prefix: str) -> None:
        write_config(tmp_path, site=site, influx=NO_INFLUX, mqtt=mqtt_section(mosquitto, prefix))

    configure(old)
    first = DaemonProcess(tmp_path / "monitord.toml", tmp_path / "daemon1.log")
    first.start()
    try:
        await eventually(lambda: f"MQTT {CHAIR}: subscribed to" in first.output(), 30, "up")
    finally:
        assert first.stop() == 0, first.output()[-3000:]

    # Queued for the daemon's session on the old prefix's topics while it is away.
    start = {"action": "start", "protocol": "esketamine"}
    await publish(mosquitto, f"{old}/{site}/{CHAIR}/cmd/session", start)
    await publish(mosquitto, f"{old}/{site}/stations/station-9", {"state": "online"})

    configure(new)
    daemon = DaemonProcess(tmp_path / "monitord.toml", tmp_path / "daemon2.log")
    daemon.start()
    try:
        await eventually(lambda: f"MQTT {CHAIR}: subscribed to" in daemon.output(), 30, "up")
        # A command on its own topic after them: answered once those were handled (one
        # connection's messages are handled in order).
        sentinel = {"alert_id": "sentinel", "by": "t"}
        await publish(mosquitto, f"{new}/{site}/{CHAIR}/cmd/ack", sentinel)
        await eventually(lambda: "unknown alert sentinel" in daemon.output(), 30, "sentinel")
    finally:
        assert daemon.stop() == 0, daemon.output()[-3000:]
    # The old subscriptions are gone: a third run is sent nothing on the old prefix.
    await publish(mosquitto, f"{old}/{site}/{CHAIR}/cmd/session", start)
    await publish(mosquitto, f"{old}/{site}/stations/station-9", {"state": "offline"})
    third = DaemonProcess(tmp_path / "monitord.toml", tmp_path / "daemon3.log")
    third.start()
    try:
        await eventually(lambda: f"MQTT {CHAIR}: subscribed to" in third.output(), 30, "up")
        await publish(mosquitto, f"{new}/{site}/{CHAIR}/cmd/ack", sentinel)
        await eventually(lambda: "unknown alert sentinel" in third.output(), 30, "sentinel")
    finally:
        assert third.stop() == 0, third.output()[-3000:]
    assert f"{old}/" not in third.output(), third.output()[-3000:]
    store = Store(tmp_path / "outbox.sqlite")
    started = store._q("SELECT body FROM records WHERE type='session'")
    assert started == [], started
    out = daemon.output()
    assert "stations/station-9: action" not in out, out[-3000:]
    for topic in ("cmd/session", "stations/station-9"):
        said = [ln for ln in out.splitlines() if f"{old}/{site}/" in ln and topic in ln]
        assert len(said) == 1 and "not one of this chair's topics" in said[0], out[-3000:]
