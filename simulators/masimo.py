"""Masimo "ASCII 1" simulator of a Rad-8 (the format is drawn in drivers/masimo_ascii.py).

Once the first `spo2` event arrived, one line per second, like the monitor; the line's
clock is the device clock (`at` of the event, advancing with the chair's speed).
Lines are shaped like the real Rad-8 captures cited in tests/serial/test_masimo_captures.py,
each fact from the source named:
- a normal reading: the event's numbers, `PI=03.60%`, `ALARM=0000 EXC=000800` (Masimo SET
  mode; public captures, e.g. github.com/yahnatan/pulseox).
- a probe off (`contact` false) prints what the one public Rad-8 sensor-off line prints
  (`SPO2=098% BPM=101 PI=--.--% ... ALARM=0010 EXC=000824`, a Rad-8 reader in the search
  index, RAD8_OFF in that test file): the numbers still printed, here the event's own
  (`---` where it has none); the perfusion index dashed; the monitor's alarm sounding
  (`ALARM=0010`); and EXC sensor off (0x020) with low perfusion (0x004) beside the SET
  bit, `000824`. The decoder must drop those numbers (probe off: no value). Before, the
  simulator printed `SPO2=---% BPM=---` with `ALARM=0000 EXC=000820`, a line no Rad-8
  was seen to send, so no test built on it ever sent a sensor-off line with numbers.
  Not from a capture: whether the printed numbers are the last reading held (one line
  cannot say; a scenario's probe-off sample carries the numbers it wants printed), and
  that the alarm sounds from the first probe-off line (the capture is one line). The
  Rad-8 manual's sample trend output (p. 4-24) shows `EXC=820:OffPat,SET` without low
  perfusion; that is the trend format, the capture is the live ASCII 1 line.
A Masimo Root prints its sensor off differently (`SPO2=---% BPM=---`, 7-digit fields, its
capture in docs/devices.md): this simulator does not model a Root.
"""

from __future__ import annotations

from datetime import datetime

from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent

EXC_SET_MODE = 0x000800  # what a real Rad-8 sends while measuring normally
# what the Rad-8 sensor-off capture sets beside the SET bit: sensor off, low perfusion
EXC_SENSOR_OFF = 0x000020
EXC_LOW_PERFUSION = 0x000004
ALARM_SOUNDING = 0x0010  # the capture's ALARM=0010 while the sensor is off


def _number(value: float | None) -> str:
    return "---" if value is None else f"{round(value):03d}"


def line(ev: SimEvent, at: datetime, serial_no: int = 1) -> bytes:
    off = ev.contact is False
    # a Rad-8 with its sensor off still prints numbers (module docstring): not dashed
    s = _number(ev.values.get("spo2_pct"))
    b = _number(ev.values.get("pulse_bpm"))
    exc = EXC_SET_MODE | (EXC_SENSOR_OFF | EXC_LOW_PERFUSION if off else 0)
    alarm = ALARM_SOUNDING if off else 0
    # no perfusion index without a finger: the Rad-8 capture prints `--.--`
    pi = "--.--" if off else "03.60"
    return (
        f"{at:%m/%d/%y %H:%M:%S} SN={serial_no:010d} SPO2={s}% BPM={b} PI={pi}% "
        f"SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM={alarm:04X} EXC={exc:06X}\r\n"
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
