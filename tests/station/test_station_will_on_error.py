"""The station's own status falls to `offline` when its broker connection ends on an error.

`stations/{id}` is retained `online` while the station runs, `offline` on a clean stop and
as its Last Will. A connection left on an exception (here a bug in what the station does
with a message: the `on_change` callback raising, which ends the bridge and the station)
sent a normal DISCONNECT (0x00), on which the broker discards the Will: the site went on
reading the station `online` although nothing showed its alarms any more. It now leaves
with MQTT v5 reason 0x04 (monitord/mqttv5.py). Real mosquitto, the bridge in process.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

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

    def on_change(ch: Changes) -> None:
        if ch.chairs:  # the first chair message: a bug in the station's handling of it
            raise Bug("on_change failed")

    bridge = Bridge(cfg, StationModel(cfg.mqtt.prefix, cfg.site.id), on_change)
    async with Observer(mosquitto, [mine]) as obs:
        task = asyncio.create_task(bridge.run())
        try:
            await eventually(lambda: [s["state"] for s in obs.of(STATION)] == ["online"], 10)
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as chair:
                status: dict[str, Any] = {"state": "online", "time": "2024-01-01T00:00:00Z"}
                await chair.publish(f"{mqtt_prefix}/{SITE}/chair-1/status", json.dumps(status), 1)
            with pytest.raises(Bug):
                async with asyncio.timeout(10):
                    await task
            await eventually(
                lambda: [s["state"] for s in obs.of(STATION)] == ["online", "offline"],
                10,
                "the station's Last Will",
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    async with Observer(mosquitto, [mine]) as fresh:  # a chair or station starting now
        await eventually(lambda: fresh.of(STATION), 10, "a retained status")
        assert fresh.of(STATION)[0]["state"] == "offline"
