"""A station that stops tells its open pages at once that it no longer reads the site
(`stations` with `broker: false`: the page's CONNECTION LOST banner), before it says
`offline` to the broker and its server cuts the streams (monitord/station/bridge.py).
Before, the pages were last told `broker: true` and showed the board live until their
stream was cut, up to the 2 s the offline publish may take and the server's shutdown
after it. The real station in this process and mosquitto; the stream read as a page
reads it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from monitord.station.server import Station
from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import NURSES, station_config, station_in_process


async def test_the_pages_are_told_the_broker_is_gone_when_the_station_stops(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    lines: list[str] = []

    async def read(resp: aiohttp.ClientResponse) -> None:
        try:
            async for raw in resp.content:
                lines.append(raw.decode().rstrip("\n"))
        except aiohttp.ClientError:
            pass  # cut by the stop

    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        st: Station
        async with station_in_process(cfg) as (st, url):
            await eventually(lambda: st.bridge.connected, 20, "the station on the broker")
            r = await http.post(f"{url}/api/login", headers={"Origin": url},
                                json={"name": "alice", "pin": NURSES["alice"]})  # fmt: skip
            assert r.status == 200
            resp = await http.get(f"{url}/api/events")
            reader = asyncio.create_task(read(resp))
            await eventually(lambda: any(ln.startswith("data:") for ln in lines), 10, "hello")
        await asyncio.wait({reader}, timeout=10)
        resp.close()
    said = [
        json.loads(lines[i + 1].removeprefix("data: "))["broker"]
        for i, ln in enumerate(lines[:-1])
        if ln in ("event: hello", "event: stations")
    ]
    assert said and said[-1] is False, f"the pages were last told broker {said}"
