"""Contec CMS50D+ live-output simulator (the packet is drawn in drivers/contec_cms50.py).

The device streams 60 packets a second, evenly, without a pause; so does this simulator,
in writes of `PACKETS_PER_WRITE` packets every 1/10 s (`SerialSim.write_paced`; packet
by packet would cost six times the wakeups, in tests with many chairs). One `spo2` event,
or one tick, stands for one second of output, so the driver, which emits one reading per
second of device data, gives one reading per event; an event that comes while the one
before still streams (a scenario played faster than real time) has the rest of that one
written at once, so the stream keeps up with the scenario. `probe_off` sets byte 1's
finger-out bit (atbrask/CMS50Dplus `fingerOut`) with the values 0, no pleth wave and
signal strength 0. What a real CMS50D+ sends with the finger out is not known (no public
capture; drivers/contec_cms50.py): Yujia-Yan/CMS50SerialProtocolKit names the same bit
"searching too long", which may come with the last numbers still in the packet (the
driver reads it as probe off either way, tests/test_finger_out.py). Before, this said
"as the device does", a claim no source makes.

Before, each second was written at once. The driver passes a packet on only when the
next one starts (`PacketReader`), so a second's last packet waited for the next second's
burst: a driver whose lock formed on that packet (a port opened, or the lock retaken, a
few packets before a burst's end) read every second one burst late, and a scenario chair
(no repeats) never read its last sample. Spread over the second, a packet waits 1/10 s at
most. Writes of 6 packets also keep the lock off a second's last packet: a port opened
between two writes finds its first whole packet at 6k+1, so the driver's 5-packet lock
and with it each second's reading fall on packet 6k+5, released by 6k+6 in the same write
(with writes of 5 packets the reading of a port opened before the last write would be the
second's last packet, which a scenario's last sample never gets released).

Within a second the packets carry what the device's do (the packet's fields as the
independent reader atbrask/CMS50Dplus `LiveDataPoint` has them): the same SpO2 and pulse
in every packet, a plethysmogram that rises and falls once a beat, and the beep bit on
the packet of each beat. No public byte capture exists (docs/devices.md), so the wave's
shape is not the device's; what matters is that only the numbers repeat, which is what
the driver's in-step rule (`PacketLock`) relies on.
"""

from __future__ import annotations

from datetime import datetime

from monitord.drivers.contec_cms50 import B1_BEEP, PACKET_LEN, PACKETS_PER_S, make_packet
from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent

WRITES_PER_S = 10
PACKETS_PER_WRITE = PACKETS_PER_S // WRITES_PER_S  # 6: not 5 (module docstring)


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


def writes(ev: SimEvent) -> list[bytes]:
    """One second of output as the simulator writes it, `PACKETS_PER_WRITE` packets each."""
    data, n = one_second(ev), PACKET_LEN * PACKETS_PER_WRITE
    return [data[i : i + n] for i in range(0, len(data), n)]


class Cms50Sim(SerialSim):
    kinds = (Kind.SPO2,)

    def on_event(self, ev: SimEvent, at: datetime) -> None:
        if ev.kind is Kind.SPO2:
            self.write_paced(writes(ev), 1 / WRITES_PER_S)

    def tick(self) -> None:
        got = self.latest.get(Kind.SPO2)
        if got is not None:
            self.write_paced(writes(got[0]), 1 / WRITES_PER_S)
