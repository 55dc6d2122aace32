"""A cuff that re-pushes its whole memory on every connection sends the records the chair
has already taken first (repeats, dropped), then what it measured while nobody received
it, then the new measurement. Those are one burst sent right after the connection, and in
it only the newest is live (clinical-rules.md "Precise semantics", stored records).

Before, the repeats did not count as the burst's records: a memory that took more than
BURST_OPEN_S to re-push (a real cuff confirms one indication per connection event or
slower) left every record after it live at once. Patient A's 205/125, measured while the
hub was out of range and received in patient B's session, raised a latched `bp.crisis`
for B, where a smaller memory (re-pushed within 5 s) kept it as history.

Repeats keep the window open, never a burst begun: a cuff that re-sends its newest
record while connected held it as long as it re-sent, and its next measurement made it
history (second test: 205/125 fed to no rule, no `bp.crisis`).

A real chair task on the wall clock and a real `episodic` BLE cuff (a bumble GATT
peripheral on the virtual link, through bleak and drivers/ble_link.py) whose memory push
is paced as a real cuff's; the session commands go through the chair's queue as MQTT's
`cmd/session` does (`ChairRuntime.command`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Literal

from bumble.gatt import Characteristic

from monitord.chair import DeviceCtx
from monitord.drivers.ble_link import LinkTiming
from monitord.engine.inputs import SessionCmd
from monitord.history import BURST_OPEN_S
from monitord.hub import CommittedBatch
from monitord.simulators.ble import SimCuff, VirtualBleLink

from .helpers import episodic_cuff, recorded_chair, stop, wait_until
from .test_e2e_link import bp, start_link

FAST = LinkTiming(scan_timeout_s=0.5, connect_timeout_s=5.0, backoff_scale=0.01)
# A cuff's memory pushed one indication at a time: its 26 old records, the first
# measurement and A's last one take longer than BURST_OPEN_S to re-push.
PACE_S = 0.25
OLD = 26


def marks(batches: list[CommittedBatch], sys_: int) -> list[bool]:
    """The `stored` mark of each reading of `sys_` the chair took (repeats are not)."""
    return [r.stored for b in batches for r in b.readings if r.values["sys_mmHg"] == sys_]


class PacedCuff(SimCuff):
    """A cuff that sends its memory at a real cuff's pace (one record per PACE_S)."""

    async def _indicate(self, characteristic: Characteristic[bytes], value: bytes) -> bool:
        if characteristic is self.bpm:
            await asyncio.sleep(PACE_S)
        return await super()._indicate(characteristic, value)


async def test_a_record_after_the_repeats_of_a_slow_memory_push_is_history_not_live(
    vlink: VirtualBleLink, tmp_path: Path
) -> None:
    assert (OLD + 2) * PACE_S > BURST_OPEN_S  # the repeats alone outlast the window
    chair, batches, task = recorded_chair(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    old = [(bp(120, 80, 93, 70), now - timedelta(days=1, minutes=i)) for i in range(OLD)]

    def link() -> asyncio.Task[None]:
        return start_link(vlink, DeviceCtx(chair, "cuff"), episodic_cuff(), timing=FAST)

    def cmd(action: Literal["start", "end"], sid: str | None = None) -> SessionCmd:
        return SessionCmd(chair.clock.now(), "chair-1", action, "esketamine", session_id=sid)

    got = partial(marks, batches)

    def taken(sys_: int) -> Callable[[], bool]:
        return lambda: bool(got(sys_))

    async with PacedCuff("HomeCuff", vlink, episodic=True, memory=old) as cuff:
        first = link()
        try:
            assert await chair.command(cmd("start", "A")) is None
            await cuff.send(bp(124, 80, 95, 70), now)  # A's first BP: the memory is learnt
            await wait_until(taken(124), what="A's first BP")
            await wait_until(lambda: chair.history.holding == 0, what="burst resolved")
        finally:
            await stop(first)
        await wait_until(lambda: cuff.connection is None, what="cuff hangs up")
        # The hub out of range: A's last BP stays in the cuff.
        await cuff.send(bp(205, 125, 152, 90), now + timedelta(minutes=10))
        assert await chair.command(cmd("end")) is None
        assert await chair.command(cmd("start", "B")) is None
        await cuff.send(bp(130, 82, 98, 72), now + timedelta(minutes=20))  # B's first BP
        second = link()  # the hub back: the cuff re-pushes all it holds
        try:
            await wait_until(taken(130), 60.0, what="B's first BP")
            await wait_until(lambda: chair.history.holding == 0, what="burst resolved")
        finally:
            await stop(second, task)

    assert got(124) == [False]
    assert got(130) == [False]  # the newest: live
    assert got(205) == [True], got(205)  # A's, from the cuff's memory: history
    raised = [(e.rule, e.event) for b in batches for e in b.events]
    assert ("bp.crisis", "raised") not in raised, raised
    assert chair.history.repeats == OLD + 1


# A cuff that re-sends its newest record while connected, one indication every RESEND_S.
RESEND_S = 0.5
RESENDS = 12


class ResendingCuff(SimCuff):
    """An `episodic` cuff that, after pushing its memory, re-indicates its newest record
    RESENDS times (as firmware that repeats it until the hub does something), then
    indicates `then` (its next measurement, taken while still connected) and hangs up."""

    then: bytes | None = None

    async def _push_memory(self) -> None:
        async with self._push_lock:
            for value in [*self.memory, *[self.memory[-1]] * RESENDS]:
                if not await self._indicate(self.bpm, value):
                    return
                await asyncio.sleep(RESEND_S)
            if self.then is not None:
                self.memory.append(self.then)
                await self._indicate(self.bpm, self.then)
        self._awake = False
        conn = self.connection
        if conn is not None:
            await self._hang_up(conn)


async def test_a_cuff_re_sending_its_newest_record_neither_holds_it_nor_makes_it_history(
    vlink: VirtualBleLink, tmp_path: Path
) -> None:
    chair, batches, task = recorded_chair(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)

    got = partial(marks, batches)

    async with ResendingCuff("HomeCuff", vlink, episodic=True) as cuff:
        cuff.then = cuff.encode(bp(128, 80, 96, 70), now + timedelta(minutes=1))
        await cuff.send(bp(205, 125, 152, 90), now)  # measured: it wakes, the hub comes
        link = start_link(vlink, DeviceCtx(chair, "cuff"), episodic_cuff(), timing=FAST)
        try:
            await wait_until(lambda: bool(got(128)), 60.0, what="the next measurement")
            await wait_until(lambda: chair.history.holding == 0, what="burst resolved")
        finally:
            await stop(link, task)

    assert got(205) == [False], got(205)  # the connection's newest when it ended: live
    assert got(128) == [False]
    raised = [(e.rule, e.event) for b in batches for e in b.events]
    assert ("bp.crisis", "raised") in raised, raised
    assert chair.history.repeats == RESENDS
