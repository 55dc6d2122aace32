"""The station tells its pages when it loses the broker and when it has it back
(docs/station.md "Stale": "... or when the station has lost the broker, a red banner ...").
Observed through the real server's SSE stream, no browser (a check an audit added)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import NURSES, station_config, station_process


async def test_sse_says_broker_down_then_up(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    seen: list[tuple[float, str, dict[str, Any]]] = []
    async with station_process(cfg, tmp_path / "station.log") as (station, url):
        await eventually(lambda: "station MQTT: connected" in station.output(), 20, "up")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            r = await http.post(f"{url}/api/login", json={"name": "alice", "pin": NURSES["alice"]},
                                headers={"Origin": url})  # fmt: skip
            assert r.status == 200

            async def read() -> None:
                async with http.get(f"{url}/api/events") as resp:
                    kind = None
                    async for raw in resp.content:
                        line = raw.decode().strip()
                        if line.startswith("event: "):
                            kind = line[7:]
                        elif line.startswith("data: ") and kind:
                            seen.append((time.monotonic(), kind, json.loads(line[6:])))

            reader = asyncio.create_task(read())
            try:
                await eventually(lambda: any(k == "hello" for _, k, _ in seen), 10, "hello")
                hello = next(d for _, k, d in seen if k == "hello")
                assert hello["broker"] is True
                t0 = time.monotonic()
                await asyncio.to_thread(mosquitto.stop)

                def broker(up: bool, after: float = 0.0) -> bool:
                    return any(k == "stations" and d["broker"] is up and t > after
                               for t, k, d in seen)  # fmt: skip

                await eventually(lambda: broker(False), 10, "broker down on SSE")
                t_down = next(t for t, k, d in seen if k == "stations" and d["broker"] is False)
                print(f"station told its pages the broker is down after {t_down - t0:.2f} s")
                await asyncio.to_thread(mosquitto.start)
                await eventually(lambda: broker(True, t_down), 20, "broker up on SSE")
            finally:
                reader.cancel()
