"""Every device protocol monitord knows, by name: the one list of drivers. Adding a device
model? Add its module's descriptor (and decode profile) here, one line each, and a test
table of captures under tests/ (docs/adding-a-device.md).

Importing this module registers the drivers with the config (`monitord.config.use_drivers`),
which validates each device's keys with its driver's settings model; the config never
imports drivers (Telegraf's plugin registry works the same way).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from monitord.config import use_drivers
from monitord.drivers import (
    ble_bpm,
    ble_hrm,
    ble_plx,
    contec_cms50,
    intellivue,
    masimo_ascii,
    nonin2,
)
from monitord.drivers.base import DecodeProfile, DriverDescriptor

_DRIVERS: tuple[DriverDescriptor, ...] = (
    masimo_ascii.DRIVER,
    intellivue.DRIVER,
    nonin2.DRIVER,
    contec_cms50.DRIVER,
    ble_bpm.DRIVER,
    ble_hrm.DRIVER,
    ble_plx.DRIVER,
)

_PROFILES: tuple[DecodeProfile, ...] = (
    masimo_ascii.PROFILE,
    intellivue.PROFILE,
    nonin2.PROFILE,
    contec_cms50.PROFILE,
    ble_bpm.PROFILE_BPM,
    ble_bpm.PROFILE_ICP,
    ble_hrm.PROFILE,
    ble_plx.PROFILE_SPOT,
    ble_plx.PROFILE_CONT,
)

DRIVERS: Mapping[str, DriverDescriptor] = MappingProxyType({d.name: d for d in _DRIVERS})
PROFILES: Mapping[str, DecodeProfile] = MappingProxyType({p.name: p for p in _PROFILES})

use_drivers(DRIVERS)
