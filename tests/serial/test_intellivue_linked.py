"""IntelliVue: a poll result split into linked parts is read as one poll result.

A monitor answers a poll whose reply exceeds the client's max_mtu_rx with linked results
(Guide "Remote Operation Linked Result": ROLRS parts RORLS_FIRST, RORLS_NOT_FIRST_NOT_LAST,
RORLS_LAST with a count from 1, then "one RORSapdu to follow"; the RorlsId definition is
quoted the same in VSCapture's and OpenICE's sources). Each part is a whole poll reply of
whole objects (VSCapture and OpenICE parse every part so), but the SpO2 and its pulse,
or the NIBP and its pulse, are separate objects and can be in different parts. OpenICE
joins the parts and hands the poll on with the closing RORS; read part by part, the
pulse was dropped (a chair whose HR comes from the oximeter lost it).

Spec and independent implementations only: no public capture of a linked poll result was
found. The parts are the codec's encoder's (`F.poll_result_parts`), split between
objects where the reply passes the size limit, as the simulated monitor sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest
from serial_testkit import RecordingContext

from monitord.drivers import intellivue_frames as F
from monitord.drivers.base import Reject, RejectReason
from monitord.drivers.intellivue import numerics
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.intellivue import IntelliVueSim, observations
from tests.kit import device_config

AT = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
BP = SimEvent(Kind.BP, {"sys_mmHg": 120, "dia_mmHg": 80, "map_mmHg": 93, "pulse_bpm": 64})
HR = SimEvent(Kind.HR, {"hr_bpm": 72})
SPO2 = SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 71})
OBS = observations({e.kind: (e, AT) for e in (BP, HR, SPO2)})
# The largest one-object part: a reply longer than it carries one object a part, so the
# SpO2 and its pulse (and the NIBP and its pulse) come in different parts.
ONE_A_PART = max(len(F.poll_result(1, 1, 1, AT, [o], linked_state=1)) for o in OBS)


def parts(
    invoke: int = 7, obs: list[F.Observation] = OBS, max_bytes: int = ONE_A_PART
) -> list[F.Message]:
    out = []
    for data in F.poll_result_parts(invoke, invoke, 1, AT, obs, max_bytes):
        msg = F.decode_message(data)
        assert isinstance(msg, F.Message), msg
        out.append(msg)
    return out


def values(msgs: list[F.Message | Reject]) -> list[dict[Kind, dict[str, object]]]:
    return [
        {m.kind: dict(m.values) for m in numerics(msg)}
        for msg in msgs
        if isinstance(msg, F.Message)
    ]


WHOLE = {
    Kind.BP: {"sys_mmHg": 120, "dia_mmHg": 80, "map_mmHg": 93, "pulse_bpm": 64},
    Kind.HR: {"hr_bpm": 72},
    Kind.SPO2: {"spo2_pct": 97, "pulse_bpm": 71},
}


def test_the_encoder_splits_as_a_monitor_does() -> None:
    """One object a part (NIBP, NIBP pulse, HR, SpO2, SpO2 pulse), linked FIRST, NOT_FIRST
    ..., LAST with counts 1..5, then the closing RORS with no object; one reply that fits
    is one unlinked RORS."""
    got = parts()
    assert [(m.linked_state, m.linked_count, len(m.observations)) for m in got] == [
        (F.RORLS_FIRST, 1, 1),
        *[(F.RORLS_NOT_FIRST_NOT_LAST, i, 1) for i in (2, 3, 4)],
        (F.RORLS_LAST, 5, 1),
        (0, 0, 0),
    ]
    assert all(m.type == "poll_result" and m.invoke_id == 7 for m in got)
    assert len(F.poll_result_parts(7, 7, 1, AT, OBS, F.MTU_RX)) == 1


def test_parts_joined_into_one_poll_result() -> None:
    joiner = F.LinkedResults()
    got = [out for m in parts() for out in joiner.feed(m)]
    assert len(got) == 1 and values(got) == [WHOLE]


def test_unlabelled_pulses_in_two_parts_are_ambiguous() -> None:
    """No labels: our SpO2 with another channel's pulse in one part, ours in the next.
    Read part by part, the first part's lone pulse passed as ours (the SpO2 r's 130);
    joined, two unlabelled pulses cannot be told apart: null and flagged."""
    ours = F.Observation(4, (F.ObservedValue(F.NOM_PULS_OXIM_SAT_O2, 0, F.NOM_DIM_PERCENT, 97),))
    bpm = F.NOM_DIM_BEAT_PER_MIN
    theirs = F.Observation(6, (F.ObservedValue(F.NOM_PLETH_PULS_RATE, 0, bpm, 130),))
    our_pulse = F.Observation(5, (F.ObservedValue(F.NOM_PLETH_PULS_RATE, 0, bpm, 71),))
    two = len(F.poll_result(7, 7, 1, AT, [ours, theirs], linked_state=1))
    split = parts(obs=[ours, theirs, our_pulse], max_bytes=two)
    assert [len(m.observations) for m in split] == [2, 1, 0]  # the pulses apart
    joiner = F.LinkedResults()
    got = [out for m in split for out in joiner.feed(m)]
    assert len(got) == 1 and isinstance(got[0], F.Message)
    (m,) = numerics(got[0])
    assert m.values["pulse_bpm"] is None and m.flags == ("pulse_bpm_ambiguous",)


def test_closing_rors_carrying_objects_is_joined_too() -> None:
    """OpenICE appends the closing RORS's objects to the parts' (parseMore): a monitor
    whose RORS carries the last objects loses none."""
    linked = parts(obs=OBS[:4])[:-1]
    closing = F.decode_message(F.poll_result(7, 7, 1, AT, OBS[4:]))
    assert isinstance(closing, F.Message)
    joiner = F.LinkedResults()
    got = [out for m in [*linked, closing] for out in joiner.feed(m)]
    assert values(got) == [WHOLE]


def test_closing_rors_missing_parts_handed_on_with_the_next_answer() -> None:
    """All linked parts came (RORLS_LAST), the RORS did not: the parts are joined when
    the next poll's answer starts, before it; held no longer than one poll period."""
    joiner = F.LinkedResults()
    first = [out for m in parts(7)[:-1] for out in joiner.feed(m)]
    assert first == []
    got = [out for m in parts(8) for out in joiner.feed(m)]
    assert values(got) == [WHOLE, WHOLE]
    assert [m.invoke_id for m in got if isinstance(m, F.Message)] == [7, 8]


@pytest.mark.parametrize(
    ("what", "keep", "why"),
    [
        ("last part lost", [0, 1, 2, 3, 5], "closed after part 4, which was not the last"),
        ("middle part lost", [0, 1, 3, 4, 5], "part 4 after part 2"),
        ("first part lost", [1, 2, 3, 4, 5], "part 2 without a first part"),
    ],
)
def test_a_lost_part_drops_that_poll_with_one_reject(what: str, keep: list[int], why: str) -> None:
    """A part lost on the line (a frame with a bad FCS, counted there): the poll's other
    parts are not handed on as a whole poll, nor held; one reject says why; the next
    poll's answer is read whole."""
    joiner = F.LinkedResults()
    broken = [parts(7)[i] for i in keep]
    got = [out for m in broken for out in joiner.feed(m)]
    assert got == [
        Reject(RejectReason.BAD_FORMAT, f"linked poll result (invoke id 7) dropped: {why}")
    ]
    got = [out for m in parts(8) for out in joiner.feed(m)]
    assert values(got) == [WHOLE]


def test_last_and_closing_rors_lost_dropped_at_the_next_answer() -> None:
    joiner = F.LinkedResults()
    assert [out for m in parts(7)[:3] for out in joiner.feed(m)] == []
    got = [out for m in parts(8) for out in joiner.feed(m)]
    assert got[0] == Reject(
        RejectReason.BAD_FORMAT, "linked poll result (invoke id 7) dropped: no part after part 3"
    )
    assert values(got[1:]) == [WHOLE]


def test_a_late_answer_amid_the_parts_drops_that_poll_with_one_reject() -> None:
    """An older poll's answer arrives between a poll's parts (a late one): the poll held
    is dropped with one reject, and the rest of its parts are skipped, not each taken for
    another poll's parts without a first one (before: a second reject, "part 2 without a
    first part", counted for the one poll lost)."""
    joiner = F.LinkedResults()
    late = F.decode_message(F.poll_result(6, 6, 1, AT, OBS))
    assert isinstance(late, F.Message)
    seven = parts(7)
    got = [out for m in [seven[0], late, *seven[1:]] for out in joiner.feed(m)]
    rejects = [r for r in got if isinstance(r, Reject)]
    assert rejects == [
        Reject(
            RejectReason.BAD_FORMAT,
            "linked poll result (invoke id 7) dropped: no part after part 1",
        )
    ], f"one poll lost, {len(rejects)} rejects: {[r.detail for r in rejects]}"
    assert values(got) == [WHOLE]  # the late answer, read
    assert values([out for m in parts(8) for out in joiner.feed(m)]) == [WHOLE]


def test_parts_held_are_bounded() -> None:
    joiner = F.LinkedResults(max_parts=3)
    got = [out for m in parts(7) for out in joiner.feed(m)]
    assert got == [
        Reject(RejectReason.OVERSIZE, "linked poll result (invoke id 7) dropped: more than 3 parts")
    ]
    assert values([out for m in parts(8)[-1:] for out in joiner.feed(m)]) == [{}]


async def test_linked_parts_over_a_pty(ctx: RecordingContext) -> None:
    """The simulated monitor answers each poll with one object a part: the NIBP and the
    SpO2 readings carry their pulses, which came in the part after theirs."""
    sim = IntelliVueSim()
    sim.max_reply_bytes = ONE_A_PART
    async with sim:
        for ev in (BP, HR, SPO2):
            await sim.send(ev, AT)
        dev = device_config(id="mon", driver="intellivue", port=sim.port, poll_interval_s=0.5)
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS["intellivue"], ctx, backoff=PortBackoff(0.05, 0.3))
        )
        try:
            await ctx.until(
                lambda: all(ctx.of(k) for k in (Kind.BP, Kind.HR, Kind.SPO2)), "all three"
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert {k: dict(ctx.of(k)[0].values) for k in WHOLE} == WHOLE
    assert all(ctx.of(k)[0].valid for k in WHOLE)
    assert ctx.rejects == []
