"""Nonin pulse oximeter serial "Data Format #2" (OEM modules, 9600 8N1).

Wire layout: 75 frames per second, 5 bytes each; 25 frames make a packet (1/3 s).

    byte  1      2        3       4            5
        +------+--------+-------+------------+----------------------------+
        | 0x01 | STATUS | PLETH | packet data| CHK = (b1+b2+b3+b4) & 0xFF |
        +------+--------+-------+------------+----------------------------+

    STATUS: bit7 always 1 | bit6 SNSD sensor disconnected | bit5 ARTF artifact |
            bit4 OOT out of track | bit3 SNSA sensor alarm | bit2 RPRF red perfusion |
            bit1 GPRF green perfusion | bit0 SYNC (set on frame 1 of a packet)

    Byte 4 by frame number in the packet (1-based), 7 data bits each:
      1 HR MSB (HR bits 8-7)   2 HR LSB (HR bits 6-0)   3 SpO2 (0-100)
      4 SREV (firmware rev)    other frames: extended/averaged values, not used here.
    HR 511 and SpO2 127 mean "no value". Any other HR outside the decoders' sanity range
    (`ble_gatt.PULSE_RANGE_bpm`, 1-300; 0 is no pulse) is nulled and flagged
    `pulse_implausible`, as in the BLE decoders: 9 bits can carry up to 510, and a
    checksum-valid frame with a 450 is not a pulse to pass on.

Source: Nonin OEM III module / Xpod / WristOx "Specifications and Technical Information",
section "Data Format #2" (public OEM documents: the frame layout, checksum and the 511/127
missing markers; docs/devices.md, "Supported and tested models"). The perfusion bits are
reported as status flags (both set in a frame: `yellow_perfusion`); the packet layout beyond frames
1-4 is not used (not confirmed here).

Status is judged over the whole packet: the STATUS bytes of all 25 frames are ORed, so a
sensor disconnect in frame 7 counts (pez-globo pufferfish-software and mdpnp OpenICE do the
same). SNSD, OOT and SNSA mean loss of signal: `valid: false`. SNSD and SNSA are also probe
off (`contact: false`, flag `probe_off`, so `tech.sensor_off` runs): SNSD is the sensor
unplugged or inoperable ("Sensor is not connected to oximeter or sensor is inoperable",
pufferfish's `PacketReceiver`), SNSA the finger out of a sensor still plugged in: "device
is providing unusable data for analysis; set when the finger is removed" (Oxford IBME's
format #2 reader, `NoninFrame` by O. Gibson and D. Salvi); the same words for SNSA in
Nonin's format #8 (its STATUS2 byte) in two other readers (`NoninData`, S. Hors Fraile
2010; `PulseOxReading`, J. Daly and G. Clifford, University of Oxford 2012). Not
confirmed by a capture. Before, only SNSD cleared contact: a finger pulled out gave
invalid readings with contact true, and no alarm ran at all. OOT ("an absence of
consecutive good pulse signals") is not taken for probe off: the text the readers quote
does not say finger out (only pufferfish's screen label calls it "sensor not detecting
finger"; an open question, docs/devices.md). ARTF alone does not invalidate: it marks one
beat that did not match the pulse interval, frequent with arrhythmia and motion, and
readings would flap with every ectopic beat; it is kept as the flag `artifact`.

The framer syncs on `0x01, status with bit7 set, data with bit7 clear, valid checksum` and
resyncs byte by byte after garbage (the decode profile refuses such a frame as well, naming
the byte). Byte 4 as 7-bit is from independent readers, not Nonin's document (its text was
not found) nor a capture: a format #2 reader (`NoninFrame.java`, package
`com.iiitd.sensor.pulseox`, University of Washington 2013, Apache-2.0) refuses a frame
whose byte 4 has bit 7 set, and Oxford IBME's reader (`uk.ac.ox.ibme.nonin.NoninPacket`)
draws the HR MSB byte `0 R R R R R HR8 HR7`; the values read from it fit in 7 bits (HR as
2 + 7 bits, SpO2 0-100; pez-globo pufferfish-software masks those bytes with 0x7F), while
pufferfish (0x01, status bit 7, checksum) and OpenICE (format #7: status bit, checksum) do
not check it. If a real device sets it in any frame, that packet is lost as framing noise:
decode a capture with the profile, which names the byte.
Readings: one a second from three packets (`PacketWindow`), and what it says is what any of
the three said, as a packet says what any of its frames said: probe off if any packet was,
artifact or red perfusion if any packet had it. Oxford IBME's `NoninPacket` likewise keeps
"any frame with" artifact, out of track and sensor alarm over a packet
(`hasAnySensorAlarm`: "unusable data for analysis. This happens when the finger is
removed"), and Nonin's values in frames 1-3 "immediately change to an error value if
finger is removed", so a finger out shows in every packet the module sends; whether a
module ever puts an OOT-only packet inside a finger out is not known (no capture), but
the driver's own choice of one packet in three must not be what reads the finger back in.
A packet is decoded when its 25 frames (SYNC first) arrived in order without a gap. A
packet cut short (a SYNC before frame 25, or bytes lost in between) is dropped and
counted, never decoded from the frames that happened to arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
from monitord.drivers.ble_gatt import pulse_in_range
from monitord.drivers.serial_link import SerialLinkSettings
from monitord.models import Kind

FRAME_LEN = 5
FRAMES_PER_PACKET = 25
START = 0x01
ST_ALWAYS = 0x80
ST_SNSD = 0x40
ST_ARTF = 0x20
ST_OOT = 0x10
ST_SNSA = 0x08
ST_RPRF = 0x04
ST_GPRF = 0x02
ST_SYNC = 0x01
HR_MISSING = 511
SPO2_MISSING = 127
_STATUS_NAMES = (
    (ST_SNSD, "probe_off"),
    (ST_ARTF, "artifact"),
    (ST_OOT, "out_of_track"),
    (ST_SNSA, "sensor_alarm"),
)
# Perfusion, per frame: RPRF alone red (low), GPRF alone green (high), both yellow
# (marginal; Nonin's Data Format #2, docs/devices.md). Judged frame by frame, not on the
# packet's OR: red in one frame and green in another is not yellow.
_PERFUSION = ((ST_RPRF, "red_perfusion"), (ST_RPRF | ST_GPRF, "yellow_perfusion"),
              (ST_GPRF, "green_perfusion"))  # fmt: skip
# Loss of signal: the numbers are not a measurement (sensor off, out of track, sensor
# alarm). ARTF is not here: see the module docstring.
_NOT_VALID = ST_SNSD | ST_OOT | ST_SNSA
# No sensor reading the patient: unplugged (SNSD) or the finger out (SNSA; docstring).
_PROBE_OFF = ST_SNSD | ST_SNSA


@dataclass(frozen=True, slots=True)
class Frame:
    status: int
    pleth: int
    data: int

    @property
    def sync(self) -> bool:
        return bool(self.status & ST_SYNC)


def checksum(b: bytes | bytearray) -> int:
    return sum(b[:4]) & 0xFF


def make_frame(status: int, pleth: int, data: int) -> bytes:
    head = bytes((START, (status | ST_ALWAYS) & 0xFF, pleth & 0xFF, data & 0x7F))
    return head + bytes((checksum(head),))


def decode_frame(b: bytes) -> Frame | Reject:
    """One 5-byte frame -> Frame or typed reject (pure)."""
    if len(b) != FRAME_LEN:
        return Reject(RejectReason.BAD_LENGTH, f"{len(b)} bytes, a frame has 5")
    if b[0] != START or not b[1] & ST_ALWAYS:
        return Reject(RejectReason.BAD_FORMAT, "no 0x01 start byte / status bit 7")
    if b[3] & 0x80:
        # as the live framer (`FrameReader`) takes it: never a frame there, so not here
        return Reject(RejectReason.BAD_FORMAT, "byte 4 (data) has bit 7 set: data is 7-bit")
    if checksum(b) != b[4]:
        return Reject(RejectReason.BAD_CHECKSUM, f"checksum {b[4]:02x}, expected {checksum(b):02x}")
    return Frame(b[1], b[2], b[3])


def packet_frames(hr: int | None, spo2: int | None, status: int = 0, pleth: int = 0) -> bytes:
    """One 25-frame packet (what the simulator sends three times a second)."""
    h = HR_MISSING if hr is None else hr
    s = SPO2_MISSING if spo2 is None else spo2
    data = [(h >> 7) & 0x03, h & 0x7F, s & 0x7F, 0x20] + [0] * (FRAMES_PER_PACKET - 4)
    return b"".join(
        make_frame(status | (ST_SYNC if i == 0 else 0), pleth, d) for i, d in enumerate(data)
    )


def status_names(status: int) -> list[str]:
    """The loss-of-signal and artifact bits of a status byte (or a packet's OR) by name;
    a finger out (SNSA) is also `probe_off`, as SNSD names itself (module docstring)."""
    names = [name for bit, name in _STATUS_NAMES if status & bit]
    if status & ST_SNSA and not status & ST_SNSD:
        names.append("probe_off")
    return names


def decode_packet(frames: list[Frame]) -> Measurement:
    """One whole packet (25 frames, SYNC first) -> a measurement (the format has no
    clock: no device time)."""
    hr = ((frames[0].data & 0x03) << 7) | (frames[1].data & 0x7F)
    spo2 = frames[2].data & 0x7F
    status = 0
    for f in frames:
        status |= f.status
    flags = status_names(status)
    seen = {f.status & (ST_RPRF | ST_GPRF) for f in frames}
    flags += [name for bits, name in _PERFUSION if bits in seen]
    spo2_v = None if spo2 == SPO2_MISSING else spo2
    hr_v = None if hr == HR_MISSING else pulse_in_range(hr, flags)
    if spo2_v is not None and spo2_v > 100:
        flags.append("implausible_spo2")
        spo2_v = None
    return Measurement(
        kind=Kind.SPO2,
        values={"spo2_pct": spo2_v, "pulse_bpm": hr_v},
        valid=spo2_v is not None and not status & _NOT_VALID,
        flags=tuple(flags),
        contact=not status & _PROBE_OFF,
    )


class FrameReader:
    """Incremental framer: bytes in any chunking -> Frames or rejects (pure, bounded).

    Bytes that cannot start a valid frame are skipped one at a time; each run of skipped
    bytes is counted once as NOISE (a bad checksum inside a frame-shaped run is counted as
    BAD_CHECKSUM instead).

    One reader per connection. The oximeter streams 75 frames a second without a pause to
    sync on, so the port often opens mid-frame: the 1 to 4 bytes before the first frame
    are then the rest of the frame the open cut. That run is still NOISE, but `expected`
    (drivers/reject.py: at DEBUG, not a WARNING at every connect of a sound oximeter).
    None of a cut frame's bytes can start a frame (its pleth and data bytes are followed
    by a 7-bit byte, its checksum by 0x01, the status byte has bit 7 set), so a longer
    run, or one after the first frame, is noise on the line and is warned of."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skipped = 0
        self._bad_sum = False
        self._framed = False  # a whole frame was read on this connection

    def _flush(self, out: list[Frame | Reject]) -> None:
        if self._skipped:
            if self._bad_sum:
                out.append(Reject(RejectReason.BAD_CHECKSUM, "frame checksum mismatch"))
            elif not self._framed and self._skipped < FRAME_LEN:
                out.append(
                    Reject(
                        RejectReason.NOISE,
                        f"{self._skipped} bytes before the first frame (the port opened mid-frame)",
                        expected=True,
                    )
                )
            else:
                out.append(Reject(RejectReason.NOISE, f"{self._skipped} bytes out of sync"))
        self._skipped = 0
        self._bad_sum = False

    def feed(self, data: bytes) -> list[Frame | Reject]:
        out: list[Frame | Reject] = []
        self._buf += data
        i = 0
        buf = self._buf
        while len(buf) - i >= FRAME_LEN:
            if buf[i] == START and buf[i + 1] & ST_ALWAYS and not buf[i + 3] & 0x80:
                if checksum(buf[i : i + 4]) == buf[i + 4]:
                    self._flush(out)
                    self._framed = True
                    out.append(Frame(buf[i + 1], buf[i + 2], buf[i + 3]))
                    i += FRAME_LEN
                    continue
                self._bad_sum = True
            self._skipped += 1
            i += 1
        del buf[:i]
        if self._skipped >= 4096:
            self._flush(out)
        return out


class PacketAssembler:
    """Frames -> packet records: a SYNC frame and the 24 frames after it."""

    def __init__(self) -> None:
        self._frames: list[Frame] = []

    def add(self, f: Frame) -> Measurement | Reject | None:
        if f.sync:
            cut = len(self._frames)
            self._frames = [f]
            if cut:  # frames went missing without a framing error (a short packet)
                return Reject(
                    RejectReason.BAD_LENGTH,
                    f"packet of {cut} frames, a packet has {FRAMES_PER_PACKET}",
                )
            return None
        if not self._frames:
            return None  # mid-packet after (re)sync: wait for the next SYNC
        self._frames.append(f)
        if len(self._frames) == FRAMES_PER_PACKET:
            rec = decode_packet(self._frames)
            self._frames = []
            return rec
        return None

    def reset(self) -> None:
        """Bytes were lost (a framing reject): the packet in progress is incomplete."""
        self._frames = []


def decode_hex_frames(data: bytes) -> list[dict[str, Any]] | Reject:
    """`monitord decode --profile nonin-2`: one or more whole 5-byte frames. Each whole
    packet (25 frames from a SYNC) gives a record; frames outside a whole packet are shown
    one by one, never made into a reading."""
    if not data or len(data) % FRAME_LEN:
        return Reject(RejectReason.BAD_LENGTH, f"{len(data)} bytes is not a multiple of 5")
    frames: list[Frame] = []
    for k in range(0, len(data), FRAME_LEN):
        f = decode_frame(data[k : k + FRAME_LEN])
        if isinstance(f, Reject):
            return Reject(f.reason, f"frame {k // FRAME_LEN + 1}: {f.detail}")
        frames.append(f)
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(frames):
        whole = frames[i].sync and len(frames) - i >= FRAMES_PER_PACKET
        if whole and not any(f.sync for f in frames[i + 1 : i + FRAMES_PER_PACKET]):
            out.append(decode_packet(frames[i : i + FRAMES_PER_PACKET]).to_record())
            i += FRAMES_PER_PACKET
            continue
        f = frames[i]
        out.append(
            {
                "frame": i + 1,
                "sync": f.sync,
                "pleth": f.pleth,
                "data": f.data,
                # the frame's perfusion too: a beat's frames carry it (simulators/nonin.py)
                # SNSA named probe_off as in a packet: before, a frame showed SNSD
                # as probe_off and SNSA as a sensor alarm alone, as if not probe off
                "status": status_names(f.status)
                + [name for bits, name in _PERFUSION if f.status & (ST_RPRF | ST_GPRF) == bits],
            }
        )
        i += 1
    return out


EMIT_EVERY_PACKETS = 3  # one reading per second of device data (3 packets a second)
# The names a packet's STATUS bits give (`status_names`, `_PERFUSION`): a reading carries
# them from every packet it stands for. The value flags (`pulse_implausible` ...) stay the
# last packet's, whose values the reading carries.
_STATUS_FLAGS = frozenset(
    [name for _, name in _STATUS_NAMES] + [name for _, name in _PERFUSION] + ["probe_off"]
)


class PacketWindow:
    """Packets -> readings: one per `EMIT_EVERY_PACKETS` packets (1 s of *device* data,
    the 1 Hz cadence of the other oximeter drivers), or at once when validity changes.

    A reading stands for every packet since the last one, as a packet stands for its 25
    frames: the values are the last packet's, the status is what any of them said (probe
    off, not valid, artifact, perfusion), so a finger out is never read back in by the
    driver's choice of packet. Before, the reading was the packet the count fell on: a
    module that puts an OOT-only packet between the SNSA packets of a finger out (not
    seen in a capture; nothing in the format forbids it) read contact back whenever the
    OOT packet was the one kept, and that reading ended the 15-s `tech.sensor_off` timer,
    each second anew; an ARTF or red perfusion in the two packets not kept was lost. The
    count restarts at each reading, so a window is always whole seconds of packets or
    ends at a validity change (a lone OOT packet cannot become a window of its own)."""

    def __init__(self, every: int = EMIT_EVERY_PACKETS) -> None:
        self._every = every
        self._held: list[Measurement] = []
        self._last_valid: bool | None = None

    def add(self, m: Measurement) -> Measurement | None:
        self._held.append(m)
        held = self._held
        merged = replace(
            m,
            valid=all(p.valid for p in held),
            contact=all(p.contact is not False for p in held),
            flags=tuple(
                dict.fromkeys([f for p in held[:-1] for f in p.flags if f in _STATUS_FLAGS])
                | dict.fromkeys(m.flags)
            ),
        )
        if len(held) < self._every and merged.valid == self._last_valid:
            return None
        self._held = []
        self._last_valid = merged.valid
        return merged


class NoninProtocol:
    """Listen-only: packets as `PacketWindow` makes readings of them."""

    def __init__(self, settings: DeviceOptions | None = None) -> None:
        self._every = EMIT_EVERY_PACKETS  # no options of its own: the link's settings

    async def run(self, link: ByteLink, ctx: DeviceContext) -> None:
        framer = FrameReader()
        asm = PacketAssembler()
        window = PacketWindow(self._every)
        while True:
            for item in framer.feed(await link.read()):
                if isinstance(item, Reject):
                    asm.reset()
                    ctx.reject(item)
                    continue
                m = asm.add(item)
                if m is None:
                    continue
                if isinstance(m, Reject):
                    ctx.reject(m)
                    continue
                link.heard()
                reading = window.add(m)
                if reading is not None:
                    ctx.emit(stamp(reading, ctx))


DRIVER = DriverDescriptor(
    name="nonin-2",
    transport="serial",
    kinds=(Kind.SPO2,),
    summary="Nonin OEM pulse oximeter, serial data format #2 (SpO2, pulse rate)",
    settings=SerialLinkSettings,
    make_protocol=NoninProtocol,
    # A packet every 1/3 s; a frame lost to noise loses its packet, so 2/3 s between two
    # readings then (SerialDefaults.one_lost_s): a silence_s must be longer.
    serial=SerialDefaults(baudrate=9600, period_s=1 / 3, silence_s=2.0),
    simulator="monitord.simulators.nonin:NoninSim",
)
PROFILE = DecodeProfile(
    name="nonin-2",
    input="hex",
    summary="hex of one or more 5-byte format #2 frames",
    decode=decode_hex_frames,
)
