"""`Measurement`: what every decoder returns, and `stamp()`: the one place it becomes a
`Reading`.

A decoder knows what the device said (kind, values, the device's own clock if it sent
one, its validity verdict, status flags, contact) but not who asked or when the bytes
arrived. `stamp()` adds the chair, the device and the receive time from the device's
context, and decides the reading's times: `received_at` is the receive time,
`device_time` the device clock as decoded, and `measured_at` (the alert engine's event
time) follows `monitord.models.authoritative_time`. Which clock feeds the engine is
therefore decided here and nowhere else in the drivers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from monitord.models import KIND_FIELDS, Kind, Reading, authoritative_time

# What a value can be at all, whatever the device (outside it a field decoded but cannot be
# physiological): a cuff measures up to ~280-300 mmHg; SpO2 is a percentage.
PRESSURE_MAX_mmHg = 300.0
SPO2_RANGE_pct = (0.0, 100.0)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measurement as decoded, before anyone knows when or where it was received.

    Value names carry their units (`sys_mmHg`, `spo2_pct`, monitord.models.KIND_FIELDS).
    `valid` is the device's verdict (cuff error, probe off, invalid state, no value);
    `contact` is sensor contact / probe on (None: not reported); `device_time` is the
    device's own clock, None when the format has none or it is unset.
    """

    kind: Kind
    values: Mapping[str, float | None]
    device_time: datetime | None = None
    valid: bool = True
    flags: tuple[str, ...] = ()
    contact: bool | None = None
    # A discrete record the device keeps in its memory and may push again on a later
    # connection (a PLX spot-check), unlike a stream sample: the hub tells a re-sent one
    # (same device time and values) from a new one (monitord/history.py). BP measurements
    # are always such records; the hub knows that by their kind.
    record: bool = False

    def __post_init__(self) -> None:
        # A value name its kind does not have is read by no rule: the engine takes an HR
        # reading's `hr_bpm`, and a reading without it is "no HR value", invalid. A new
        # HR monitor's driver that named its value `pulse_bpm` decoded and printed as
        # meant, and every reading went to the store invalid ("implausible"): HR 130 for
        # 10 min raised no `hr.high` and nothing said why (docs/adding-a-device.md).
        names = KIND_FIELDS[self.kind]
        wrong = [k for k in self.values if k not in names]
        if wrong:
            raise ValueError(
                f"Measurement of kind {self.kind}: value name {', '.join(wrong)} is none of "
                f"{', '.join(names)} (monitord.models.KIND_FIELDS, what the alert engine "
                "reads)"
            )

    def to_record(self) -> dict[str, Any]:
        """The `monitord decode` record (design.md section 4 field names)."""
        return {
            **self.values,
            "measured_at": self.device_time.isoformat() if self.device_time else None,
            "status": list(self.flags),
            "contact": self.contact,
            "valid": self.valid,
        }


class Receiver(Protocol):
    """The part of `monitord.drivers.base.DeviceContext` that stamping needs."""

    chair: str
    device: str

    def now(self) -> datetime: ...


def stamp(m: Measurement, ctx: Receiver) -> Reading:
    """The measurement as a `Reading` of `ctx`'s device, received now (`ctx.now()`)."""
    received = ctx.now()
    return Reading(
        chair=ctx.chair,
        device=ctx.device,
        kind=m.kind,
        values=m.values,
        measured_at=authoritative_time(m.device_time, received),
        received_at=received,
        valid=m.valid,
        flags=m.flags,
        contact=m.contact,
        device_time=m.device_time,
        record=m.record,
    )
