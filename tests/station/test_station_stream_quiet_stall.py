"""A wallboard that stopped reading its event stream on a quiet night (a TV asleep with
its network on): fewer than the 1000 queued updates past which the station dropped a
stream (test_station_sse_backlog.py), so its connection, a descriptor and a slot of the
caps were kept for ever. Now a stream whose client has taken no byte for
`stream_stall_s` is cut (monitord/station/stall.py); a page still there reconnects.

Real parts: `monitord station` against mosquitto; the wallboard a raw socket with a
small receive buffer that opens the stream and never reads it.
"""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import unread_wallboard

PAD = "x" * 4000  # each update ~8 kB on the stream: the socket buffers fill
UPDATES = 600  # more than the buffers hold, fewer than the 1000 queued that cut before
TCP_ESTABLISHED = 1


def tcp_state(s: socket.socket) -> int:
    """The kernel's TCP state of `s` (tcp_info's first byte)."""
    return int(struct.unpack("B", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[:1])[0])


async def test_a_stream_that_takes_nothing_is_cut_before_1000_updates(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with unread_wallboard(
        tmp_path, mosquitto, mqtt_prefix, extra="stream_stall_s = 3\n"
    ) as w:
        c, pub = w.pub.client, w.pub
        await pub.status("chair-1", "online")
        for seq in range(UPDATES):
            body = {"kind": "hr", "hr_bpm": 70, "valid": True, "seq": seq, "pad": PAD}
            await c.publish(pub.topic("chair-1", "vitals/hr"), json.dumps(body), 0, False)
        # Cut by the station (a reset): before, it stayed open for ever, on pings.
        await eventually(lambda: tcp_state(w.stream) != TCP_ESTABLISHED, 60, "the stream cut")
        # A page that reads is still served (the station is fine, its caps freed).
        async with w.http.get(f"{w.url}/api/events") as resp:
            first = await resp.content.readuntil(b"\n\n")
            assert first.startswith(b"event: hello"), first
    out = w.proc.output()
    assert "Traceback" not in out and "ERROR" not in out, out[-3000:]
