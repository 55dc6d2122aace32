"""Masimo "ASCII 1" simulator (the format is drawn in drivers/masimo_ascii.py).

Once the first `spo2` event arrived, one line per second, like the monitor; the line's
clock is the device clock (`at` of the event, advancing with the chair's speed).
Lines are shaped like the real Rad-8 captures cited in tests/serial/test_masimo_captures.py:
a normal reading carries `EXC=000800` (Masimo SET mode), a probe off `EXC=000820` (sensor
off, SET bit still on: the Rad-8 manual's sample trend output, p. 4-24, shows
`EXC=820:OffPat,SET`) with `---` values and the perfusion index dashed (`PI=--.--%`, as a
real Rad-8's sensor-off line in tests/serial/test_masimo_captures.py prints it).
"""

from __future__ import annotations

from datetime import datetime

from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent

EXC_SET_MODE = 0x000800  # what a real Rad-8 sends while measuring normally
EXC_SENSOR_OFF = 0x000020  # a Rad-8 sets it beside the SET bit, never alone


def line(ev: SimEvent, at: datetime, serial_no: int = 1) -> bytes:
    spo2 = ev.values.get("spo2_pct")
    bpm = ev.values.get("pulse_bpm")
    off = ev.contact is False
    s = "---" if spo2 is None or off else f"{round(spo2):03d}"
    b = "---" if bpm is None or off else f"{round(bpm):03d}"
    exc = EXC_SET_MODE | (EXC_SENSOR_OFF if off else 0)
    # no perfusion index without a finger: a Rad-8 with its sensor off prints `--.--`
    pi = "--.--" if off else "03.60"
    return (
        f"{at:%m/%d/%y %H:%M:%S} SN={serial_no:010d} SPO2={s}% BPM={b} PI={pi}% "
        f"SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC={exc:06X}\r\n"
    ).encode("ascii")


class MasimoSim(SerialSim):
    kinds = (Kind.SPO2,)

    def on_event(self, ev: SimEvent, at: datetime) -> None:
        if ev.kind is Kind.SPO2:
            self.write(line(ev, at))

    def tick(self) -> None:
        got = self.latest.get(Kind.SPO2)
        now = self.device_now()
        if got is not None and now is not None:
            self.write(line(got[0], now))
