"""Nonin data format #2 simulator (the format is drawn in drivers/nonin2.py).

Streams 75 frames/s (3 packets of 25) once the first `spo2` event arrived, carrying the
latest SpO2 and pulse rate; `probe_off` sets the sensor-disconnect bit, in every frame of
the packet as a real module does while the sensor is off, with no values. The driver ORs
the status over all 25 frames, so a packet is only decoded once it is whole.

A packet fills every frame an OEM III fills, as the independent implementation's packet
(pez-globo/pufferfish-software, replayed in tests/serial/test_serial_nonin_decode.py) does:
frame 4 the firmware revision, and besides frames 1-3 (HR, SpO2) the display, fast,
beat-to-beat and extended averages (frames 9-11, 14-17, 20-23), which a steady reading
makes equal to the plain ones. The driver reads frames 1-3 only; a reader that shows the
display averages, as Nonin recommends, must not see zeros from the simulator.
"""

from __future__ import annotations

from datetime import datetime

from monitord.drivers.nonin2 import (
    FRAMES_PER_PACKET,
    HR_MISSING,
    SPO2_MISSING,
    ST_SNSD,
    ST_SYNC,
    make_frame,
)
from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent

FIRMWARE_REV = 0x30  # as the pufferfish packet's frame 4
PLETH = 1  # that packet's pleth byte
# 1-based frames carrying a 9-bit HR (MSB frame, LSB frame) and a SpO2 byte
HR_FRAMES = ((1, 2), (14, 15), (20, 21), (22, 23))  # HR, E-HR, HR-D, E-HR-D
SPO2_FRAMES = (3, 9, 10, 11, 16, 17)  # SpO2, SpO2-D, fast, beat-to-beat, E-SpO2, E-SpO2-D


def packet_bytes(hr: int | None, spo2: int | None, status: int = 0) -> bytes:
    h = HR_MISSING if hr is None else hr
    s = SPO2_MISSING if spo2 is None else spo2
    data = [0] * (FRAMES_PER_PACKET + 1)  # index = frame number
    data[4] = FIRMWARE_REV
    for msb, lsb in HR_FRAMES:
        data[msb], data[lsb] = (h >> 7) & 0x03, h & 0x7F
    for f in SPO2_FRAMES:
        data[f] = s & 0x7F
    return b"".join(
        make_frame(status | (ST_SYNC if f == 1 else 0), PLETH, data[f])
        for f in range(1, FRAMES_PER_PACKET + 1)
    )


def packet(ev: SimEvent) -> bytes:
    if ev.contact is False:
        return packet_bytes(None, None, status=ST_SNSD)
    spo2 = ev.values.get("spo2_pct")
    pulse = ev.values.get("pulse_bpm")
    return packet_bytes(
        None if pulse is None else round(pulse), None if spo2 is None else round(spo2)
    )


class NoninSim(SerialSim):
    kinds = (Kind.SPO2,)
    period_s = 1.0 / 3  # one packet every 1/3 s

    def on_event(self, ev: SimEvent, at: datetime) -> None:
        if ev.kind is Kind.SPO2:
            self.write(packet(ev))

    def tick(self) -> None:
        got = self.latest.get(Kind.SPO2)
        if got is not None:
            self.write(packet(got[0]))
