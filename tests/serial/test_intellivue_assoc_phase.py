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
import sys

import pytest

from monitord.drivers import intellivue_frames as F
from monitord.drivers.base import LinkLost, Reject
from monitord.drivers.intellivue import IntelliVueProtocol
from tests.kit import RecordingContext


class _Scripted:
    """A link to a scripted monitor: `on` answers each message the driver writes, `put`
    queues what the monitor sends (None: the link ends)."""

    def __init__(self) -> None:
        self._in: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._reader = F.FrameReader()

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
            self.on(msg.type)

    def put(self, data: bytes | None) -> None:
        self._in.put_nowait(data)

    def on(self, kind: str) -> None:
        raise NotImplementedError

    def heard(self) -> None:
        pass


class _Monitor(_Scripted):
    """Answers the first association request with a result and then `then`; records the
    types of the driver's messages; ends the link at the driver's second association
    request (the re-association) or its release result."""

    def __init__(self, then: bytes) -> None:
        super().__init__()
        self._then = then
        self.sent: list[str] = []

    def on(self, kind: str) -> None:
        self.sent.append(kind)
        if kind == "assoc_request" and self.sent.count("assoc_request") == 1:
            self.put(F.frame(F.association_result()) + F.frame(self._then))
        elif kind in ("assoc_request", "release_result"):
            self.put(None)


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


class _AbortingMonitor(_Scripted):
    """Ends every association it accepts with an abort: right after its association
    result (`at_poll` False) or, after its MDS create event was answered, at the driver's
    first poll; notes the loop time of each association request; ends the link at the
    third."""

    def __init__(self, at_poll: bool) -> None:
        super().__init__()
        self._at_poll = at_poll
        self.requests: list[float] = []

    def on(self, kind: str) -> None:
        if kind == "poll_request":
            self.put(F.frame(F.abort()))
        if kind != "assoc_request":
            return
        self.requests.append(asyncio.get_running_loop().time())
        if len(self.requests) == 3:
            self.put(None)
        elif self._at_poll:
            self.put(F.frame(F.association_result()) + F.frame(F.mds_create_event(1)))
        else:
            self.put(F.frame(F.association_result()) + F.frame(F.abort()))


@pytest.mark.parametrize("at_poll", [False, True], ids=["before MDS create", "at first poll"])
async def test_a_monitor_aborting_every_association_is_not_asked_again_at_once(
    at_poll: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first abort with no poll answered is re-associated at once; the second in a
    row waits as a refusal does (ANSWER_TIMEOUT_S, made short here). Before, every abort
    was answered at once with a new association request: a monitor that aborts each one
    got association requests as fast as it answered (thousands a second)."""
    driver = sys.modules[IntelliVueProtocol.__module__]
    pause = 0.3
    monkeypatch.setattr(driver, "ANSWER_TIMEOUT_S", pause)
    monitor = _AbortingMonitor(at_poll)
    with pytest.raises(LinkLost):
        await IntelliVueProtocol().run(monitor, RecordingContext())
    _, second, third = monitor.requests
    # a lower bound only: the pause is the driver's own wait (asyncio's timers may fire a
    # clock tick early, hence the small margin)
    assert third - second >= pause - 0.01, monitor.requests
