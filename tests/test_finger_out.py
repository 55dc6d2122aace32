"""A finger out of each oximeter, its sensor still plugged in: what the device sends (per
the best public source found for it), what the driver makes of it, and that the alert
engine fed those measurements raises `tech.sensor_off` 15 s after the first
(clinical-rules.md: "SpO2 probe off for 15 s"; a sample with `contact: false` is probe
off). docs/devices.md, "A finger out", says which fact comes from which source.

Before, a Nonin whose finger came out (status bit SNSA, "set when the finger is removed")
decoded as not valid with contact true: the HR/SpO2 rules skip such samples and
`tech.sensor_off` never ran, so SpO2 monitoring ended without any alarm.

Not here: the IntelliVue. Its SpO2 numeric only turns invalid/unavailable, which does
not say why (the monitor names the cause in an INOP, its alert list, which the driver
does not poll); docs/devices.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitord.drivers import contec_cms50 as C
from monitord.drivers import masimo_ascii as M
from monitord.drivers import nonin2 as N
from monitord.drivers.base import Measurement, Reject, stamp
from monitord.drivers.ble_plx import cont_sample
from monitord.drivers.registry import DRIVERS
from monitord.engine import AlertEngine, sample_from_reading
from monitord.models import Kind

T0 = 1_767_225_600.0
OXFORD = "Oxford IBME NoninFrame: SNSA 'set when the finger is removed'"
PUFFERFISH = "pez-globo/pufferfish-software PacketReceiver: SNSD 'sensor is not connected'"
RAD8 = (
    "02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% "
    "SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800"
)
OFF_LINE = RAD8.replace("SPO2=098%", "SPO2=---%").replace("BPM=097", "BPM=---")
RAD8_OFF = (
    "05/20/21 14:06:02 SN=0000182948 SPO2=098% BPM=101 PI=--.--% SPCO=--.-% "
    "SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0010 EXC=000824"
)


def nonin(status: int, hr: int | None = None, spo2: int | None = None) -> Measurement:
    frames = [f for f in N.FrameReader().feed(N.packet_frames(hr, spo2, status=status))]
    assert all(isinstance(f, N.Frame) for f in frames)
    return N.decode_packet([f for f in frames if isinstance(f, N.Frame)])


def masimo(line: str) -> Measurement:
    m = M.decode(line.encode("ascii"))
    assert not isinstance(m, Reject), m
    return m


def cms50(hex_packet: str) -> Measurement:
    m = C.decode_packet(C.Packet(bytes.fromhex(hex_packet)))
    assert not isinstance(m, Reject), m
    return m


def plx(hex_value: str) -> Measurement:
    m = cont_sample(bytes.fromhex(hex_value), frozenset())
    assert not isinstance(m, Reject), m
    return m


@dataclass(frozen=True)
class Row:
    what: str
    source: str
    decode: Callable[[], Measurement]
    contact: bool | None
    valid: bool
    flag: str | None = None  # a status flag the reading must carry
    dropped: bool = False  # the device prints numbers the reading must not carry


# contact False: probe off (tech.sensor_off runs). The other rows are states the sources
# call searching / out of track: not valid, but not probe off (no source says finger out).
ROWS = [
    Row("nonin-2: finger out, SNSA in every frame, 511/127", OXFORD,
        lambda: nonin(N.ST_SNSA), False, False, "probe_off"),
    Row("nonin-2: SNSA while the packet still carries numbers", OXFORD,
        lambda: nonin(N.ST_SNSA, 72, 97), False, False, "sensor_alarm"),
    Row("nonin-2: sensor unplugged, SNSD", PUFFERFISH,
        lambda: nonin(N.ST_SNSD), False, False, "probe_off"),
    Row("nonin-2: out of track, OOT (not said to be a finger out)", PUFFERFISH,
        lambda: nonin(N.ST_OOT, 72, 97), True, False, "out_of_track"),
    Row("masimo-ascii: sensor off patient, EXC 0x020",
        "Rad-8 manual trend sample via masimo-datacapture; MD PnP Radical-7 example line",
        lambda: masimo(OFF_LINE.replace("EXC=000800", "EXC=000820")), False, False,
        "sensor_off"),
    # the one public Rad-8 sensor-off line: the numbers still printed, no value for all that
    Row("masimo-ascii: Rad-8 sensor off, numbers printed, EXC 0x824",
        "Rad-8 capture (RAD8_OFF in tests/serial/test_masimo_captures.py)",
        lambda: masimo(RAD8_OFF), False, False, "sensor_off", dropped=True),
    Row("masimo-ascii: no sensor, EXC 0x001", "Rad-8 manual EXC table (k-cross/pulse_ox)",
        lambda: masimo(OFF_LINE.replace("EXC=000800", "EXC=000801")), False, False,
        "no_sensor"),
    Row("masimo-ascii: pulse search, EXC 0x008", "Rad-8 manual EXC table",
        lambda: masimo(OFF_LINE.replace("EXC=000800", "EXC=000808")), True, False,
        "pulse_search"),
    Row("contec-cms50: finger out, byte 1 bit 0x10", "atbrask/CMS50Dplus LiveDataPoint",
        lambda: cms50("9000000000"), False, False, "probe_off"),
    # the same bit read as "searching too long" with the last numbers still in the packet:
    # probe off all the same, the safe reading of two sources that disagree (the driver)
    Row("contec-cms50: byte 1 bit 0x10 with numbers", "Yujia-Yan/CMS50SerialProtocolKit",
        lambda: cms50("9840004861"), False, False, "probe_off"),
    Row("contec-cms50: probe error, byte 3 bit 0x10", "atbrask/CMS50Dplus LiveDataPoint",
        lambda: cms50("8800104861"), False, False, "probe_error"),
    Row("contec-cms50: searching, byte 3 bit 0x20", "atbrask/CMS50Dplus LiveDataPoint",
        lambda: cms50("8840284861"), True, False, "pulse_search"),
    # flags 0x08 (device and sensor status), SpO2 and PR NaN, status bit 11
    Row("ble-plx: sensor unconnected to user (bit 11)", "GATT Specification Supplement 0x2A5F",
        lambda: plx("08ff07ff07000800"), False, False, "sensor_unconnected"),
    Row("ble-plx: sensor displaced (bit 13)", "GATT Specification Supplement 0x2A5F",
        lambda: plx("08ff07ff07002000"), False, False, "sensor_displaced"),
]  # fmt: skip
OFF_ROWS = [r for r in ROWS if r.contact is False]
DEVICES_MD = Path(__file__).resolve().parents[1] / "docs" / "devices.md"
# Its SpO2 numeric says no cause (above): a row in docs/devices.md, none here.
NO_ROWS_HERE = {"intellivue"}


def test_every_oximeter_driver_has_its_finger_out_rows() -> None:
    # docs/adding-a-device.md sends a new oximeter's author here; a driver whose finger
    # out is only `valid: false` (contact left None) raises no tech.sensor_off: SpO2
    # monitoring stops without an alarm. So a driver of SpO2 without its rows fails here.
    section = DEVICES_MD.read_text().split("\n## A finger out", 1)[1].split("\n## ", 1)[0]
    in_doc = set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, re.M))
    here = {r.what.split(":")[0] for r in ROWS} | NO_ROWS_HERE
    oximeters = {name for name, d in DRIVERS.items() if Kind.SPO2 in d.kinds}
    assert oximeters - in_doc == set(), "no row in docs/devices.md, 'A finger out'"
    assert oximeters - here == set(), "no row in ROWS (tests/test_finger_out.py)"


@pytest.mark.parametrize("row", ROWS, ids=[r.what for r in ROWS])
def test_what_the_driver_makes_of_it(row: Row) -> None:
    m = row.decode()
    assert (m.contact, m.valid) == (row.contact, row.valid), (row.source, m)
    assert row.flag is None or row.flag in m.flags, (row.source, m.flags)
    if row.contact is False:
        assert "probe_off" in m.flags, (row.source, m.flags)
    if row.dropped:
        # numbers the device still prints with the finger out are not the patient's
        assert all(v is None for v in m.values.values()), (row.source, m.values)


@dataclass
class _Chair:
    """Where and when a measurement was received (`stamp`'s receiver)."""

    t: float
    chair: str = "chair-1"
    device: str = "ox"

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


@pytest.mark.parametrize("row", OFF_ROWS, ids=[r.what for r in OFF_ROWS])
def test_the_engine_raises_sensor_off_after_15_s(row: Row) -> None:
    """A reading a second, as the drivers emit them, all with the finger out: the alert
    is raised at the first sample + 15 s, not before."""
    engine = AlertEngine()
    events = []
    m = row.decode()
    for s in range(17):
        events += engine.feed(sample_from_reading(stamp(m, _Chair(T0 + s))))
        if s < 15:
            assert not [e for e in events if e.rule == "tech.sensor_off"], (s, row.source)
    raised = [(e.t - T0, e.event) for e in events if e.rule == "tech.sensor_off"]
    assert raised == [(15.0, "raised")], (row.source, raised)
