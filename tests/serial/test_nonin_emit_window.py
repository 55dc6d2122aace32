"""The Nonin driver gives one reading a second from three packets (1/3 s each). What it
reports must be what all three packets said, not what the one it happened to keep said:
a finger out (SNSA) that the module interleaves with an out-of-track packet (OOT alone)
must stay probe off on every reading, or the 15-s `tech.sensor_off` timer restarts at
each such reading; an ARTF or red-perfusion bit in a packet not kept was lost too.

The packets are the simulator's own bytes (`packet_bytes`), read by the real protocol
from a link that hands them over one packet per read, as a port does."""

from __future__ import annotations

import pytest

from monitord.drivers import nonin2 as N
from monitord.drivers.base import LinkLost
from monitord.models import Reading
from monitord.simulators.nonin import packet_bytes
from tests.kit import RecordingContext


class _Packets:
    """A port that returns one packet per read, then the end of the test data."""

    def __init__(self, packets: list[bytes]) -> None:
        self._packets = list(packets)

    async def read(self) -> bytes:
        if not self._packets:
            raise LinkLost("end of test data")
        return self._packets.pop(0)

    async def write(self, data: bytes) -> None:
        raise AssertionError("listen-only")

    def heard(self) -> None:
        pass


async def _readings(packets: list[bytes]) -> list[Reading]:
    ctx = RecordingContext()
    with pytest.raises(LinkLost):
        await N.NoninProtocol().run(_Packets(packets), ctx)
    return ctx.readings


GOOD = packet_bytes(72, 97)
SNSA = packet_bytes(None, None, status=N.ST_SNSA)  # the finger out
OOT = packet_bytes(None, None, status=N.ST_OOT)  # out of track alone


@pytest.mark.parametrize("phase", range(3))
async def test_a_finger_out_stays_probe_off_whichever_packet_is_oot(phase: int) -> None:
    # 12 s of finger out, SNSA first, then one packet in three OOT alone (at every phase
    # against the driver's own count), after 2 s of a good reading
    run = [SNSA] + [OOT if k % 3 == phase else SNSA for k in range(1, 36)]
    readings = await _readings([GOOD] * 6 + run)
    out = readings[readings.index(next(r for r in readings if not r.valid)) :]
    assert len(out) >= 11, out
    assert [r.contact for r in out] == [False] * len(out), [(r.contact, r.flags) for r in out]
    assert all("probe_off" in r.flags for r in out)


async def test_a_bit_in_a_packet_between_readings_is_reported() -> None:
    artf = packet_bytes(72, 97, beats=[N.ST_ARTF] + [0] * 24)
    red = packet_bytes(72, 97, beats=[N.ST_RPRF] + [0] * 24)
    for odd in (artf, red):
        for k in range(6):
            readings = await _readings([GOOD] * k + [odd] + [GOOD] * (8 - k))
            flags = {f for r in readings for f in r.flags}
            assert {"artifact", "red_perfusion"} & flags, (k, [r.flags for r in readings])
            assert all(r.valid for r in readings)


async def test_a_finger_back_in_is_valid_within_a_second() -> None:
    readings = await _readings([GOOD] * 3 + [SNSA] * 9 + [GOOD] * 6)
    assert [r.valid for r in readings][-1] is True
    assert [(r.valid, r.contact) for r in readings].count((True, True)) >= 2


@pytest.mark.parametrize("phase", range(3))
async def test_a_reading_is_not_valid_when_a_packet_it_stands_for_was_not(phase: int) -> None:
    """protocols.md, Nonin: OOT (out of track) is loss of signal, not a valid sample; and
    a reading stands for every packet since the last one (drivers/nonin2.py
    `PacketWindow`: "the status is what any of them said (probe off, not valid ...)"). A
    tracking loss that ends between two readings must not come out as a valid reading
    carrying `out_of_track`: before this test, a window that took its validity from its
    last packet alone went unnoticed (the reading said valid for an OOT stretch)."""
    run = [OOT] * (3 + phase) + [GOOD] * 9
    readings = await _readings([GOOD] * 6 + run)
    said = [(r.valid, "out_of_track" in r.flags) for r in readings]
    assert (True, True) not in said, said
    assert said[-1] == (True, False), said  # the good signal back is valid, OOT gone
