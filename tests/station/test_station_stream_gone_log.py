"""A page that goes away while its stream is backed up (a tab the browser froze, resumed:
it opens a new stream and drops the old one with its unread data; a TV switched off at
the wall, its connection timed out) ends its stream with a write under way, waiting for
room in a full socket. The station must end that stream quietly, as it does a page closed
between two writes: it is the network's or the browser's doing, not a fault of the
station. Before, aiohttp's "Connection lost" (a ConnectionError, not the
ConnectionResetError the stream's handler caught) escaped it, and the station logged
"Error handling request" at ERROR with a traceback, read by an IT admin as a bug of the
station. Real station (in this process: its log and its streams), real mosquitto; the
page is a socket that stops reading, then closes with data unread (a TCP reset)."""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path

import aiohttp
import pytest

from monitord.station.server import Station
from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import (
    ChairPublisher,
    api_login,
    broker_and_station,
    faults,
    unread_stream,
)
from tests.station.test_station_stream_stalled import PAD

BATCH = 20  # updates a batch: the page's queue grows well short of the 1000 that drop it


def read(st: Station, seq: int) -> bool:
    """The station has read chair-1's update `seq`."""
    view = st.model.chairs.get("chair-1")
    return view is not None and view.vitals.get("hr", {}).get("seq") == seq


async def test_a_page_gone_with_its_stream_backed_up_is_no_error_of_the_station(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with (
        broker_and_station(tmp_path, mosquitto, mqtt_prefix) as (c, st, url),
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        await eventually(lambda: st.bridge.connected, 20, "station on the broker")
        token = await api_login(http, url)
        page = unread_stream(url, token)
        await eventually(lambda: len(st._clients) == 1, 10, "the page's stream open")
        (q,) = st._clients
        pub = ChairPublisher(c, mqtt_prefix)
        await pub.status("chair-1", "online")
        seq = 0
        # Updates until the stream's writes wait: its socket full, its queue growing.
        while q.qsize() < BATCH:
            assert seq < 900, "the stream never backed up"
            for _ in range(BATCH):
                body = {"kind": "hr", "hr_bpm": 70, "valid": True, "seq": seq, "pad": PAD}
                await c.publish(pub.topic("chair-1", "vitals/hr"), json.dumps(body), 0, False)
                seq += 1
            await eventually(partial(read, st, seq - 1), 10, "the batch read by the station")
        assert st._clients, "dropped: this is the test of a stream still served"
        page.close()  # data unread: the kernel resets the connection
        await eventually(lambda: not st._clients, 10, "the page's stream ended")
    said = faults(caplog.records)
    assert not said, said
