"""Contec CMS50D+ finger pulse oximeter, live serial output ("CMS50" 5-byte format), 19200 8O1.

Wire layout: about 60 packets per second, 5 bytes each. Only the first byte of a packet
has bit 7 set, which is how a reader finds the packet start (there is no checksum).

    byte  1                  2            3                     4              5
        +------------------+------------+---------------------+--------------+-------------+
        | 1 B D F S S S S  | 0 pleth(7) | 0 P7 SR PE G G G G  | 0 pulse 6..0 | 0 SpO2 (7)  |
        +------------------+------------+---------------------+--------------+-------------+

    byte 1: B 0x40 beep (pulse beat), D 0x20 SpO2 dropping, F 0x10 finger out,
            S 0x0F signal strength
    byte 3: P7 0x40 pulse rate bit 7, SR 0x20 searching, PE 0x10 probe error,
            G 0x0F bar graph
    pulse rate = P7 << 7 | byte 4 (0..255 bpm), SpO2 = byte 5 (percent)

Sources: the line settings (19200 baud, 8 data bits, odd parity, 1 stop bit) and the 5-byte
live packet with bit 7 marking its first byte: Apnea Board wiki "Contec CMS50X Data
Format" (http://www.apneaboard.com/wiki/index.php/Contec_CMS50X_Data_Format; it names
no bit of byte 1 but its sync bit); the bit fields above: atbrask/CMS50Dplus
(`LiveDataPoint`, a CMS50D+ reader and writer of this packet;
https://github.com/atbrask/CMS50Dplus, file `cms50dplus/cms50dplus.py`).
CMS50D+ units with firmware 4.6 and later speak a different framed protocol: not this
driver.

Byte 1 bit 0x10: the sources disagree on its name, and no Contec text or capture settles
it. atbrask/CMS50Dplus calls it `fingerOut`; Yujia-Yan/CMS50SerialProtocolKit
(https://github.com/Yujia-Yan/CMS50SerialProtocolKit, file `CMS50Protocol/src/CMS50.java`)
calls it `searchingTooLong`, beside byte 3's 0x20 `searching`. Taken as
probe off (`contact: false`, flag `probe_off`, not valid), the safe reading of the two: a
finger out must reach `tech.sensor_off` after 15 s, and an oximeter that has searched too
long for a pulse is not measuring the patient either, so the alarm asks the nurse to look
at the finger in both cases; read as a search (contact true) a finger out would never
alarm. Byte 3's 0x20 (searching, which both sources name alike) stays a search: not
valid, contact true (docs/devices.md, "A finger out").

Not confirmed by a public source: how the device marks "no value". The sources above
and the other open readers of this packet (nonspecialist/cms-p, Yujia-Yan/
CMS50SerialProtocolKit, OSCAR's cms50_loader live mode) pass the fields on raw and name
no marker. A finger out, a probe error or a search means no usable measurement: `valid:
false`, and finger out / probe error also `contact: false` (`probe_off`), with values
null. SpO2 0 or 127 (all 7 bits set) and pulse 0 or 255 (all 8 bits set) are taken as
"no value": null, never a number. Any other SpO2 above 100 or pulse above 250 (the
CMS50D+'s pulse range ends at 250 bpm) is a number the device does not send: the packet
is an `implausible_value` reject, counted, before the lock and after it, and never a
reading.

In step: with no checksum, noise fits the packet shape often (random bytes give about as
many "packets" a second as the device, a tenth of them with a valid-looking SpO2), so a
packet counts (link heard, readings) only once the stream is in step with a device
(`PacketLock`): `LOCK_PACKETS` packets back to back, no byte between them out of place,
carrying the same SpO2 and pulse (the device repeats its displayed numbers in every
packet and changes them about once a second) within the device's ranges (SpO2 0..100,
pulse 0..250; SpO2 127 and pulse 255 pass as "no value"), or saying finger out or probe
error. From then on every packet counts until a byte out of place (a noise or cut-packet
reject) drops the lock. Random bytes fit that by chance about once in 2^45 tries. A
packet is whole only when the next packet starts right after its 5th byte (`PacketReader`):
a byte too many inside one (line noise) shifts its fields, the pulse byte read as SpO2,
so a packet followed by a byte out of place is dropped with that byte, never a reading.

Readings: one per second of device data (every 60th packet in step) or at once when
validity changes, like the other oximeter drivers. The format carries no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitord.config import DeviceOptions
from monitord.drivers.base import (
    ByteLink,
    DecodeProfile,
    DeviceContext,
    DriverDescriptor,
    Measurement,
    Reject,
    RejectReason,
    SerialDefaults,
    stamp,
)
from monitord.drivers.serial_link import SerialLinkSettings
from monitord.models import Kind

PACKET_LEN = 5
PACKETS_PER_S = 60
SYNC = 0x80
B1_BEEP = 0x40
B1_SPO2_DROPPING = 0x20
B1_FINGER_OUT = 0x10
B3_PULSE_BIT7 = 0x40
B3_SEARCHING = 0x20
B3_PROBE_ERROR = 0x10
# Packets in step before one counts: 1/12 s of device output. Each random packet shape
# is 2^-5 likely and two carrying the same values 2^-15, so noise passes by chance about
# once in 2^45 tries; a real device, repeating its numbers, needs just these packets.
LOCK_PACKETS = 5
SPO2_NO_VALUE = 127  # taken as "no value" (not confirmed; module docstring)
PULSE_NO_VALUE = 255
PULSE_MAX = 250  # the CMS50D+'s pulse-rate range ends at 250 bpm


@dataclass(frozen=True, slots=True)
class Packet:
    b: bytes  # the 5 bytes, first with bit 7 set

    @property
    def pulse(self) -> int:
        return (self.b[2] & B3_PULSE_BIT7) << 1 | self.b[3] & 0x7F

    @property
    def spo2(self) -> int:
        return self.b[4] & 0x7F


def make_packet(
    spo2: int | None,
    pulse: int | None,
    *,
    finger_out: bool = False,
    searching: bool = False,
    strength: int = 8,
    pleth: int = 64,
) -> bytes:
    """One live packet (for the simulator and the tests). None values are sent as 0,
    the device's display shows none then."""
    p = 0 if pulse is None else pulse & 0xFF
    b1 = SYNC | (B1_FINGER_OUT if finger_out else 0) | strength & 0x0F
    b3 = (p & 0x80) >> 1 | (B3_SEARCHING if searching else 0) | strength & 0x0F
    return bytes((b1, pleth & 0x7F, b3, p & 0x7F, 0 if spo2 is None else spo2 & 0x7F))


def decode_packet(pkt: Packet) -> Measurement | Reject:
    """One whole packet -> a measurement, or a reject for a number the device does not
    send (pure; the packet layout is checked by the reader)."""
    why = _implausible(pkt)
    if why is not None:
        return Reject(RejectReason.IMPLAUSIBLE, f"{why}: outside the CMS50's range")
    b1, b3 = pkt.b[0], pkt.b[2]
    finger_out = bool(b1 & B1_FINGER_OUT)
    probe_error = bool(b3 & B3_PROBE_ERROR)
    searching = bool(b3 & B3_SEARCHING)
    flags: list[str] = []
    probe_off = finger_out or probe_error
    if probe_off:
        flags.append("probe_off")
    if probe_error:
        flags.append("probe_error")
    if searching:
        flags.append("pulse_search")
    if b1 & B1_SPO2_DROPPING:
        flags.append("spo2_dropping")
    spo2: int | None = pkt.spo2
    pulse: int | None = pkt.pulse
    if spo2 in (0, SPO2_NO_VALUE):
        spo2 = None
    if pulse in (0, PULSE_NO_VALUE):
        pulse = None
    if probe_off:
        spo2 = pulse = None
    return Measurement(
        kind=Kind.SPO2,
        values={"spo2_pct": spo2, "pulse_bpm": pulse},
        valid=spo2 is not None and not (probe_off or searching),
        flags=tuple(flags),
        contact=not probe_off,
    )


class PacketReader:
    """Bytes in any chunking -> whole packets or rejects (pure, incremental, bounded).

    A packet is the bytes from one packet start (bit 7 set) to the next, and it is whole
    only when that next start comes right after its 5th byte: it is passed on then, not
    when its 5th byte arrives. With no checksum, a byte that line noise put inside a
    packet shifts its fields (the pulse byte read as SpO2) and shows only as the byte left
    over after the 5th; a packet followed by such a byte is dropped with it (NOISE, the
    detail says so), never decoded (atbrask/CMS50Dplus `getLiveData`, too, yields a packet
    only when the next packet start arrives). A packet start that arrives before the previous
    packet is whole cuts it (BAD_LENGTH): a packet is never decoded from the bytes that
    happened to arrive. Other bytes before a packet start are counted once per run as
    NOISE. The device streams without a pause, so holding each packet until the next
    starts delays it by one packet (1/60 s); `end()` releases the last one when the input
    is known to end there (the decode CLI).

    One reader per connection. The oximeter streams about 60 packets a second without a
    pause, so the port often opens mid-packet: the 1 to 4 bytes before the first packet
    start are then the rest of the packet the open cut. That run is still NOISE, but
    `expected` (drivers/reject.py: at DEBUG, not a WARNING at every connect of a sound
    oximeter); a longer run, or one after the first packet start, is warned of."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skipped = 0
        self._dropped = False  # the run of skipped bytes followed a whole packet
        self._started = False  # a packet start was read on this connection

    def feed(self, data: bytes) -> list[Packet | Reject]:
        out: list[Packet | Reject] = []
        for byte in data:
            if byte & SYNC:
                self._close(out)
                self._buf = bytearray((byte,))
            elif 0 < len(self._buf) < PACKET_LEN:
                self._buf.append(byte)
            else:
                if self._buf:  # a 6th byte: the packet is not whole, whatever it holds
                    self._dropped = True
                    self._buf.clear()
                self._skipped += 1
        return out

    def end(self) -> list[Packet]:
        """The input ends here: the last packet, if whole (nothing came after it)."""
        whole = len(self._buf) == PACKET_LEN
        packet = Packet(bytes(self._buf))
        self._buf.clear()
        return [packet] if whole else []

    def _close(self, out: list[Packet | Reject]) -> None:
        """A packet start: settle what came since the previous one."""
        if self._skipped:
            if self._dropped:
                detail = f"{self._skipped} bytes out of sync right after a packet, which is "
                out.append(Reject(RejectReason.NOISE, detail + "dropped (they may belong in it)"))
            elif not self._started and self._skipped < PACKET_LEN:
                detail = f"{self._skipped} bytes before the first packet (the port opened "
                out.append(Reject(RejectReason.NOISE, detail + "mid-packet)", expected=True))
            else:
                out.append(Reject(RejectReason.NOISE, f"{self._skipped} bytes out of sync"))
        elif len(self._buf) == PACKET_LEN:
            out.append(Packet(bytes(self._buf)))
        elif self._buf:
            n = len(self._buf)
            out.append(Reject(RejectReason.BAD_LENGTH, f"packet of {n} bytes, a packet has 5"))
        self._skipped = 0
        self._dropped = False
        self._started = True


class PacketLock:
    """Whole packets -> the packets in step with a device (pure; module docstring).

    `take` returns the packet when it counts, None while the lock is being taken, or a
    Reject: the one given (it drops the lock), or an implausible packet before the lock
    (after it, `decode_packet` rejects one).

    A packet taken during the lock-in is not a reject. A reject is bad data: counted by
    reason in the device's status and logged at WARNING once per reason until the link
    is up (monitord/chair.py `DeviceCtx.reject`). Every connection of a healthy CMS50
    starts with LOCK_PACKETS - 1 such packets, and one whose numbers change during the
    1/12 s lock-in (they change about once a second) starts a new run: counting them
    would show rejects and a warning for a sound device on every (re)connection. Like
    the 59 of every 60 packets in step that give no reading, they are data the next
    reading stands for. Noise that happens to be packet-shaped comes with bytes out of
    place, which are counted (`noise`, `bad_length`), and a line that never gets in step
    is reported by the transport as a lost link (`no data decoded`)."""

    def __init__(self) -> None:
        self._run: list[Packet] = []
        self.locked = False

    def take(self, item: Packet | Reject) -> Packet | Reject | None:
        if isinstance(item, Reject):
            self.locked = False
            self._run.clear()
            return item
        if self.locked:
            return item
        why = _implausible(item)
        if why is not None:
            self._run.clear()
            return Reject(RejectReason.IMPLAUSIBLE, f"{why}: not a CMS50 packet")
        if self._run and _numbers(self._run[-1]) != _numbers(item):
            self._run.clear()
        self._run.append(item)
        if len(self._run) < LOCK_PACKETS:
            return None
        self.locked = True
        self._run.clear()
        return item


def _numbers(pkt: Packet) -> tuple[int, int]:
    return pkt.spo2, pkt.pulse


def _implausible(pkt: Packet) -> str | None:
    """Numbers the device does not send, or None. A packet saying finger out or probe
    error carries none, whatever its bytes hold."""
    if pkt.b[0] & B1_FINGER_OUT or pkt.b[2] & B3_PROBE_ERROR:
        return None
    if pkt.spo2 > 100 and pkt.spo2 != SPO2_NO_VALUE:
        return f"SpO2 {pkt.spo2} %"
    if pkt.pulse > PULSE_MAX and pkt.pulse != PULSE_NO_VALUE:
        return f"pulse {pkt.pulse} bpm"
    return None


def decode_hex_packets(data: bytes) -> list[dict[str, Any]] | Reject:
    """`monitord decode --profile contec-cms50`: one or more whole 5-byte packets."""
    if not data or len(data) % PACKET_LEN:
        return Reject(RejectReason.BAD_LENGTH, f"{len(data)} bytes is not a multiple of 5")
    out: list[dict[str, Any]] = []
    reader = PacketReader()
    for item in [*reader.feed(data), *reader.end()]:
        m = item if isinstance(item, Reject) else decode_packet(item)
        if isinstance(m, Reject):
            return m
        out.append(m.to_record())
    if len(out) * PACKET_LEN != len(data):
        return Reject(RejectReason.BAD_FORMAT, "a packet must start with its bit-7 byte")
    return out


class Cms50Protocol:
    """Listen-only: the oximeter streams on its own."""

    def __init__(self, settings: DeviceOptions | None = None) -> None:
        pass  # no options of its own: the serial link's settings only

    async def run(self, link: ByteLink, ctx: DeviceContext) -> None:
        reader = PacketReader()
        lock = PacketLock()  # per connection: a reopened port starts out of step
        count = 0
        last_valid: bool | None = None
        while True:
            for got in reader.feed(await link.read()):
                item = lock.take(got)
                if item is None:
                    continue
                m = item if isinstance(item, Reject) else decode_packet(item)
                if isinstance(m, Reject):
                    # in step, an impossible number is still a reject, never a reading
                    # (the lock stays: the packet's bytes were where they belong)
                    ctx.reject(m)
                    continue
                link.heard()
                count += 1
                # the first packet of each second of data, or a change of validity
                if count % PACKETS_PER_S != 1 and m.valid == last_valid:
                    continue
                last_valid = m.valid
                ctx.emit(stamp(m, ctx))


DRIVER = DriverDescriptor(
    name="contec-cms50",
    transport="serial",
    kinds=(Kind.SPO2,),
    summary="Contec CMS50D+ finger oximeter, live 5-byte serial output (SpO2, pulse rate)",
    settings=SerialLinkSettings,
    make_protocol=Cms50Protocol,
    # One noisy byte drops its packet, the one before it (held until the next start) and
    # the lock. The new lock-in takes LOCK_PACKETS with the same numbers: when the numbers
    # change (once a second) at its last one, it starts again there, LOCK_PACKETS - 1
    # more; then the packet that releases the last of them. 11/60 s, not the 7/60 of a
    # lock-in without a change (tests/serial/test_one_lost_frame.py).
    serial=SerialDefaults(
        baudrate=19200,
        parity="O",
        period_s=1 / 60,
        silence_s=3.0,
        resync_s=(2 * LOCK_PACKETS + 1) / PACKETS_PER_S,
    ),
    simulator="monitord.simulators.contec_cms50:Cms50Sim",
)
PROFILE = DecodeProfile(
    name="contec-cms50",
    input="hex",
    summary="hex of one or more 5-byte CMS50 live packets",
    decode=decode_hex_packets,
)
