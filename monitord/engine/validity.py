"""Which readings count (clinical-rules.md "Valid readings (artifact rejection)").

One place for the artifact check, shared by the alert engine and the session record
(monitord/report/record.py), so the alarms and the REMS form can never disagree on which
readings count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from monitord.engine.rules import (
    BP_DIA_RANGE,
    BP_MIN_PULSE_PRESSURE,
    BP_SYS_RANGE,
    HR_RANGE,
    SPO2_RANGE,
)
from monitord.engine.text import num as _n
from monitord.models import Kind, Reading

#: Flag of a reading the device called valid and the artifact check below rejected.
IMPLAUSIBLE = "implausible"

#: Signal of a HR/SpO2 reading -> (value field, valid range, label for messages).
VITAL_FIELDS: Mapping[str, tuple[str, tuple[float, float], str]] = {
    "hr": ("hr_bpm", HR_RANGE, "HR"),
    "spo2": ("spo2_pct", SPO2_RANGE, "SpO2"),
}


def bp_invalid_reason(
    valid: bool, sys_: float | None, dia: float | None, mp: float | None
) -> str | None:
    """Why a BP reading is rejected; None when it is valid."""
    if not valid:
        return "cuff error"
    if sys_ is None or dia is None:
        return "no systolic/diastolic value"
    if not BP_SYS_RANGE[0] <= sys_ <= BP_SYS_RANGE[1]:
        return f"systolic {_n(sys_)} outside {_n(BP_SYS_RANGE[0])}-{_n(BP_SYS_RANGE[1])}"
    if not BP_DIA_RANGE[0] <= dia <= BP_DIA_RANGE[1]:
        return f"diastolic {_n(dia)} outside {_n(BP_DIA_RANGE[0])}-{_n(BP_DIA_RANGE[1])}"
    if sys_ <= dia:
        return "systolic not above diastolic"
    if sys_ - dia < BP_MIN_PULSE_PRESSURE:
        return f"pulse pressure {_n(sys_ - dia)} < {_n(BP_MIN_PULSE_PRESSURE)}"
    if mp is not None and not dia <= mp <= sys_:
        return f"MAP {_n(mp)} not between diastolic and systolic"
    return None


def vital_invalid_reason(
    signal: str, valid: bool, contact: bool | None, value: float | None
) -> str | None:
    """Why a HR (`signal` "hr") or SpO2 ("spo2") reading is rejected; None when valid."""
    _, (lo, hi), label = VITAL_FIELDS[signal]
    if not valid:
        return "device marked invalid"
    if contact is False:
        return "probe off" if signal == "spo2" else "no sensor contact"
    if value is None:
        return f"no {label} value"
    if not lo <= value <= hi:
        return f"{label} {value:g} outside {lo:g}-{hi:g}"
    return None


def invalid_reason(
    kind: Kind, values: Mapping[str, float | None], valid: bool, contact: bool | None
) -> str | None:
    """Why a reading of any kind is rejected; None when it counts."""
    if kind == Kind.BP:
        return bp_invalid_reason(
            valid, values.get("sys_mmHg"), values.get("dia_mmHg"), values.get("map_mmHg")
        )
    signal = "hr" if kind == Kind.HR else "spo2"
    return vital_invalid_reason(signal, valid, contact, values.get(VITAL_FIELDS[signal][0]))


def device_valid(r: Reading) -> bool:
    """The device's own verdict on a reading, also once `judged` turned its `valid` off,
    so the engine and the REMS form still name the artifact check's reason, not the
    device's ("cuff error")."""
    return r.valid or IMPLAUSIBLE in r.flags


def judged(r: Reading) -> Reading:
    """The reading as stored, published and written to InfluxDB: `valid` false when the
    device or the artifact check rejects it (clinical-rules.md "Invalid readings are
    stored with `valid=false`"); a rejection by the check alone is flagged `implausible`.
    Contact is not judged here: a probe-off sample is the device's to mark."""
    if not r.valid or invalid_reason(r.kind, r.values, True, None) is None:
        return r
    return replace(r, valid=False, flags=(*r.flags, IMPLAUSIBLE))
