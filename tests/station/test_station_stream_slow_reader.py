"""The two ways `stream_stall_s` (monitord/station/stall.py) finds a wallboard's event
stream stalled, each on a real `monitord station`, and a wallboard that keeps up with the
same stream, never cut:

- a page that read its stream, then stopped (a TV gone to sleep, its network on) while
  the stream grows slowly: its bytes wait in the station's buffer, which does not
  shrink; no write ever waits for room. Cut after `stream_stall_s` of that, long before
  the 1000 queued updates of the backlog cut (test_station_sse_backlog.py);
- a page that reads all along, but slower than the stream grows (a tablet on weak Wi-Fi
  under a burst of updates): it takes bytes, but a write waits `stream_stall_s` for room.

Before, only the second was seen end to end (test_station_stream_quiet_stall.py's page,
which reads nothing, is cut by a waiting write); the first had a test in process only
(test_station_stall_buffer.py), the kernel's send buffer, grown to megabytes on
loopback, hiding it for minutes. Here each client advertises the smallest TCP segment
(TCP_MAXSEG 536, as a link with a small MTU does), which keeps the kernel's buffers
between the two ends to tens of kB: the station's own buffer shows within seconds.

Real parts: `monitord station` against mosquitto; the wallboards raw sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import aiohttp

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import (
    ChairPublisher,
    api_login,
    mqtt_login,
    station_config,
    station_process,
)

STALL_S = 2
PAD = "x" * 500  # each update ~1.4 kB on the stream
TRICKLE_S = 0.1  # ~14 kB/s: the asleep page's bytes stay under the buffer's high-water mark
BURST = 300  # then ~400 kB at once: the slow page's writes wait for room
SIP = 256  # the slow page takes this much ...
EVERY_S = 0.05  # ... this often (~5 kB/s), all along
BUFFER_CUT = "its buffer not shrinking"
WRITE_CUT = "a write waited"


def wallboard(url: str, token: str) -> socket.socket:
    """A page's event stream on a socket with a small receive buffer and segment size."""
    host, port = url.removeprefix("http://").split(":")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.connect((host, int(port)))
    s.sendall(
        f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Cookie: monitord_station={token}\r\n\r\n".encode()
    )
    s.setblocking(False)
    return s


async def read(s: socket.socket, into: bytearray, size: int, pause_s: float = 0) -> str:
    """Reads `size` bytes at a time until the stream ends; how it ended."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data = await loop.sock_recv(s, size)
        except ConnectionResetError:
            return "reset"
        if not data:
            return "closed"
        into += data
        await asyncio.sleep(pause_s)


def cut_why(log: str, s: socket.socket) -> str | None:
    """Why the station cut `s`'s stream (its DEBUG line), or None."""
    port = s.getsockname()[1]
    for line in log.splitlines():
        if "cut:" in line and f", {port})" in line:
            return line.split("cut: ", 1)[1]
    return None


async def test_a_page_asleep_and_a_page_too_slow_are_cut_one_that_keeps_up_is_not(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(
        tmp_path, mosquitto, acl=False, prefix=mqtt_prefix, extra=f"stream_stall_s = {STALL_S}\n"
    )
    cfg.write_text('log_level = "DEBUG"\n' + cfg.read_text())  # the cut's line says why
    async with (
        mqtt_login(mosquitto) as c,
        station_process(cfg, tmp_path / "station.log") as (station, url),
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        await eventually(lambda: "station MQTT: connected" in station.output(), 20, "up")
        token = await api_login(http, url)
        asleep, slow, fast = (wallboard(url, token) for _ in range(3))
        got = {s: bytearray() for s in (asleep, slow, fast)}
        slow_end = asyncio.create_task(read(slow, got[slow], SIP, EVERY_S))
        fast_end = asyncio.create_task(read(fast, got[fast], 1 << 16))
        tasks = [slow_end, fast_end]
        try:
            pub = ChairPublisher(c, mqtt_prefix)
            await pub.status("chair-1", "online")
            seq = 0

            async def update() -> None:
                nonlocal seq
                body = {"kind": "hr", "hr_bpm": 70, "valid": True, "seq": seq, "pad": PAD}
                await c.publish(pub.topic("chair-1", "vitals/hr"), json.dumps(body), 0, False)
                seq += 1

            # The asleep page reads its hello and first updates, then nothing more.
            asleep_end = asyncio.create_task(read(asleep, got[asleep], 1 << 16))
            tasks.append(asleep_end)
            while cut_why(station.output(), asleep) is None:
                assert seq < 300, "the asleep page was not cut"
                await update()
                await asyncio.sleep(TRICKLE_S)
                if got[asleep].count(b"event: chair") >= 3:
                    asleep_end.cancel()  # gone to sleep
            assert BUFFER_CUT in str(cut_why(station.output(), asleep)), station.output()[-3000:]
            # A burst: the slow page, which takes bytes all along, falls behind.
            for _ in range(BURST):
                await update()
            last = f'"seq": {seq - 1}'.encode()
            await eventually(lambda: last in got[fast], 30, "the fast page has every update")
            assert await asyncio.wait_for(slow_end, 30) == "reset"
            # Either way: its buffer shrinks only as the kernel frees a third of its own,
            # which a slow page may not do within stall_s; else a write waits that long.
            why = str(cut_why(station.output(), slow))
            assert BUFFER_CUT in why or WRITE_CUT in why, station.output()[-3000:]
            assert len(got[slow]) > 20 * SIP  # it did read: slow, not asleep
            assert len(got[slow]) < len(got[fast]) / 2  # far behind when cut
            # The page that keeps up is still served: a heartbeat comes, no cut.
            seen = len(got[fast])
            await eventually(lambda: b"event: ping" in got[fast][seen:], 10, "a ping")
            assert not fast_end.done()
            assert cut_why(station.output(), fast) is None
        finally:
            for t in tasks:
                t.cancel()
            for s in (asleep, slow, fast):
                s.close()
    out = station.output()
    assert "Traceback" not in out and "ERROR" not in out, out[-3000:]
