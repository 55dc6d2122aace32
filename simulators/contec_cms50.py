"""Contec CMS50D+ live-output simulator (the packet is drawn in drivers/contec_cms50.py).

The device streams 60 packets a second; this simulator writes each second of them at
once (one `spo2` event, or one tick, stands for one second of output), so the driver,
which emits one reading per second of device data, gives one reading per event.
`probe_off` sets the finger-out bit with no values, as the device does.

Within a second the packets carry what the device's do (the packet's fields as the
independent reader atbrask/CMS50Dplus `LiveDataPoint` has them): the same SpO2 and pulse
in every packet, a plethysmogram that rises and falls once a beat, and the beep bit on
the packet of each beat. No public byte capture exists (docs/devices.md), so the wave's
shape is not the device's; what matters is that only the numbers repeat, which is what
the driver's in-step rule (`PacketLock`) relies on.
"""

from __future__ import annotations

from datetime import datetime

from monitord.drivers.contec_cms50 import B1_BEEP, PACKETS_PER_S, make_packet
from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent


def _beat(packet: bytes, k: int, per_beat: int) -> bytes:
    """Packet `k` of the second: pleth on a triangle wave of one beat, beep on its start."""
    phase = (k % per_beat) / per_beat
    pleth = round(16 + 96 * (1 - abs(2 * phase - 1)))  # 16..112, 7 bits
    b1 = packet[0] | (B1_BEEP if k % per_beat == 0 else 0)
    return bytes((b1, pleth)) + packet[2:]


def one_second(ev: SimEvent) -> bytes:
    if ev.contact is False:  # no finger: no pulse wave, no beep
        return make_packet(None, None, finger_out=True, strength=0, pleth=0) * PACKETS_PER_S
    spo2 = ev.values.get("spo2_pct")
    pulse = ev.values.get("pulse_bpm")
    packet = make_packet(
        None if spo2 is None else round(spo2), None if pulse is None else round(pulse)
    )
    if not pulse:
        return packet * PACKETS_PER_S
    per_beat = max(2, round(PACKETS_PER_S * 60 / pulse))
    return b"".join(_beat(packet, k, per_beat) for k in range(PACKETS_PER_S))


class Cms50Sim(SerialSim):
    kinds = (Kind.SPO2,)

    def on_event(self, ev: SimEvent, at: datetime) -> None:
        if ev.kind is Kind.SPO2:
            self.write(one_second(ev))

    def tick(self) -> None:
        got = self.latest.get(Kind.SPO2)
        if got is not None:
            self.write(one_second(got[0]))
