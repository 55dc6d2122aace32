"""docs/mqtt.md "status": `offline` "on a clean stop (with the stop's `time`)", carrying
`chair_time`, which "the Last Will never" does. The stop tests held that a clean stop is
quick and leaves no connection behind; none read what it leaves retained: made to
publish `online` at its stop, every one passed, and a stopped chair would read ONLINE at
the nurses' station. Here a real `monitord run` stopped with SIGTERM; the retained status
read after it is the daemon's own `offline`, not the Will (whose time is the connect's
and which has no `chair_time`). Real mosquitto."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.e2e_kit import NO_INFLUX, SITE, DaemonProcess, mqtt_section, write_config
from tests.faults.test_mqtt_commands import retained_on
from tests.kit import eventually
from tests.servers import Mosquitto

CHAIR = "chair-1"


async def status_of(broker: Mosquitto, topic: str) -> dict[str, object]:
    """The retained status on `topic`; {} while there is none."""
    got = await retained_on(broker, topic)
    return dict(json.loads(got[-1])) if got else {}


async def test_a_clean_stop_leaves_its_own_offline_retained(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    write_config(tmp_path, influx=NO_INFLUX, mqtt=mqtt_section(mosquitto, mqtt_prefix))
    topic = f"{mqtt_prefix}/{SITE}/{CHAIR}/status"
    daemon = DaemonProcess(tmp_path / "monitord.toml", tmp_path / "daemon.log")
    daemon.start()
    try:
        await eventually(lambda: f"MQTT {CHAIR}: subscribed to" in daemon.output(), 30, "up")
        online: dict[str, object] = {}
        for _ in range(100):
            online = await status_of(mosquitto, topic)
            if online.get("state") == "online":
                break
        assert online.get("state") == "online", online
    finally:
        assert daemon.stop() == 0, daemon.output()[-3000:]
    offline = await status_of(mosquitto, topic)
    assert offline["state"] == "offline", offline
    assert "chair_time" in offline, offline  # the daemon's own, not the Last Will
    assert str(offline["time"]) > str(online["time"]), (online, offline)
