"""The station's receipt names the escalation it showed (`level`, docs/mqtt.md): the daemon
matches a receipt to that very event, so the second receipt of escalation level 1 (the
page sounded an event it first showed silent) cannot answer level 2. A page's receipt
goes out once per event, again when it sounds one shown silent, and a `level` that is not
a whole number is refused. Real mosquitto, the real `monitord station`, no browser: the
page's POSTs are made directly.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import NURSES, SITE, mqtt_login, station_config, station_process


async def test_receipts_carry_the_level_of_the_event_shown(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    base = f"{mqtt_prefix}/{SITE}/chair-1"
    aid = "chair-1:spo2.very_low:1800000000000"
    got: list[dict[str, Any]] = []
    async with mqtt_login(mosquitto) as chair:
        # The station knows a chair from its topics.
        await chair.publish(f"{base}/status", json.dumps({"state": "online"}), 1, retain=True)
        await chair.subscribe(f"{base}/alerts/receipts", qos=1)

        async def read() -> None:
            async for msg in chair.messages:
                assert isinstance(msg.payload, bytes)
                got.append(json.loads(msg.payload))

        reader = asyncio.create_task(read())
        try:
            async with (
                station_process(cfg, tmp_path / "station.log") as (station, url),
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
            ):
                await eventually(lambda: "station MQTT: connected" in station.output(), 20, "up")
                r = await http.post(f"{url}/api/login", headers={"Origin": url},
                                    json={"name": "alice", "pin": NURSES["alice"]})  # fmt: skip
                assert r.status == 200
                hdr = {"Origin": url, "X-CSRF-Token": (await r.json())["csrf"]}

                async def post(level: object, sounded: bool) -> int:
                    body = {"chair": "chair-1", "alert_id": aid, "event": "escalated",
                            "level": level, "rule": "r", "sounded": sounded}  # fmt: skip
                    for _ in range(100):  # 400 until the station has seen chair-1
                        resp = await http.post(f"{url}/api/receipt", json=body, headers=hdr)
                        if resp.status != 400 or "level" in (await resp.text()):
                            return resp.status
                        await asyncio.sleep(0.1)
                    return resp.status

                assert await post(1, False) == 200  # level 1 shown silent
                assert await post(1, False) == 200  # again: not sent twice ("already")
                assert await post(1, True) == 200  # then sounded: a second receipt
                assert await post(2, True) == 200
                assert await post("2", True) == 400
                assert await post(True, True) == 400
                await eventually(lambda: len(got) >= 3, 10, "3 receipts on the broker")
                await asyncio.sleep(0.3)  # nothing more comes
        finally:
            reader.cancel()
        await chair.publish(f"{base}/status", b"", 1, retain=True)
    assert [(g["event"], g["level"], g["sounded"]) for g in got] == [
        ("escalated", 1, False),
        ("escalated", 1, True),
        ("escalated", 2, True),
    ]
    assert all(g["alert_id"] == aid and g["station"] == "station-1" for g in got)
