"""A wallboard whose stream fell far behind (a browser that stopped reading for a while: a
Wi-Fi roam, a frozen tab) is cut off from the chairs' updates by the station. It must
then be told, by the end of its stream (the browser's EventSource reconnects and gets a
fresh `hello`), never be left on heartbeats alone: those keep its page "live" while its
tiles stay frozen and new alarms never reach it (docs/station.md "Stale"). Against the
real `monitord station` and mosquitto; the slow wallboard is a socket that does not read.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import unread_wallboard

PAD = "x" * 4000  # each update ~8 kB on the stream: the socket buffers fill soon
UPDATES = 2000  # beyond what the socket buffers hold plus the station's 1000 queued


async def test_a_stream_that_fell_behind_is_ended_not_left_on_heartbeats(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with unread_wallboard(tmp_path, mosquitto, mqtt_prefix) as w:
        # The slow wallboard (w.stream): a small receive buffer, its stream never read.
        c, pub, http, url, slow = w.pub.client, w.pub, w.http, w.url, w.stream
        # A wallboard that keeps up, to know when the station has sent everything.
        last = {"seq": -1}

        async def keep_up() -> None:
            async with http.get(f"{url}/api/events") as resp:
                async for raw in resp.content:
                    line = raw.decode()
                    if line.startswith("data: ") and '"chair-1"' in line:
                        hr = json.loads(line[6:])["vitals"].get("hr", {})
                        last["seq"] = max(last["seq"], hr.get("seq", -1))

        reader = asyncio.create_task(keep_up())
        try:
            await pub.status("chair-1", "online")
            for seq in range(UPDATES):
                body = {"kind": "hr", "hr_bpm": 70, "valid": True, "seq": seq, "pad": PAD}
                await c.publish(pub.topic("chair-1", "vitals/hr"), json.dumps(body), 0, False)
            await eventually(lambda: last["seq"] == UPDATES - 1, 60, "all updates streamed")
            # A new chair in alarm, after the slow board fell behind.
            await pub.status("chair-2", "online")
            await asyncio.sleep(0.5)

            # The slow board reads again: its stream must end (so the browser reconnects)
            # or bring chair-2; before the fix it drained the backlog, then got pings only.
            slow.setblocking(False)
            loop = asyncio.get_running_loop()
            got, ended = bytearray(), False
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and b'"chair-2"' not in got:
                try:
                    chunk = await asyncio.wait_for(loop.sock_recv(slow, 1 << 16), 1)
                except TimeoutError:
                    continue
                except ConnectionResetError:  # cut as it fell behind (stream_stalled)
                    ended = True
                    break
                if not chunk:
                    ended = True
                    break
                got += chunk
            assert ended or b'"chair-2"' in got, (
                f"the slow board's stream went on without chair-2 (pings: {got.count(b'ping')})"
            )
        finally:
            reader.cancel()
