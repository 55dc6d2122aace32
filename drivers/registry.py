"""Every device protocol monitord knows, by name. Adding a device model? Add its module's
descriptor here (one line) and a test table of captures under tests/.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from drivers import ble_bpm, ble_hrm, ble_plx, intellivue, masimo_ascii, nonin2
from drivers.base import DecodeProfile, DriverDescriptor

_DRIVERS: tuple[DriverDescriptor, ...] = (
    masimo_ascii.DRIVER,
    intellivue.DRIVER,
    nonin2.DRIVER,
    ble_bpm.DRIVER,
    ble_hrm.DRIVER,
    ble_plx.DRIVER,
)

_PROFILES: tuple[DecodeProfile, ...] = (
    masimo_ascii.PROFILE,
    intellivue.PROFILE,
    nonin2.PROFILE,
    ble_bpm.PROFILE_BPM,
    ble_bpm.PROFILE_ICP,
    ble_hrm.PROFILE,
    ble_plx.PROFILE_SPOT,
    ble_plx.PROFILE_CONT,
)

DRIVERS: Mapping[str, DriverDescriptor] = MappingProxyType({d.name: d for d in _DRIVERS})
PROFILES: Mapping[str, DecodeProfile] = MappingProxyType({p.name: p for p in _PROFILES})
