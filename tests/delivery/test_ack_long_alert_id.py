"""A station can acknowledge every alert the daemon can raise, whatever its id's length.

design.md section 6: `cmd/ack` takes `{"alert_id", "by"}`, the `alert_id` of an alert
event. An alert id is `chair:rule[:device]:ms` (monitord/engine/book.py), and chair and
device ids may each be 64 characters (config `Ident`): a `tech.device_lost` id then runs
to about 160 characters. Found by this round's audit of delivery: `cmd/ack` refused any
`alert_id` over 128 characters, so such an alarm could not be acknowledged from the
station at all (refused on `cmd/errors`) and kept escalating.

A real daemon in-process and the real mosquitto; the device's link is reported down
directly to the chair (no transport), the station is a plain MQTT client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt

from monitord.chair import LinkChange
from monitord.config import loads_config
from monitord.daemon import Daemon
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

SITE = "long-ids"
CHAIR = "treatment-room-" + "c" * 49  # 64 characters, the longest id a config takes
DEVICE = "monitor-" + "d" * 56


def config(tmp: Path, mosquitto: Mosquitto, prefix: str) -> str:
    return (
        f'[site]\nid = "{SITE}"\n'
        f'[mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\nprefix = "{prefix}"\n'
        f'[influx]\nenabled = false\n[storage]\npath = "{tmp / "store.sqlite"}"\n'
        f'[alerts]\n"tech.device_lost" = {{ after_s = 0.5 }}\n'
        f'[[chairs]]\nid = "{CHAIR}"\n'
    )


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[None]:
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(
            lambda: (
                daemon.supervisor is not None
                and f"chair:{CHAIR}" in daemon.supervisor.tasks
                and daemon.mqtt is not None
                and daemon.mqtt.subscribed
            ),
            20,
            "the daemon running, its commands subscribed",
        )
        yield
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)


async def test_an_alert_with_the_longest_id_is_acknowledged_over_mqtt(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    assert len(CHAIR) == 64 and len(DEVICE) == 64
    daemon = Daemon(loads_config(config(tmp_path, mosquitto, mqtt_prefix)))
    base = f"{mqtt_prefix}/{SITE}/{CHAIR}"
    chair = daemon.chairs[CHAIR]
    async with Observer(mosquitto, [f"{base}/cmd/errors"]) as obs, running(daemon):
        chair.submit(LinkChange(DEVICE, False, chair.clock.now(), "unplugged"))
        await eventually(lambda: bool(chair.active), 20, "tech.device_lost raised")
        (lost,) = chair.active
        assert lost["rule"] == "tech.device_lost" and len(lost["alert_id"]) > 128, lost
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=10) as station:
            ack = {"alert_id": lost["alert_id"], "by": "nurse-1"}
            await station.publish(f"{base}/cmd/ack", json.dumps(ack).encode(), qos=1)
        await eventually(
            lambda: (chair.active and chair.active[0]["ack"]) or obs.of("cmd/errors"),
            20,
            "the ack answered",
        )
        assert obs.of("cmd/errors") == [], obs.of("cmd/errors")
        assert chair.active[0]["ack"] is True, chair.active
