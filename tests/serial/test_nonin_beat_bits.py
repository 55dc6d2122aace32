"""The Nonin simulator's beat bits (simulators/nonin.py: green perfusion for 12 frames
from each beat's onset, ARTF on one beat in 20) and what the driver makes of them.

A real module sets these while it tracks a pulse (Oxford IBME's `NoninFrame`: perfusion
"only present for 12 packets (160 milliseconds) during a pulse"; pufferfish's
`PacketReceiver`: ARTF, "a detected pulse beat didn't match the current pulse
interval"). Neither is loss of signal (shared/protocols.md, Nonin; clinical-rules.md
"Valid readings" calls neither invalid): every packet must come out a valid reading with
its numbers and contact, whatever its beat bits, never dropped."""

from __future__ import annotations

import itertools

import pytest

from monitord.drivers import nonin2 as N
from monitord.drivers.base import Reject
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.nonin import ARTIFACT_EVERY, packet


def _minute(hr: int, spo2: int) -> list[bytes]:
    ev = SimEvent(Kind.SPO2, {"spo2_pct": spo2, "pulse_bpm": hr})
    return [packet(ev, k * N.FRAMES_PER_PACKET) for k in range(180)]  # 3 packets a second


@pytest.mark.parametrize("hr", [35, 72, 140, 240])
def test_every_packet_with_beat_bits_is_a_valid_reading(hr: int) -> None:
    packets = _minute(hr, 96)
    reader, asm = N.FrameReader(), N.PacketAssembler()
    recs = []
    for p in packets:
        for item in reader.feed(p):
            assert not isinstance(item, Reject), item
            rec = asm.add(item)
            if rec is not None:
                assert not isinstance(rec, Reject), rec
                recs.append(rec)
    assert len(recs) == len(packets)
    assert all(r.valid and r.contact for r in recs), hr
    assert all(r.values == {"spo2_pct": 96, "pulse_bpm": hr} for r in recs)
    flags = [set(r.flags) for r in recs]
    assert all(f <= {"green_perfusion", "artifact"} for f in flags), flags
    # the beats are there (a minute holds at least one packet a beat, each marked
    # green), and a minute of them at least one in ARTIFACT_EVERY with artifact
    green = sum("green_perfusion" in f for f in flags)
    assert green >= min(len(recs), hr), (hr, green)
    assert any("artifact" in f for f in flags), hr


def test_beat_bits_follow_the_pulse_rate_across_packets() -> None:
    """12 frames of green from each beat onset, 75 * 60 / hr frames apart."""
    raw = b"".join(_minute(72, 96))
    status = [raw[k + 1] for k in range(0, len(raw), N.FRAME_LEN)]
    on = [
        i for i, s in enumerate(status) if s & N.ST_GPRF and not (i and status[i - 1] & N.ST_GPRF)
    ]
    assert len(on) == 72 and {b - a for a, b in itertools.pairwise(on)} <= {62, 63}, on[:5]
    assert all(all(status[i + j] & N.ST_GPRF for j in range(12)) for i in on)
    assert all(not status[i + 12] & N.ST_GPRF for i in on)
    artf = [i for i in on if status[i] & N.ST_ARTF]
    assert len(artf) == 72 // ARTIFACT_EVERY, artf
