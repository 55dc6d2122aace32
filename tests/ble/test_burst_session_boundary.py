"""A cuff's last BP of one patient, held while its connection's burst is sorted
(monitord/history.py: in a burst only the newest is live, known once the burst ends, up to
BURST_GAP_S after the last record), belongs to the session open when it was received: in
the engine, the store and the report alike (clinical-rules.md "Baseline": the readings
taken in `baseline`; "Precise semantics": a reading of one patient never confirms an alarm
for the next; docs/report.md places a live reading at its receive time).

Before, it went to the engine and the store where its burst ended: after the `session_end`
of patient A and the `session_start` of patient B that a nurse sent meanwhile. A's BP then
counted in B's baseline (bp.baseline_high raised for B on B's first normal reading) and was
stored under B's session id, while A's report placed it in A's session.

A real chair task on the wall clock, a real `episodic` BLE cuff (a bumble GATT peripheral
on the virtual link, through bleak and drivers/ble_link.py) that connects after each
measurement, pushes its memory and the new one, and hangs up; the nurse's session commands
go through the chair's queue as MQTT's `cmd/session` does (`ChairRuntime.command`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Literal

from monitord.chair import DeviceCtx
from monitord.drivers.ble_link import LinkTiming
from monitord.engine.inputs import SessionCmd
from monitord.report.load import record_for, session_spans
from monitord.simulators.ble import SimCuff, VirtualBleLink

from .helpers import episodic_cuff, recorded_chair, stop, wait_until
from .test_e2e_link import bp, start_link

Action = Literal["start", "dose_start", "dose_end", "end"]
FAST = LinkTiming(scan_timeout_s=0.5, connect_timeout_s=5.0, backoff_scale=0.01)


async def test_a_held_bp_of_patient_a_counts_for_a_not_for_the_next_patient(
    vlink: VirtualBleLink, tmp_path: Path
) -> None:
    chair, batches, task = recorded_chair(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    old = [(bp(128, 84, 99, 70), now - timedelta(days=1))]  # its memory: history

    def cmd(action: Action, sid: str | None = None) -> SessionCmd:
        return SessionCmd(chair.clock.now(), "chair-1", action, "esketamine", session_id=sid)

    def live(sys_: int) -> bool:
        got = [r for b in batches for r in b.readings if not r.stored]
        return any(r.values["sys_mmHg"] == sys_ for r in got)

    async with SimCuff("HomeCuff", vlink, episodic=True, memory=old) as cuff:
        link = start_link(vlink, DeviceCtx(chair, "cuff"), episodic_cuff(), timing=FAST)
        try:
            assert await chair.command(cmd("start", "A")) is None
            # A's last BP: received, held in its burst (is more of the cuff's memory coming?)
            await cuff.send(bp(176, 96, 123, 80), now)
            await wait_until(lambda: chair.history.holding == 2, what="burst held")
            # The nurse ends A's session and starts B's while it is held.
            assert await chair.command(cmd("end")) is None
            assert await chair.command(cmd("start", "B")) is None
            await wait_until(lambda: live(176), what="A's BP taken")
            # B's two baseline BPs: normal (with A's 176/96 the mean is over 140).
            for i, sys_ in enumerate((124, 126)):
                await wait_until(lambda: cuff.connection is None, what="cuff hangs up")
                await cuff.send(bp(sys_, 78, 93, 70), now + timedelta(seconds=i + 1))
                await wait_until(partial(live, sys_), what=f"B's BP {sys_}")
        finally:
            await stop(link, task)

    # The engine: B's baseline is B's readings alone.
    raised = [(e.rule, e.event) for b in batches for e in b.events]
    assert ("bp.baseline_high", "raised") not in raised, raised
    ob = chair.store.outbox
    # The store: A's BP under A's session id, its memory record too (received in A's).
    tagged = {(r.values["sys_mmHg"], r.stored): sid for r, sid in ob.readings("chair-1")}
    assert tagged == {(128, True): "A", (176, False): "A", (124, False): "B", (126, False): "B"}
    # The report: A's record holds it, B's does not.
    recs = {s.session_id: record_for(ob, s) for s in session_spans(ob, "chair-1")}

    def bps(sid: str) -> list[float | None]:
        return [v.values["sys_mmHg"] for v in recs[sid].vitals if v.kind == "bp" and not v.stored]

    assert bps("A") == [176]
    assert bps("B") == [124, 126]
