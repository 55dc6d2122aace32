"""Two things the station's model does that the other model tests passed without:
- `monitord doctor`'s round-trip messages are no chair's state (docs/mqtt.md: messages marked
  `"doctor": true` are ignored by stations and daemons). The messages here are the ones doctor
  publishes (monitord/commands/doctor_mqtt.py `TOPICS`, its body), on a chair the board shows.
  test_station_config.py sent a doctor status with `"time": "x"`, refused by validation
  anyway: with the doctor check gone the suite passed, and doctor's `vitals/bp` then replaced
  the chair's last BP on its tile and a doctor run for a chair id not on the board drew a tile;
- the default silence window (docs/station.md "Silent chairs": 15 s, three commits)."""

from __future__ import annotations

import json
import time

from monitord.commands.doctor_mqtt import TOPICS
from monitord.models import iso
from monitord.station.model import StationModel

BASE = "monitord/site/"


def test_doctors_messages_change_no_tile() -> None:
    m = StationModel("monitord", "site")
    bp = {"kind": "bp", "sys_mmHg": 124, "dia_mmHg": 78, "valid": True}
    bp |= {"measured_at": "2026-11-30T10:00:00Z", "device": "monitor"}
    assert not m.apply(BASE + "chair-1/vitals/bp", json.dumps(bp).encode(), at=1.0).rejected
    before = m.chairs["chair-1"].to_json(2.0)
    body = json.dumps({"doctor": True, "nonce": "0" * 32, "time": iso(time.time())}).encode()
    for chair in ("chair-1", "doctor-only"):
        for topic in TOPICS:
            ch = m.apply(f"{BASE}{chair}/{topic}", body, at=2.0)
            # Ignored: no tile redrawn, no event shown, nothing logged as a bad message.
            assert not ch.chairs and not ch.events and ch.rejected is None, (chair, topic)
    assert m.chairs["chair-1"].to_json(2.0) == before
    assert "doctor-only" not in m.chairs


def test_the_default_silence_is_three_commits() -> None:
    # docs/station.md "Silent chairs": a chair streams while a kind of its readings arrives at
    # least twice per SILENT_AFTER_S (15 s), and reads NOT HEARD after 15 s of nothing (the
    # page counts `silent_after_s`, sent in its hello). The other model tests set their own
    # window: the station's default was unguarded (at 150 s, a chair whose network was cut
    # read ONLINE for 2.5 min, long after its Last Will would have said so).
    m = StationModel("monitord", "site")
    assert m.silent_after_s == 15.0
    hr = {"kind": "hr", "device": "ox", "hr_bpm": 70, "valid": True}
    for at in (0.0, 5.0):  # a reading at each 5 s commit: a stream
        assert not m.apply(BASE + "chair-1/vitals/hr", json.dumps(hr).encode(), at=at).rejected
    assert m.chairs["chair-1"].streams == {"hr": "ox"}
    for at in (0.0, 8.0):  # a commit interval above 7.5 s: never flagged
        assert not m.apply(BASE + "chair-2/vitals/hr", json.dumps(hr).encode(), at=at).rejected
    assert m.chairs["chair-2"].streams == {}
