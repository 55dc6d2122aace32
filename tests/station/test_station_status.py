"""The station announces itself: `stations/{id}` retained `online` while it runs (through
the shipped ACL, as its own account), `offline` on a clean stop, and `offline` by its Last
Will when it dies (SIGKILL: the broker notices within 1.5 x keepalive)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.acl_kit import AclMosquitto
from tests.kit import eventually
from tests.station.station_kit import SITE, mqtt_login, station_config, station_process

TOPIC = f"monitord/{SITE}/stations/station-1"


async def retained_status(broker: AclMosquitto) -> dict[str, Any]:
    # A retained message comes at once with the SUBACK; none within 10 s is a station
    # status not retained (else the test waited for pytest's timeout to say it).
    async with mqtt_login(broker, "chair-4") as c:  # chairs may read stations/#
        await c.subscribe(TOPIC, qos=1)
        try:
            async with asyncio.timeout(10):
                async for m in c.messages:
                    assert m.retain, "the station status came, but not retained"
                    return dict(json.loads(bytes(m.payload)))
        except TimeoutError:
            pass
    raise AssertionError(f"no retained station status on {TOPIC} within 10 s")


async def test_station_status_online_then_offline_by_stop_and_by_last_will(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    cfg = station_config(tmp_path, acl_broker)
    async with station_process(cfg, tmp_path / "station.log") as (station, _):
        await eventually(lambda: "station MQTT: connected" in station.output(), 20, "up")
        st = await retained_status(acl_broker)
        assert st["state"] == "online" and st["time"].endswith("Z") and st["version"]
    assert (await retained_status(acl_broker))["state"] == "offline"  # clean stop
    async with station_process(cfg, tmp_path / "station2.log") as (station, _):
        await eventually(lambda: "station MQTT: connected" in station.output(), 20, "up")
        assert (await retained_status(acl_broker))["state"] == "online"
        station.kill()
        states: list[str] = []

        async def poll() -> bool:
            states.append((await retained_status(acl_broker))["state"])
            return states[-1] == "offline"

        for _ in range(60):
            if await poll():
                break
            await asyncio.sleep(0.5)
        assert states[-1] == "offline", states
