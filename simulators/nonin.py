"""Nonin data format #2 simulator (the format is drawn in drivers/nonin2.py).

Streams 75 frames/s (3 packets of 25) once the first `spo2` event arrived, carrying the
latest SpO2 and pulse rate; `probe_off` sets the sensor-disconnect bit, in every frame of
the packet as a real module does while the sensor is off, with no values. The driver ORs
the status over all 25 frames, so a packet is only decoded once it is whole.
"""

from __future__ import annotations

from datetime import datetime

from monitord.drivers.nonin2 import ST_SNSD, packet_frames
from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent


def packet(ev: SimEvent) -> bytes:
    if ev.contact is False:
        return packet_frames(None, None, status=ST_SNSD)
    spo2 = ev.values.get("spo2_pct")
    pulse = ev.values.get("pulse_bpm")
    return packet_frames(
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
