"""Masimo ASCII 1 against real public captures (each row cites its source), the EXC and
ALARM bit fields, NUL padding, ASCII 2 mode, bounded field lengths and duplicate keys.

Where no public capture exists the row says so and names what it was built from.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitord.cli import main as cli_main
from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.drivers.base import Reject, RejectReason
from monitord.drivers.masimo_ascii import LineFramer, decode_line
from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent
from monitord.simulators.masimo import line as sim_line
from monitord.simulators.serial_sims import make_sim_device
from tests.kit import eventually

# github.com/yahnatan/pulseox README.md: `cat /dev/ttyUSB0` of a Rad-8 on a child.
YAHNATAN = "github.com/yahnatan/pulseox README.md (Rad-8, cat /dev/ttyUSB0)"
# github.com/k-cross/pulse_ox pulse_ox_platform/lib/devices/masimo.ex, "Serial Output
# Example" of the RAD8 module doc.
KCROSS = "github.com/k-cross/pulse_ox pulse_ox_platform/lib/devices/masimo.ex"
# github.com/remkolems/masimo-datacapture masimo-capture.py (the Rad-8 and Radical-7
# lines quoted above its parsers) and its README "Serial output of Masimo Rad-8".
DATACAPTURE = "github.com/remkolems/masimo-datacapture masimo-capture.py"
# github.com/hansmuc/NellcorN560Seriell src/server/AsixReader.java at commit
# af71b37a0accd512064843bc5470197fbae60c16: six consecutive lines of a Rad-8 (serial
# 0000145838, read through an RS232-to-WiFi adapter) quoted in the comment above
# `isMAssimo`; that reader takes SPO2 and BPM from them (97/80, 97/81 ...).
HANSMUC = "github.com/hansmuc/NellcorN560Seriell src/server/AsixReader.java @af71b37a"
# github.com/UrielCandelasMeza/OpenICE_RaspberryPi_Implementation scripts/datos_massimo3.txt
# at commit 83871892188fa7db77e94eacf16a43ff4d39477f: 28 minutes of a Masimo Root (serial
# 2000134890) with a SedLine EEG module, logged as read (each after a "--- Nuevo Mensaje
# ---" marker of the logger), 352 bytes each: every one was over the former 256-byte
# bound, an `oversize` reject. The oximeter's own fields come first, module fields (lower
# case keys) after its EXC=, EXC1=, EXC2=, ACSEXC=. EXC bit 0x1000000 is in no public
# table: kept by number. The last line: the sensor taken off, the Root's alarm sounding.
# A public Rad-8 reader (Python, serial to websocket, logging to RAD8.log; the search
# index holds the file, id 27531834270, without naming its repository): the line it was
# written against, from a Rad-8 (serial 0000182948), in a comment above its readline. The
# sensor off (0x020) beside low perfusion (0x004) and the SET bit, the monitor's alarm
# sounding (0x10), PI dashed, and SPO2 and BPM still printed: no value, as the driver reads
# any probe off (the numbers of a sensor that is off are not the patient's now).
RAD8_OFF = "Rad-8 reader, search-index file 27531834270 (serial 0000182948)"
ROOT = "github.com/UrielCandelasMeza/OpenICE_RaspberryPi_Implementation datos_massimo3.txt"

OK: dict[str, Any] = {"status": [], "contact": True, "valid": True}

CAPTURES: list[tuple[str, str, dict[str, Any]]] = [
    (
        YAHNATAN,
        "02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% "
        "SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800",
        {"spo2_pct": 98, "pulse_bpm": 97, "measured_at": "2016-02-22T22:47:45+00:00", **OK},
    ),
    (
        YAHNATAN,
        "02/22/16 22:47:46 SN=0000056661 SPO2=098% BPM=096 PI=03.95% SPCO=--.-% "
        "SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800",
        {"spo2_pct": 98, "pulse_bpm": 96, "measured_at": "2016-02-22T22:47:46+00:00", **OK},
    ),
    (
        YAHNATAN,
        "02/22/16 22:47:49 SN=0000056661 SPO2=098% BPM=097 PI=02.41% SPCO=--.-% "
        "SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800",
        {"spo2_pct": 98, "pulse_bpm": 97, "measured_at": "2016-02-22T22:47:49+00:00", **OK},
    ),
    (
        # ALARM=0038: BPM low (0x08) + alarm sounding (0x10) + silenced (0x20), in SET mode
        KCROSS,
        "03/06/05 21:11:30 SN=0000066575 SPO2=098% BPM=057 PI=07.02% SPCO=--.-% "
        "SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0038 EXC=000800",
        {
            "spo2_pct": 98,
            "pulse_bpm": 57,
            "measured_at": "2005-03-06T21:11:30+00:00",
            "status": [
                "device_alarm",
                "device_alarm_bpm_low",
                "device_alarm_sounding",
                "device_alarm_silenced",
            ],
            "contact": True,
            "valid": True,
        },
    ),
    (
        # a Rad-8 without a sensor connected: EXC=000001
        DATACAPTURE,
        "03/19/16 13:37:12 SN=0000093112 SPO2=---% BPM=--- DESAT=-- PIDELTA=+-- "
        "ALARM=0000 EXC=000001",
        {
            "spo2_pct": None,
            "pulse_bpm": None,
            "measured_at": "2016-03-19T13:37:12+00:00",
            "status": ["no_sensor", "probe_off"],
            "contact": False,
            "valid": False,
        },
    ),
    (
        # Radical-7 ("color") line: EXC=0000C00 = SET mode + low signal IQ (a quality flag)
        DATACAPTURE,
        "03/17/16 19:19:36 SN=---------- SPO2=098% BPM=123 PI=00.55 SPCO=--% SPMET=--.-% "
        "SPHB=--.- SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 "
        "EXC=0000C00 EXC1=00000000",
        {
            "spo2_pct": 98,
            "pulse_bpm": 123,
            "measured_at": "2016-03-17T19:19:36+00:00",
            "status": ["low_signal_iq"],
            "contact": True,
            "valid": True,
        },
    ),
    (
        HANSMUC,
        "02/24/18 04:48:53 SN=0000145838 SPO2=097% BPM=080 PI=04.96% SPCO=--.-% "
        "SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800",
        {"spo2_pct": 97, "pulse_bpm": 80, "measured_at": "2018-02-24T04:48:53+00:00", **OK},
    ),
    (
        HANSMUC,
        "02/24/18 04:48:54 SN=0000145838 SPO2=097% BPM=081 PI=05.04% SPCO=--.-% "
        "SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800",
        {"spo2_pct": 97, "pulse_bpm": 81, "measured_at": "2018-02-24T04:48:54+00:00", **OK},
    ),
    (
        HANSMUC,
        "02/24/18 04:48:58 SN=0000145838 SPO2=097% BPM=080 PI=05.31% SPCO=--.-% "
        "SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800",
        {"spo2_pct": 97, "pulse_bpm": 80, "measured_at": "2018-02-24T04:48:58+00:00", **OK},
    ),
    (
        RAD8_OFF,
        "05/20/21 14:06:02 SN=0000182948 SPO2=098% BPM=101 PI=--.--% SPCO=--.-% "
        "SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0010 EXC=000824",
        {
            "spo2_pct": None,
            "pulse_bpm": None,
            "measured_at": "2021-05-20T14:06:02+00:00",
            "status": [
                "device_alarm",
                "device_alarm_sounding",
                "low_perfusion",
                "sensor_off",
                "probe_off",
            ],
            "contact": False,
            "valid": False,
        },
    ),
    (
        ROOT,
        "08/19/26 14:02:37 SN=2000134890  CHAN=0005 sysALARM=00000000 SPO2=093% BPM=092 "
        "PI=003.50 SPHB=014.4 SPOC=018.0 DESAT=000 PIDELTA=+-- PVI=030 ALARM=000000 "
        "ALARM1=00000000 ACSALARM=0000 EXC=1000800 EXC1=00000020 EXC2=00000000 "
        "ACSEXC=00000000 eegPSI=094 eegEMG=047% eegSR=000% eegSEFL=024.4Hz eegSEFR=---.-Hz "
        "eegARTF=000% eegALARM=00000002 eegEXC=00000000",
        {
            "spo2_pct": 93,
            "pulse_bpm": 92,
            "measured_at": "2026-08-19T14:02:37+00:00",
            **OK,
            "status": ["exc_bit24"],
        },
    ),
    (
        ROOT,
        "08/19/26 14:17:31 SN=2000134890  CHAN=0005 sysALARM=00000000 SPO2=094% BPM=114 "
        "PI=001.90 SPHB=014.8 SPOC=019.0 DESAT=001 PIDELTA=+-- PVI=019 ALARM=000000 "
        "ALARM1=00000000 ACSALARM=0000 EXC=1000800 EXC1=00000020 EXC2=00000000 "
        "ACSEXC=00000000 eegPSI=094 eegEMG=034% eegSR=000% eegSEFL=---.-Hz eegSEFR=---.-Hz "
        "eegARTF=001% eegALARM=00000002 eegEXC=00000000",
        {
            "spo2_pct": 94,
            "pulse_bpm": 114,
            "measured_at": "2026-08-19T14:17:31+00:00",
            **OK,
            "status": ["exc_bit24"],
        },
    ),
    (
        ROOT,
        "08/19/26 14:30:37 SN=2000134890  CHAN=0005 sysALARM=00000001 SPO2=---% BPM=--- "
        "PI=---.-- SPHB=---.- SPOC=---.- DESAT=--- PIDELTA=+-- PVI=--- ALARM=000010 "
        "ALARM1=00000000 ACSALARM=0000 EXC=0000820 EXC1=00000000 EXC2=00000000 "
        "ACSEXC=00000000 eegPSI=--- eegEMG=---% eegSR=---% eegSEFL=---.-Hz eegSEFR=---.-Hz "
        "eegARTF=---% eegALARM=00000001 eegEXC=00000A00",
        {
            "spo2_pct": None,
            "pulse_bpm": None,
            "measured_at": "2026-08-19T14:30:37+00:00",
            "status": ["device_alarm", "device_alarm_sounding", "sensor_off", "probe_off"],
            "contact": False,
            "valid": False,
        },
    ),
]

# No public capture with these bits was found: the first Rad-8 line above with EXC (and
# ALARM) changed per the Rad-8 manual's table (protocols.md). Values as the monitor would
# still print them are nulled: a sensor that is off gives no number.
BASE = CAPTURES[0][1]
BUILT: list[tuple[str, str, dict[str, Any]]] = [
    (
        "sensor off (0x020), spec only",
        BASE.replace("EXC=000800", "EXC=000820"),
        {"status": ["sensor_off", "probe_off"], "contact": False, "valid": False},
    ),
    (
        "sensor off (0x020) alone, spec only",
        BASE.replace("EXC=000800", "EXC=000020").replace("098%", "---%").replace("097", "---"),
        {"status": ["sensor_off", "probe_off"], "contact": False, "valid": False},
    ),
    (
        "defective sensor (0x002), spec only",
        BASE.replace("EXC=000800", "EXC=000002"),
        {"status": ["defective_sensor", "probe_off"], "contact": False, "valid": False},
    ),
    (
        "unrecognized sensor (0x080), spec only",
        BASE.replace("EXC=000800", "EXC=000080"),
        {"status": ["unrecognized_sensor", "probe_off"], "contact": False, "valid": False},
    ),
    (
        "pulse search (0x008), spec only",
        BASE.replace("EXC=000800", "EXC=000808"),
        {"status": ["pulse_search"], "contact": True, "valid": False},
    ),
    (
        "low perfusion + interference + ambient light: flags, still valid; spec only",
        BASE.replace("EXC=000800", "EXC=000854"),
        {
            "status": ["low_perfusion", "interference", "ambient_light"],
            "contact": True,
            "valid": True,
        },
    ),
    (
        # 0x200 is "reserved" in the Radical table (tests/serial/test_masimo_radical_exc.py)
        "unknown bit kept by number, spec only",
        BASE.replace("EXC=000800", "EXC=000A00"),
        {"status": ["exc_bit9"], "contact": True, "valid": True},
    ),
    (
        "mute pressed alone is not an alarm (masimo-datacapture bench test #1)",
        BASE.replace("ALARM=0000", "ALARM=0020"),
        {"status": ["device_alarm_silenced"], "contact": True, "valid": True},
    ),
    (
        "SpO2 low alarm sounding (masimo-datacapture bench test #5: 0x12)",
        BASE.replace("ALARM=0000", "ALARM=0012"),
        {
            "status": ["device_alarm", "device_alarm_spo2_low", "device_alarm_sounding"],
            "contact": True,
            "valid": True,
        },
    ),
]


# Rad-8 operator's manual (the PDF in github.com/remkolems/masimo-datacapture), p. 4-24
# "SAMPLE TREND OUTPUT", a Rad-8 between two readings:
#   09/21/08 09:56:18 SpO2=000 PR=000 PI=00.00 EXC=800:SET
#   09/21/08 09:56:20 SpO2=000 PR=000 PI=00.00 EXC=820:OffPat,SET
# That is the trend format, not a live ASCII 1 line: a manual sample (trend output), its
# values and EXC put into the first real ASCII 1 line above. 000 is no value, never a
# valid 0 % (the BLE PLX and Contec decoders read 0 the same way), and no reject either.
RAD8_MANUAL = "Rad-8 operator's manual p. 4-24, manual sample (trend output)"
NO_VALUE = {"spo2_pct": None, "pulse_bpm": None, "measured_at": "2016-02-22T22:47:45+00:00"}
ZEROS: list[tuple[str, str, dict[str, Any]]] = [
    (
        f"{RAD8_MANUAL}: SpO2=000 PR=000 EXC=800:SET",
        BASE.replace("SPO2=098%", "SPO2=000%").replace("BPM=097", "BPM=000"),
        {**NO_VALUE, "status": [], "contact": True, "valid": False},
    ),
    (
        f"{RAD8_MANUAL}: SpO2=000 PR=000 EXC=820:OffPat,SET",
        BASE.replace("SPO2=098%", "SPO2=000%")
        .replace("BPM=097", "BPM=000")
        .replace("EXC=000800", "EXC=000820"),
        {**NO_VALUE, "status": ["sensor_off", "probe_off"], "contact": False, "valid": False},
    ),
    (
        "built from the first real line: BPM=000 alone is no pulse, the SpO2 stands",
        BASE.replace("BPM=097", "BPM=000"),
        {**NO_VALUE, "spo2_pct": 98, **OK},
    ),
]


@pytest.mark.parametrize(("source", "text", "expected"), ZEROS, ids=[z[0] for z in ZEROS])
def test_zero_spo2_or_pulse_is_no_value(source: str, text: str, expected: dict[str, Any]) -> None:
    assert decode_line(text.encode("ascii")) == expected, source


@pytest.mark.parametrize(("source", "text", "expected"), CAPTURES)
def test_real_captures(source: str, text: str, expected: dict[str, Any]) -> None:
    assert decode_line(text.encode("ascii")) == expected, source


@pytest.mark.parametrize(("what", "text", "expected"), BUILT, ids=[b[0] for b in BUILT])
def test_exc_and_alarm_bits(what: str, text: str, expected: dict[str, Any]) -> None:
    rec = decode_line(text.encode("ascii"))
    assert not isinstance(rec, Reject), what
    assert {k: rec[k] for k in expected} == expected
    if not expected["contact"]:
        assert rec["spo2_pct"] is None and rec["pulse_bpm"] is None


@pytest.mark.parametrize(("source", "text", "expected"), CAPTURES[:1] + CAPTURES[5:])
def test_leading_nul_bytes_stripped(source: str, text: str, expected: dict[str, Any]) -> None:
    # Radical-7 lines may start with NUL bytes (protocols.md); no public capture shows the
    # bytes, so the real lines above are prefixed with them.
    assert decode_line(b"\x00\x00\x00" + text.encode("ascii")) == expected
    framer = LineFramer()
    stream = b"\x00\x00" + text.encode() + b"\r\n\x00\x00\x00\r\n\x00" + text.encode() + b"\r\n"
    lines = framer.feed(stream)
    assert len(lines) == 2 and all(isinstance(x, bytes) for x in lines)
    assert all(decode_line(x) == expected for x in lines if isinstance(x, bytes))


@pytest.mark.parametrize(
    "text",
    [
        # What a Rad-8 in ASCII 2 mode may print, if it prints: no KEY=value field at all.
        # No public ASCII 2 capture was found; any printable line without a field is
        # taken as the wrong output mode.
        "02/22/16 22:47:45    98    97   3.60",
        "DATE     TIME      SPO2  BPM  PI",
    ],
)
def test_ascii2_mode_is_named_with_advice(text: str) -> None:
    rec = decode_line(text.encode("ascii"))
    assert isinstance(rec, Reject) and rec.reason is RejectReason.WRONG_MODE
    assert "switch the Rad-8 to ASCII 1 in its menu" in rec.detail


@pytest.mark.parametrize(
    ("text", "reason", "says"),
    [
        (BASE.replace("SPO2=098%", "SPO2=" + "9" * 5000 + "%"), RejectReason.OVERSIZE, "5"),
        (BASE.replace("BPM=097", "BPM=" + "9" * 60), RejectReason.BAD_FORMAT, "BPM="),
        (BASE.replace("EXC=000800", "EXC=" + "8" * 40), RejectReason.BAD_FORMAT, "EXC="),
        (BASE.replace("EXC=000800", "EXC=0_800"), RejectReason.BAD_FORMAT, "EXC="),
        (BASE + " SPO2=070%", RejectReason.BAD_FORMAT, "duplicate field SPO2="),
        (BASE.replace("BPM=097", "BPM=097 BPM=140"), RejectReason.BAD_FORMAT, "duplicate"),
        (BASE.replace("SPO2=098%", "SPO2=1098%"), RejectReason.BAD_FORMAT, "SPO2="),
        (BASE.replace("SPO2=098%", "SPO2=+98%"), RejectReason.BAD_FORMAT, "SPO2="),
        # Three digits that no patient has (a digit replaced by line noise: no checksum)
        # are refused, never passed on as a number (protocols.md "never turn such bytes
        # into a plausible-looking wrong number"; the BLE decoders' 1-300 bpm). Before
        # these rows, dropping either check went unnoticed: BPM=350 was stored and shown.
        (BASE.replace("SPO2=098%", "SPO2=101%"), RejectReason.IMPLAUSIBLE, "SPO2=101 above 100"),
        (BASE.replace("BPM=097", "BPM=301"), RejectReason.IMPLAUSIBLE, "BPM=301 above 300"),
    ],
)
def test_bounded_fields_and_duplicates(text: str, reason: RejectReason, says: str) -> None:
    rec = decode_line(text.encode("ascii"))
    assert isinstance(rec, Reject) and rec.reason is reason and says in rec.detail


def test_cli_decode_huge_number_and_duplicate_key(capsys: pytest.CaptureFixture[str]) -> None:
    # issue 12 item 15: a number over 4,300 digits was a ValueError traceback
    huge = BASE.replace("SPO2=098%", "SPO2=" + "1" * 4400 + "%")
    assert cli_main(["decode", "--profile", "masimo-ascii", huge]) == 65
    assert json.loads(capsys.readouterr().out)["rejected"] == "oversize"
    short_huge = "SPO2=" + "1" * 4400 + " BPM=1"  # over MAX_LINE too: bounded before int()
    assert cli_main(["decode", "--profile", "masimo-ascii", short_huge]) == 65
    capsys.readouterr()
    assert cli_main(["decode", "--profile", "masimo-ascii", BASE + " SPO2=070%"]) == 65
    out = capsys.readouterr()
    assert json.loads(out.out)["rejected"] == "bad_format"
    assert "duplicate field SPO2=" in out.err
    assert cli_main(["decode", "--profile", "masimo-ascii", BASE]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["valid"] is True and rec["spo2_pct"] == 98


def test_simulator_sends_set_mode_like_a_rad8() -> None:
    at = datetime(2016, 2, 22, 22, 47, 45, tzinfo=UTC)
    normal = sim_line(SimEvent(Kind.SPO2, {"spo2_pct": 98, "pulse_bpm": 97}), at)
    assert normal.endswith(b"ALARM=0000 EXC=000800\r\n")
    # the simulator's line has the layout of the real capture, field for field
    assert [f.split(b"=")[0] for f in normal.split()] == [
        f.split(b"=")[0] for f in CAPTURES[0][1].encode().split()
    ]
    assert decode_line(normal.rstrip(b"\r\n")) == {
        "spo2_pct": 98,
        "pulse_bpm": 97,
        "measured_at": "2016-02-22T22:47:45+00:00",
        **OK,
    }
    off = sim_line(SimEvent(Kind.SPO2, {"spo2_pct": 98, "pulse_bpm": 101}, contact=False), at)
    # sensor off as the Rad-8 capture (RAD8_OFF) prints it: the numbers still there, the
    # alarm sounding, sensor off and low perfusion beside the SET bit
    assert b" SPO2=098% BPM=101 PI=--.--% " in off
    assert off.endswith(b"ALARM=0010 EXC=000824\r\n")
    rec = decode_line(off.rstrip(b"\r\n"))
    assert not isinstance(rec, Reject)
    (captured,) = [c[2] for c in CAPTURES if c[0] == RAD8_OFF]
    assert rec == {**captured, "measured_at": "2016-02-22T22:47:45+00:00"}


async def test_ascii2_through_daemon_one_warning_with_advice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Rad-8 left in ASCII 2 on a real pty, read by the real daemon hub: every line is
    counted as `wrong_mode` and the operator reads the advice once at WARNING."""
    async with make_sim_device("masimo-ascii", repeat=False) as sim:
        assert isinstance(sim, SerialSim)
        port = sim.port
        cfg = loads_config(
            f'[site]\nid = "t"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
            f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n'
            f'[[chairs]]\nid = "chair-1"\n'
            f'[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\nport = "{port}"\n'
        )
        daemon = Daemon(cfg)
        caplog.set_level(logging.DEBUG)
        task = asyncio.create_task(daemon.run())
        chair = daemon.chairs["chair-1"]
        ox = chair.devices["ox"]
        try:
            for _ in range(100):  # the port opens a little after the daemon starts
                sim.write(b"02/22/16 22:47:45    98    97   3.60\r\n")
                if await chair.wait_for(lambda: ox.rejects["wrong_mode"] >= 5, 0.1):
                    break
            assert ox.rejects["wrong_mode"] >= 5 and ox.readings == 0
        finally:
            daemon.stop_event.set()
            await asyncio.wait_for(task, 10)
    advice = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and "switch the Rad-8 to ASCII 1" in r.getMessage()
    ]
    assert len(advice) == 1, [r.getMessage() for r in advice]


async def test_rad8_silent_in_ascii2_through_daemon_is_told_ascii1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """github.com/yahnatan/pulseox README "Tips/Troubleshooting": a Rad-8 that shows no
    output on the serial port may be in its default ASCII 2 and needs ASCII 1. Such a
    Rad-8 (a real pty that stays silent) gives the daemon nothing to reject, so the link's
    silence warning is all the operator reads: it names ASCII 1 (masimo-ascii's
    `silence_advice`), not only the generic "stopped answering"."""
    async with make_sim_device("masimo-ascii", repeat=False) as sim:
        assert isinstance(sim, SerialSim)
        cfg = loads_config(
            f'[site]\nid = "t"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
            f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n'
            f'[[chairs]]\nid = "chair-1"\n'
            f'[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\nport = "{sim.port}"\n'
            "silence_s = 0.3\n"
        )
        daemon = Daemon(cfg)
        caplog.set_level(logging.DEBUG)
        task = asyncio.create_task(daemon.run())

        def warnings() -> list[str]:
            return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

        try:
            await eventually(lambda: any("silent for" in w for w in warnings()), 10, "silence")
        finally:
            daemon.stop_event.set()
            await asyncio.wait_for(task, 10)
    silent = [w for w in warnings() if "silent for" in w]
    assert len(silent) == 1, silent
    assert "ASCII 1" in silent[0] and "9600 8N1" in silent[0], silent
