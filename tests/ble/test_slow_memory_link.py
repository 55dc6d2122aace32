"""An oximeter whose memory takes longer than `silence_s` to send (many spot-checks, one
indication per connection event or slower), its live values coming only after it.

Records it marks "from storage" are no sign of life (tests/ble/test_history_only_link.py):
the link is down while only they come. But the connection is kept while they keep
coming: cut off at `silence_s` of nothing live, the oximeter sent its memory again from
the start on the next connection, cut off again, and its live SpO2 after the memory never
came: a working oximeter read lost forever, the patient's SpO2 unwatched. A real PLX
peripheral (bumble, the virtual link, bleak, drivers/ble_link.py).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bumble.gatt import Characteristic

from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import VirtualBleLink

from .helpers import RecordingContext, wait_until
from .test_e2e_link import running
from .test_plx_from_storage import SpotOximeter

KEPT = 20  # spot-checks in its memory
GAP_S = 0.1  # between two of them: the memory takes 2 s, twice `silence_s`, ten gaps each


class SlowMemoryOximeter(SpotOximeter):
    """Sends its memory slowly on each connection, then (from its second connection on:
    a finger in) its live SpO2 until the connection ends."""

    def __init__(self, name: str, link: VirtualBleLink) -> None:
        at = datetime.now(UTC) - timedelta(days=1)
        super().__init__(name, link, [(97.0, at + timedelta(minutes=i)) for i in range(KEPT)])
        self.connections = 0

    def _on_subscribed(self, characteristic: Characteristic[bytes]) -> None:
        if characteristic is self.spot:
            self.connections += 1
        super()._on_subscribed(characteristic)

    async def _push(self) -> None:
        live = self.connections >= 2
        for spo2, at in self.kept:
            if not await self._indicate(self.spot, self.spot_check(spo2, at)):
                return  # the connection ended
            await asyncio.sleep(GAP_S)
        for _ in range(600 if live else 0):  # (a minute of them at most)
            if not await self._notify(self.cont, self.encode(self.live())):
                return
            await asyncio.sleep(GAP_S)

    @staticmethod
    def live() -> SimEvent:
        return SimEvent(Kind.SPO2, {"spo2_pct": 96, "pulse_bpm": 70}, contact=True)


async def test_a_memory_slower_than_silence_is_not_cut_off(vlink: VirtualBleLink) -> None:
    ctx = RecordingContext(device="ox")

    def stored() -> int:
        return sum(r.values["spo2_pct"] == 97.0 for r in ctx.readings)

    def live() -> bool:
        return any(r.values["spo2_pct"] == 96.0 for r in ctx.readings)

    async with SlowMemoryOximeter("FingerOx", vlink) as ox:
        async with running(vlink, ctx, id="ox", driver="ble-plx", name="FingerOx", silence_s=1.0):
            # (cut off, its memory came again from the start: more than twice KEPT records)
            await wait_until(lambda: live() or stored() > 2 * KEPT, what="a live value")
            assert live(), f"{stored()} stored on {ox.connections} connections, none live"
            await wait_until(lambda: ctx.link_up, what="up with its first live value")
    assert stored() == 2 * KEPT, stored()  # each connection's memory sent once, whole
    assert [up for up, _ in ctx.links] == [True, False, True], ctx.links
    why = ctx.links[1][1]  # down while only its memory came, before it ended
    assert why.startswith("only stored records: "), why
    assert ctx.links[2][1].endswith("; first value"), ctx.links
