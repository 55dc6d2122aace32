"""Why bytes were not turned into a measurement: every decoder's typed failure.

Its own module (re-exported by drivers/base.py) so that the BLE profile description
(drivers/ble_gatt.py), which the driver descriptor refers to, needs nothing of base.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class RejectReason(enum.StrEnum):
    """Why a payload or frame was not turned into a reading. Counted per device."""

    BAD_CHECKSUM = "bad_checksum"
    BAD_LENGTH = "bad_length"
    BAD_FORMAT = "bad_format"  # syntax: not hex, not a key=value line, bad escape ...
    UNKNOWN_TYPE = "unknown_type"  # a message/frame type this decoder does not handle
    IMPLAUSIBLE = "implausible_value"  # decodes, but a value cannot be physiological
    NO_VALUE = "no_value"  # well-formed but carries no measurement (all NaN, "---")
    OVERSIZE = "oversize"  # a frame longer than the protocol allows
    NOISE = "noise"  # bytes between frames that belong to no frame
    # the device speaks another output mode of its own (a Rad-8 left in ASCII 2): the
    # operator must change a setting on the device, so it is told apart from noise
    WRONG_MODE = "wrong_mode"


@dataclass(frozen=True, slots=True)
class Reject:
    reason: RejectReason
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"
