"""Between the association result and the MDS create event report the monitor may end
the association (a release request or an abort: its export taken, switched off, or a
monitor that restarts its side). The driver answered neither there: it waited out the
5 s for an MDS create event that would not come, did not send the release result the
Guide's release dialog expects, and logged "no MDS create event" for a monitor that had
said why. Now it answers as it does once polling (the release result), and re-associates
at once, naming the monitor's reason.

The monitor is scripted on the driver's own frames (drivers/intellivue_frames.py, the
codec the simulator uses): association result, then the release request or abort."""

from __future__ import annotations

import asyncio
import logging

import pytest

from monitord.drivers import intellivue_frames as F
from monitord.drivers.base import LinkLost, Reject
from monitord.drivers.intellivue import IntelliVueProtocol
from tests.kit import RecordingContext


class _Monitor:
    """Answers the first association request with a result and then `then`; records the
    types of the driver's messages; ends the link at the driver's second association
    request (the re-association) or its release result."""

    def __init__(self, then: bytes) -> None:
        self._then = then
        self._in: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._reader = F.FrameReader()
        self.sent: list[str] = []

    async def read(self) -> bytes:
        data = await self._in.get()
        if data is None:
            raise LinkLost("end of test data")
        return data

    async def write(self, data: bytes) -> None:
        for item in self._reader.feed(data):
            assert isinstance(item, bytes), item
            msg = F.decode_message(item)
            assert not isinstance(msg, Reject), msg
            self.sent.append(msg.type)
            if msg.type == "assoc_request" and self.sent.count("assoc_request") == 1:
                self._in.put_nowait(F.frame(F.association_result()) + F.frame(self._then))
            elif msg.type in ("assoc_request", "release_result"):
                self._in.put_nowait(None)

    def heard(self) -> None:
        pass


@pytest.mark.parametrize(
    ("then", "answer", "why"),
    [
        (F.release_request(), "release_result", "monitor released the association"),
        (F.abort(), "assoc_request", "monitor aborted the association"),
    ],
    ids=["release request", "abort"],
)
async def test_the_monitor_ending_the_association_before_its_mds_create_is_answered(
    then: bytes, answer: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = _Monitor(then)
    caplog.set_level(logging.INFO)
    with pytest.raises(LinkLost):
        await IntelliVueProtocol().run(monitor, RecordingContext())
    assert monitor.sent[:2] == ["assoc_request", answer], monitor.sent
    assert why in caplog.text
    assert "no MDS create event" not in caplog.text
