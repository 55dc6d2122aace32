"""protocols.md, IntelliVue session: "association request -> association result -> MDS
create event (answer it) -> extended poll requests ... keep the association alive by
polling; release on shutdown", and the poll period it asks for is the one configured (an
MP70 will not poll faster than every 500 ms, drivers/intellivue_poll.py). Both went
unguarded: a driver that asked every association for the default 1-s period, or stopped
without the release request, passed every test.

The monitor is scripted on the driver's own frames (drivers/intellivue_frames.py, the
codec the simulator uses)."""

from __future__ import annotations

import asyncio

from monitord.drivers import intellivue_frames as F
from monitord.drivers.base import Reject
from monitord.drivers.intellivue import IntelliVueProtocol
from monitord.drivers.intellivue_poll import IntelliVueOptions
from tests.kit import RecordingContext


class _Monitor:
    """Associates, sends its MDS create event, then takes polls (unanswered); keeps the
    user data of each message the driver writes, in order."""

    def __init__(self) -> None:
        self._in: asyncio.Queue[bytes] = asyncio.Queue()
        self._reader = F.FrameReader()
        self.sent: list[tuple[str, bytes]] = []
        self.polled = asyncio.Event()

    async def read(self) -> bytes:
        return await self._in.get()

    async def write(self, data: bytes) -> None:
        for item in self._reader.feed(data):
            assert isinstance(item, bytes), item
            msg = F.decode_message(item)
            assert not isinstance(msg, Reject), msg
            self.sent.append((msg.type, item))
            if msg.type == "assoc_request":
                self._in.put_nowait(F.frame(F.association_result()))
                self._in.put_nowait(F.frame(F.mds_create_event(1)))
            elif msg.type == "poll_request":
                self.polled.set()

    def heard(self) -> None:
        pass


async def test_the_association_asks_for_the_configured_poll_and_a_stop_releases_it() -> None:
    monitor = _Monitor()
    options = IntelliVueOptions.model_validate({"port": "/dev/ttyUSB0", "poll_interval_s": 0.5})
    task = asyncio.create_task(IntelliVueProtocol(options).run(monitor, RecordingContext()))
    await asyncio.wait_for(monitor.polled.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    kinds = [k for k, _ in monitor.sent]
    assert kinds[0] == "assoc_request" and "poll_request" in kinds, kinds
    # the association request is the codec's for a 0.5-s poll period, not the default 1 s
    assert monitor.sent[0][1] == F.association_request(0.5)
    assert F.association_request(0.5) != F.association_request(1.0)
    # the daemon stopping (the protocol task cancelled) ends with the release request
    assert kinds[-1] == "release_request", kinds
