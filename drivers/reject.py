"""Why bytes were not turned into a measurement: every decoder's typed failure.

Its own module (re-exported by drivers/base.py) so that the BLE profile description
(drivers/ble_gatt.py), which the driver descriptor refers to, needs nothing of base.py.
"""

from __future__ import annotations

import enum
import logging
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
    # the driver's decoder raised on the payload (a bug in monitord, not the device's data
    # necessarily): the value is lost, counted here so a device's status shows the loss
    DRIVER_BUG = "driver_bug"


@dataclass(frozen=True, slots=True)
class Reject:
    reason: RejectReason
    detail: str
    # What every healthy connection may give once: the partial frame or line before the
    # first whole one, cut by the port's open (the device streams without a pause to sync
    # on). Counted like any reject, logged at DEBUG: a WARNING at every connect of a sound
    # device taught the operator to ignore the warnings that matter.
    expected: bool = False

    @property
    def log_class(self) -> str:
        """What a device's failure log (monitord/log.py `FailureLog`) knows it by: an
        expected reject is a class of its own, so a later one of its reason still warns."""
        return f"{self.reason} (expected)" if self.expected else str(self.reason)

    @property
    def log_level(self) -> int:
        return logging.DEBUG if self.expected else logging.WARNING

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"
