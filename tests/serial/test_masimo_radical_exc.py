"""Masimo EXC bits above 0x800 (cable, calibration, sensor life) and the ALARM bits above
0x20, as an independent Radical-5/7 reader names them, and that reader's example lines;
a Masimo Root's module fields (`nibpEXC=` ...) are not the oximeter's `EXC=` (last test).

Source: MD PnP (github.com/mdpnp/mdpnp, commit 76ce3a4f, `other/pox_rad/src/
poxrad_discrete.h`), a Radical-5/7 serial reader whose exception and alarm tables quote
the Radical operator's manual. Its two example lines are that reader's samples, not a
capture of ours. No public ASCII 1 capture with these bits was found: the rows below are
the first real Rad-8 line of test_masimo_captures.py with EXC changed (values `---` where
the monitor has no sensor to read).

Before this table a Radical-7 whose patient cable was unplugged (EXC 0x1000, "No Cable
Connected") decoded as `exc_bit12` with contact true: no value, so no physiological
rule, and no `tech.sensor_off` either. The chair was unmonitored without an alarm.
"""

from __future__ import annotations

from typing import Any

import pytest

from monitord.drivers.base import Reject, RejectReason
from monitord.drivers.masimo_ascii import decode_line

MDPNP = "github.com/mdpnp/mdpnp @76ce3a4f other/pox_rad/src/poxrad_discrete.h"
# tests/serial/test_masimo_captures.py CAPTURES[0] (github.com/yahnatan/pulseox, a Rad-8)
RAD8 = (
    "02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% "
    "SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800"
)
NO_READING = RAD8.replace("SPO2=098%", "SPO2=---%").replace("BPM=097", "BPM=---")


def test_mdpnp_example_lines() -> None:
    radical7 = (
        "12/01/05 11:56:29 SN=0123456789 SPO2=098% BPM=240 PI=20.00% SPCO=01.0% "
        "SPMET=00.5% DESAT=01 PIDELTA=-02 PVI=027 ALARM=0000 EXC=000820"
    )
    assert decode_line(radical7.encode()) == {
        "spo2_pct": None,
        "pulse_bpm": None,
        "measured_at": "2005-12-01T11:56:29+00:00",
        "status": ["sensor_off", "probe_off"],
        "contact": False,
        "valid": False,
    }, MDPNP
    radical5 = "09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800"
    assert decode_line(radical5.encode()) == {
        "spo2_pct": 97,
        "pulse_bpm": 64,
        "measured_at": "2010-09-15T15:10:29+00:00",
        "status": ["device_alarm_silenced"],
        "contact": True,
        "valid": True,
    }, MDPNP


OFF = {"spo2_pct": None, "pulse_bpm": None, "contact": False, "valid": False}
ROWS: list[tuple[str, str, dict[str, Any]]] = [
    # no sensor can be read through a missing, unrecognized or defective patient cable:
    # probe off, as the Rad-8's no / unrecognized / defective sensor
    ("no cable", NO_READING.replace("EXC=000800", "EXC=001800"),
     {**OFF, "status": ["no_cable", "probe_off"]}),
    ("unrecognized cable", NO_READING.replace("EXC=000800", "EXC=008800"),
     {**OFF, "status": ["unrecognized_cable", "probe_off"]}),
    ("defective cable, numbers still printed", RAD8.replace("EXC=000800", "EXC=010800"),
     {**OFF, "status": ["defective_cable", "probe_off"]}),
    # not settled yet: not valid, contact unknown (as pulse search)
    ("sensor calibrating", RAD8.replace("EXC=000800", "EXC=020800"),
     {"spo2_pct": 98, "pulse_bpm": 97, "contact": True, "valid": False,
      "status": ["sensor_calibrating"]}),
    # quality flags: the monitor's own numbers stand (an expired or incompatible sensor
    # may still be measuring)
    ("sensor life expired, incompatible sensor, SpCO/SpMet low confidence",
     RAD8.replace("EXC=000800", "EXC=640900"),
     {"spo2_pct": 98, "pulse_bpm": 97, "contact": True, "valid": True,
      "status": ["incompatible_sensor", "sensor_life_expired", "spco_low_confidence",
                 "spmet_low_confidence"]}),
    ("cable life expired, incompatible cable, emitter temperature, current limit",
     RAD8.replace("EXC=000800", "EXC=186800"),
     {"spo2_pct": 98, "pulse_bpm": 97, "contact": True, "valid": True,
      "status": ["cable_life_expired", "incompatible_cable", "emitter_temperature",
                 "sensor_current_limit"]}),
    # the monitor's own alarms are flags, never a rule input
    ("low battery and SpCO high alarms", RAD8.replace("ALARM=0000", "ALARM=0140"),
     {"spo2_pct": 98, "pulse_bpm": 97, "contact": True, "valid": True,
      "status": ["device_alarm", "device_alarm_low_battery", "device_alarm_spco_high"]}),
]  # fmt: skip


@pytest.mark.parametrize(("what", "text", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_radical_exception_and_alarm_bits(what: str, text: str, expected: dict[str, Any]) -> None:
    rec = decode_line(text.encode("ascii"))
    assert not isinstance(rec, Reject), what
    assert {k: rec[k] for k in expected} == expected, MDPNP


# DiegoVargasVar/MASIMO pymasimo/parse.py: a Masimo Root reader's keys, module fields
# prefixed in lower case beside the oximeter's own (`nibpEXC`, `capnoEXC`, `eegEXC`,
# `nibpALARM`, `eegALARM` ...). Not a capture: the first real Rad-8 line with such fields
# added. `nibpEXC=` was read as a second `EXC=` (the whole line a duplicate-field reject)
# and, on a line without the oximeter's own, would have been taken for it.
ROOT_KEYS = "github.com/DiegoVargasVar/MASIMO pymasimo/parse.py (Masimo Root keys)"


@pytest.mark.parametrize(
    ("text", "status", "contact"),
    [
        (RAD8 + " nibpSYS=120 nibpEXC=000001 eegALARM=0001", [], True),
        (RAD8.replace("EXC=000800", "EXC=000820") + " tempEXC=000000",
         ["sensor_off", "probe_off"], False),
    ],
)  # fmt: skip
def test_module_fields_of_a_root_are_not_the_oximeters(
    text: str, status: list[str], contact: bool
) -> None:
    rec = decode_line(text.encode("ascii"))
    assert not isinstance(rec, Reject), (ROOT_KEYS, rec)
    assert (rec["status"], rec["contact"]) == (status, contact), ROOT_KEYS


def test_module_fields_do_not_stand_in_for_a_missing_exc() -> None:
    """A line without the oximeter's own `EXC=` is a cut line (drivers/masimo_ascii.py:
    the Root capture of tests/serial/test_masimo_cut_lines.py carries it on every line,
    module fields after it); `nibpEXC=` is not taken for it."""
    text = NO_READING.replace(" EXC=000800", "") + " nibpEXC=000001 capnoEXC=000020"
    rec = decode_line(text.encode("ascii"))
    assert isinstance(rec, Reject) and rec.reason is RejectReason.BAD_LENGTH, (ROOT_KEYS, rec)
    assert "lacks EXC=" in rec.detail
