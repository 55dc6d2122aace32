"""drivers/measurement.py: every decoder returns a `Measurement`; `stamp()` alone makes it
a `Reading` and decides its times (receive time from the device's context, the device
clock kept as `device_time`, event time by `monitord.models.authoritative_time`)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitord.drivers.measurement import Measurement, stamp
from monitord.models import KIND_FIELDS, Kind

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class _At:
    """The part of a DeviceContext that stamping reads, at a fixed time."""

    chair = "chair-2"
    device = "ox"

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


def test_stamp_takes_chair_device_and_receive_time_from_the_context() -> None:
    m = Measurement(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 72}, flags=("x",), contact=True)
    r = stamp(m, _At(T0))
    assert (r.chair, r.device, r.kind, dict(r.values)) == ("chair-2", "ox", Kind.SPO2, m.values)
    assert (r.received_at, r.measured_at, r.device_time) == (T0, T0, None)
    assert (r.valid, r.flags, r.contact, r.stored) == (True, ("x",), True, False)


def test_stamp_keeps_the_device_clock_and_trusts_it_only_near_the_receive_time() -> None:
    near = T0 - timedelta(seconds=20)
    r = stamp(Measurement(Kind.HR, {"hr_bpm": 70}, device_time=near), _At(T0))
    assert (r.device_time, r.measured_at, r.received_at) == (near, near, T0)
    far = T0 - timedelta(hours=3)  # a cuff's clock left on another time zone
    r = stamp(Measurement(Kind.HR, {"hr_bpm": 70}, device_time=far), _At(T0))
    assert (r.device_time, r.measured_at, r.received_at) == (far, T0, T0)


def test_no_driver_builds_a_reading_itself() -> None:
    builders = []
    for p in sorted((ROOT / "drivers").glob("*.py")):
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Reading":
                builders.append(p.name)
    assert builders == ["measurement.py"]


def test_a_value_name_its_kind_does_not_have_is_refused_naming_the_kinds_names() -> None:
    # An HR monitor's driver that named its value `pulse_bpm` (docs/adding-a-device.md,
    # followed for a made-up device): decoded and printed as meant, every reading stored
    # invalid ("implausible", no `hr_bpm` for the engine), HR 130 for 10 min and no
    # hr.high. Now the driver's own test table fails on its first case, saying why.
    with pytest.raises(ValueError, match=r"kind hr: value name pulse_bpm is none of hr_bpm"):
        Measurement(Kind.HR, {"pulse_bpm": 130.0})
    with pytest.raises(ValueError, match=r"spo2: value name spo2 is none of spo2_pct, pulse"):
        Measurement(Kind.SPO2, {"spo2": 97.0, "pulse_bpm": 72.0})
    for kind, names in KIND_FIELDS.items():  # every name of its kind, None included
        assert Measurement(kind, dict.fromkeys(names)).values == dict.fromkeys(names)
