"""A Beurer BM85-style cuff: the Blood Pressure Service as the real BM85 speaks it.

Its 0x2A35 indications are shaped like the four recorded BM85 indications replayed in
tests/ble/test_beurer_captures.py (derdilla/blood-pressure-monitor-fl PR #735/#737):

    56 | sys | dia | 00 00 | timestamp (7) | pulse BE (2) | user (1) | status BE (2)

flags 0x56 (timestamp, pulse, status, and reserved bit 6 set), MAP 0 (absent), pulse and
status big-endian, and a user-ID byte that flag bit 3 does not declare: 19 bytes where
the flags imply 18. Its clock counts minutes: the seconds byte is 00 in all four
recordings (18:31, 20:56, 20:57, 20:27), so the simulator stamps the minute too.
It advertises "Beurer BM85", the name the real cuff advertises, so
the daemon picks the model's quirks by name.
"""

from __future__ import annotations

import struct
from datetime import datetime

from monitord.drivers.ble_gatt import encode_date_time
from monitord.drivers.sfloat import SFLOAT_NAN
from monitord.simulators.base import SimEvent
from monitord.simulators.ble.devices import SimCuff, _sfloat

ADVERTISED_NAME = "Beurer BM85"
FLAGS = 0x56
STATUS_IRREGULAR_PULSE = 0x0004


class BeurerCuff(SimCuff):
    user_id = 0  # the BM85 has two users, 0 and 1
    irregular_pulse = False  # set by a test: the next measurements flag it

    def encode(self, ev: SimEvent, at: datetime) -> bytes:  # type: ignore[override]
        v = ev.values
        if ev.error:
            sys_ = dia = pulse = SFLOAT_NAN
        else:
            sys_, dia = _sfloat(v.get("sys_mmHg")), _sfloat(v.get("dia_mmHg"))
            pulse = _sfloat(v.get("pulse_bpm"))
        status = STATUS_IRREGULAR_PULSE if self.irregular_pulse else 0
        return (
            struct.pack("<BHHH", FLAGS, sys_, dia, 0)
            + encode_date_time(at.replace(second=0, microsecond=0))
            + struct.pack(">H", pulse)
            + bytes([self.user_id])
            + struct.pack(">H", status)
        )
