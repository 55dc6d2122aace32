"""Contec CMS50D+ live-output simulator (the packet is drawn in drivers/contec_cms50.py).

The device streams 60 packets a second; this simulator writes each second of them at
once (one `spo2` event, or one tick, stands for one second of output), so the driver,
which emits one reading per second of device data, gives one reading per event.
`probe_off` sets the finger-out bit with no values, as the device does.
"""

from __future__ import annotations

from datetime import datetime

from monitord.drivers.contec_cms50 import PACKETS_PER_S, make_packet
from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent


def one_second(ev: SimEvent) -> bytes:
    if ev.contact is False:
        return make_packet(None, None, finger_out=True, strength=0) * PACKETS_PER_S
    spo2 = ev.values.get("spo2_pct")
    pulse = ev.values.get("pulse_bpm")
    packet = make_packet(
        None if spo2 is None else round(spo2), None if pulse is None else round(pulse)
    )
    return packet * PACKETS_PER_S


class Cms50Sim(SerialSim):
    kinds = (Kind.SPO2,)

    def on_event(self, ev: SimEvent, at: datetime) -> None:
        if ev.kind is Kind.SPO2:
            self.write(one_second(ev))

    def tick(self) -> None:
        got = self.latest.get(Kind.SPO2)
        if got is not None:
            self.write(one_second(got[0]))
