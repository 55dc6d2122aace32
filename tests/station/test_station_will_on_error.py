"""The station's own status falls to `offline` when its broker connection ends on an error.

`stations/{id}` is retained `online` while the station runs, `offline` on a clean stop and
as its Last Will. A connection left on an exception (here a bug in what the station does
with a message: the `on_change` callback raising) sent a normal DISCONNECT (0x00), on which
the broker discards the Will: the site went on reading the station `online` although
nothing showed its alarms any more. It now leaves with MQTT v5 reason 0x04
(monitord/mqttv5.py). Such a bug no longer ends the bridge (bridge.py; the station stays
up, tests/station/test_station_message_bug.py): it reconnects, and says `online` again
only then. Real mosquitto, the bridge in process.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt

from monitord.config import load_config
from monitord.station.bridge import Bridge
from monitord.station.model import Changes, StationModel
from tests.kit import Observer, eventually
from tests.servers import Mosquitto
from tests.station.station_kit import SITE, STATION, station_config


class Bug(Exception):
    pass


async def test_a_bug_that_ends_the_bridge_leaves_the_station_offline(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = load_config(station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix))
    mine = f"{mqtt_prefix}/{SITE}/stations/{STATION}"

    failed: list[Changes] = []

    def on_change(ch: Changes) -> None:
        if ch.chairs and not failed:  # the first chair message: a bug in handling it
            failed.append(ch)
            raise Bug("on_change failed")

    bridge = Bridge(cfg, StationModel(cfg.mqtt.prefix, cfg.site.id), on_change)
    async with Observer(mosquitto, [mine]) as obs:
        task = asyncio.create_task(bridge.run())
        try:
            await eventually(lambda: [s["state"] for s in obs.of(STATION)] == ["online"], 10)
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as chair:
                status: dict[str, Any] = {"state": "online", "time": "2024-01-01T00:00:00Z"}
                await chair.publish(f"{mqtt_prefix}/{SITE}/chair-1/status", json.dumps(status), 1)
            # The Will, then the bridge's own reconnect: the bug did not end it.
            await eventually(
                lambda: [s["state"] for s in obs.of(STATION)] == ["online", "offline", "online"],
                15,
                "the station's Last Will, then its reconnect",
            )
            assert failed and not task.done()
        finally:
            task.cancel()
            results = await asyncio.gather(task, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError), results
    async with Observer(mosquitto, [mine]) as fresh:  # a chair or station starting now
        await eventually(lambda: fresh.of(STATION), 10, "a retained status")
        assert fresh.of(STATION)[0]["state"] == "offline"  # the clean stop's own
