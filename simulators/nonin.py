"""Nonin data format #2 simulator (the format is drawn in drivers/nonin2.py).

Streams 75 frames/s (3 packets of 25) once the first `spo2` event arrived, carrying the
latest SpO2 and pulse rate; `probe_off` (the finger out of a sensor still plugged in)
sets the sensor-alarm bit SNSA, in every frame of the packet while the finger is out, with
the missing markers 511/127 in the values formatted for recording (frames 1-3, 10, 11,
14-16), while the values formatted for display (SpO2-D frame 9, E-SpO2-D 17, HR-D 20-21,
E-HR-D 22-23) keep the last reading for 10 s of the device's frames, then go missing too
(independent readers of Nonin's text: SNSA "set when the finger is removed"; the
recording values "immediately change to an error value if finger is removed", the
display ones "stay at last value for 10 seconds after finger is removed", Oxford IBME's
`NoninFrame`/`NoninPacket`, `FrameLocation`; drivers/nonin2.py). Before, the display
values went missing at once with the others, as a device does not. Before that,
it sent SNSD, the sensor unplugged, which is not what a finger out sends. The driver ORs
the status over all 25 frames, so a packet is only decoded once it is whole.

A packet fills every frame an OEM III fills, as the independent implementation's packet
(pez-globo/pufferfish-software, replayed in tests/serial/test_serial_nonin_decode.py) does:
frame 4 the firmware revision, and besides frames 1-3 (HR, SpO2) the display, fast,
beat-to-beat and extended averages (frames 9-11, 14-17, 20-23), which a steady reading
makes equal to the plain ones. The driver reads frames 1-3 only; a reader that shows the
display averages, as Nonin recommends, must not see zeros from the simulator.

Status bits as a device sets them while it tracks a pulse (independent readers of the
format's status byte: Oxford IBME's `NoninFrame`, "only present for 12 packets (160
milliseconds) during a pulse"; pufferfish's `PacketReceiver`, "ARTF: a detected pulse
beat didn't match the current pulse interval"; no byte capture of a real stream was
found, so the timing is theirs, not seen):
- perfusion: GPRF (green, a high-quality pulse signal) in the 12 frames from each beat's
  onset, none between beats; the beats run at the pulse rate, on a frame count that
  carries over from packet to packet.
- ARTF on every `ARTIFACT_EVERY`th beat's frames, as a real module flags an ectopic beat
  (frequent with arrhythmia and motion): the driver must keep such a reading valid.
OOT (out of track) and SNSD (sensor unplugged) are not sent: no scenario field asks for
them (a scenario's `probe_off` is the finger out: SNSA). No pulse (probe off, no value):
no perfusion nor artifact bits.
"""

from __future__ import annotations

from datetime import datetime

from monitord.drivers.nonin2 import (
    FRAMES_PER_PACKET,
    HR_MISSING,
    SPO2_MISSING,
    ST_ARTF,
    ST_GPRF,
    ST_SNSA,
    ST_SYNC,
    make_frame,
)
from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent

FIRMWARE_REV = 0x30  # as the pufferfish packet's frame 4
PLETH = 1  # that packet's pleth byte
# 1-based frames carrying a 9-bit HR (MSB frame, LSB frame) and a SpO2 byte, formatted
# for recording (missing at once when the finger is out) or for display (held 10 s)
HR_FRAMES = ((1, 2), (14, 15))  # HR, E-HR
SPO2_FRAMES = (3, 10, 11, 16)  # SpO2, fast, beat-to-beat, E-SpO2
HR_DISPLAY_FRAMES = ((20, 21), (22, 23))  # HR-D, E-HR-D
SPO2_DISPLAY_FRAMES = (9, 17)  # SpO2-D, E-SpO2-D
DISPLAY_HOLD_FRAMES = 10 * 75  # the display values' 10 s after the finger is out
FRAMES_PER_MINUTE = 75 * 60
PERFUSION_FRAMES = 12  # 160 ms of a beat (module docstring)
ARTIFACT_EVERY = 20  # beats; one ectopic beat in 20 (module docstring)


def pulse_status(hr: int | None, first: int, n: int = FRAMES_PER_PACKET) -> list[int]:
    """The beat bits of frames `first` .. `first + n - 1` (counted from the stream's
    start) at `hr` beats a minute: a beat begins where `frame * hr` passes a multiple of
    75 * 60 (frames a minute)."""
    if not hr or hr >= HR_MISSING:
        return [0] * n
    out = []
    for g in range(first, first + n):
        beat, into = divmod(g * hr, FRAMES_PER_MINUTE)
        if into >= PERFUSION_FRAMES * hr:
            out.append(0)  # between beats: no perfusion indication
        else:
            out.append(ST_GPRF | (ST_ARTF if beat % ARTIFACT_EVERY == ARTIFACT_EVERY - 1 else 0))
    return out


Shown = tuple[int | None, int | None]  # (HR, SpO2) in the display frames


def packet_bytes(
    hr: int | None,
    spo2: int | None,
    status: int = 0,
    beats: list[int] | None = None,
    shown: Shown | None = None,
) -> bytes:
    """One packet; `beats` is each frame's beat bits (`pulse_status`), none if omitted;
    `shown` the display frames' (HR, SpO2), `hr` and `spo2` if omitted."""
    hr_d, spo2_d = (hr, spo2) if shown is None else shown
    data = [0] * (FRAMES_PER_PACKET + 1)  # index = frame number
    data[4] = FIRMWARE_REV
    for frames, value in ((HR_FRAMES, hr), (HR_DISPLAY_FRAMES, hr_d)):
        h = HR_MISSING if value is None else value
        for msb, lsb in frames:
            data[msb], data[lsb] = (h >> 7) & 0x03, h & 0x7F
    for frames1, value in ((SPO2_FRAMES, spo2), (SPO2_DISPLAY_FRAMES, spo2_d)):
        for f in frames1:
            data[f] = (SPO2_MISSING if value is None else value) & 0x7F
    bits = beats or [0] * FRAMES_PER_PACKET
    return b"".join(
        make_frame(status | bits[f - 1] | (ST_SYNC if f == 1 else 0), PLETH, data[f])
        for f in range(1, FRAMES_PER_PACKET + 1)
    )


def packet(ev: SimEvent, first_frame: int = 0, held: Shown = (None, None)) -> bytes:
    """The packet for `ev` whose first frame is the stream's `first_frame`; `held` is what
    the display frames still show of the last reading while the finger is out."""
    if ev.contact is False:  # the finger out (docstring)
        return packet_bytes(None, None, status=ST_SNSA, shown=held)
    spo2 = ev.values.get("spo2_pct")
    pulse = ev.values.get("pulse_bpm")
    hr = None if pulse is None else round(pulse)
    beats = pulse_status(hr, first_frame)
    return packet_bytes(hr, None if spo2 is None else round(spo2), beats=beats)


class NoninSim(SerialSim):
    kinds = (Kind.SPO2,)
    period_s = 1.0 / 3  # one packet every 1/3 s

    _frames = 0  # frames sent on this stream: the beats' phase carries across packets
    _shown: Shown = (None, None)  # the last reading's (HR, SpO2), for the display frames
    _out_at: int | None = None  # the frame count at which the finger went out

    def _send(self, ev: SimEvent) -> None:
        held: Shown = (None, None)
        if ev.contact is False:
            if self._out_at is None:
                self._out_at = self._frames
            if self._frames - self._out_at < DISPLAY_HOLD_FRAMES:
                held = self._shown
        else:
            self._out_at = None
            pulse, spo2 = ev.values.get("pulse_bpm"), ev.values.get("spo2_pct")
            self._shown = (
                None if pulse is None else round(pulse),
                None if spo2 is None else round(spo2),
            )
        self.write(packet(ev, self._frames, held))
        self._frames += FRAMES_PER_PACKET

    def on_event(self, ev: SimEvent, at: datetime) -> None:
        if ev.kind is Kind.SPO2:
            self._send(ev)

    def tick(self) -> None:
        got = self.latest.get(Kind.SPO2)
        if got is not None:
            self._send(got[0])
