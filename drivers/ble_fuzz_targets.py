"""Every BLE decoder entry point, for the fuzz tests and bench/fuzz_ble.py.

`check(name, data)` runs one decoder on one payload and returns a failure description,
or None when the decoder kept its promise: no exception, and either a typed `Reject` or
a record whose numbers all lie inside the sanity ranges (drivers/ble_gatt.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from monitord.drivers import ble_bpm, ble_hrm, ble_plx
from monitord.drivers.base import Reject
from monitord.drivers.ble_gatt import range_violations

_ALL_QUIRKS = frozenset({ble_bpm.Q_PULSE_STATUS_BE, ble_bpm.Q_USER_ID_WITHOUT_FLAG})

TARGETS: dict[str, Callable[[bytes], Any]] = {
    "bpm": ble_bpm.decode_bp,
    "bpm+quirks": lambda d: ble_bpm.decode_bp(d, _ALL_QUIRKS),
    "icp": ble_bpm.decode_icp,
    "bp-feature": ble_bpm.decode_features,
    "hrm": ble_hrm.decode_hrm,
    "plx-spot": ble_plx.decode_spot,
    "plx-cont": ble_plx.decode_cont,
    "plx-features": ble_plx.decode_features,
}
# the per-characteristic (flags byte, max length) that makes random tails interesting
SHAPES: dict[str, int] = {
    "bpm": 19,
    "bpm+quirks": 20,
    "icp": 19,
    "bp-feature": 3,
    "hrm": 24,
    "plx-spot": 19,
    "plx-cont": 20,
    "plx-features": 8,
}


def check(name: str, data: bytes) -> str | None:
    try:
        rec = TARGETS[name](data)
        if isinstance(rec, Reject):
            return None if rec.detail and rec.reason else f"empty reject {rec!r}"
        bad = range_violations(rec)
        if bad:
            return f"{name} {data.hex()}: " + "; ".join(bad)
        to_record = getattr(rec, "to_record", None)
        if to_record is not None:
            json.dumps(to_record())
    except Exception as e:  # the thing being hunted
        return f"{name} {data.hex()}: {type(e).__name__}: {e}"
    return None
