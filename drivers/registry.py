"""Every device protocol monitord knows, by name: the one list of drivers. Adding a device
model? Add its module's descriptor (and decode profile) here, one line each, and a test
table of captures under tests/ (docs/adding-a-device.md).

Importing this module registers the drivers with the config (`monitord.config.use_drivers`),
which validates each device's keys with its driver's settings model; the config never
imports drivers (Telegraf's plugin registry works the same way).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Protocol, TypeVar

from monitord.config import DeviceOptions, use_drivers
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
from monitord.drivers.ble_gatt import BleLinkSettings
from monitord.drivers.serial_link import SerialLinkSettings
from monitord.engine.rules import MAX_SAMPLE_GAP_S
from monitord.models import Kind

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


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_T = TypeVar("_T", bound=_Named)


def _by_name(entries: Iterable[_T], what: str) -> Mapping[str, _T]:
    """The entries by name; two of one name stop the import. A mapping built by name keeps
    the later one silently: a new model's descriptor copied from another module and left
    with its name took that driver's place in every config that names it."""
    out: dict[str, _T] = {}
    for e in entries:
        if e.name in out:
            raise ValueError(
                f"drivers/registry.py: {what} named {e.name!r} (a driver and its profile "
                "are found by that name): give the new one its own"
            )
        out[e.name] = e
    return MappingProxyType(out)


# The model each transport reads a device's settings as (`DeviceConfig.settings_as`).
_LINK_SETTINGS: Mapping[str, type[DeviceOptions]] = {
    "serial": SerialLinkSettings,
    "ble": BleLinkSettings,
}


def _checked(d: DriverDescriptor) -> DriverDescriptor:
    """A descriptor whose settings its transport can read. Another model (a serial driver
    naming DeviceOptions) passed every check: check-config said ok, with the port "not a
    setting" and ignored, and the device's task crashed at every restart."""
    link = _LINK_SETTINGS[d.transport]
    if not issubclass(d.settings, link):
        raise ValueError(
            f"drivers/registry.py: driver {d.name!r} names settings {d.settings.__name__}, "
            f"not a {link.__name__} (the {d.transport} transport reads a device's keys with "
            f"it): name {link.__name__} or a model extending it"
        )
    if d.transport == "serial":
        _check_serial(d)
    return d


def _check_serial(d: DriverDescriptor) -> None:
    """A serial driver states its line settings and output period, and its silence is
    longer than that period. Without `serial=` the transport read the device at 9600 8N1,
    silently; a silence shorter than the period dropped and reopened a working link
    between two of its lines (only IntelliVue's poll interval was checked)."""
    s = d.serial
    if s is None:
        raise ValueError(
            f"drivers/registry.py: serial driver {d.name!r} states no line settings: set "
            "serial=SerialDefaults(baudrate=..., period_s=...) from the device's manual"
        )
    if not s.period_s > 0:  # 0 (or a typo's sign) made every silence_s "longer": no check
        raise ValueError(
            f"drivers/registry.py: driver {d.name!r}: serial period_s = {s.period_s:g} is not "
            "a time: set the device's output period in seconds (above 0)"
        )
    if s.period_s > MAX_SAMPLE_GAP_S and {Kind.HR, Kind.SPO2} & set(d.kinds):
        # HR/SpO2 samples further apart than that restart every confirmation run of
        # their rules (docs/alerts.md): a device that read and stored well, never an alarm.
        raise ValueError(
            f"drivers/registry.py: driver {d.name!r}: serial period_s = {s.period_s:g} puts "
            f"its HR and SpO2 samples further apart than the {MAX_SAMPLE_GAP_S:g} s within "
            "which their alarms confirm (docs/alerts.md): none would ever be raised; emit "
            f"them at most {MAX_SAMPLE_GAP_S:g} s apart"
        )
    if s.silence_s <= s.period_s:
        raise ValueError(
            f"drivers/registry.py: driver {d.name!r}: serial silence_s = {s.silence_s:g} is "
            f"not longer than its period_s = {s.period_s:g} (the device's output period): "
            "a working link would be dropped between two lines; make silence_s longer"
        )
    if s.silence_s <= s.one_lost_s:
        raise ValueError(
            f"drivers/registry.py: driver {d.name!r}: serial silence_s = {s.silence_s:g} is "
            f"not longer than the {s.one_lost_s:g} s between two readings around one lost to "
            "line noise (resync_s): one noisy frame would drop a working link; make "
            "silence_s longer"
        )


DRIVERS: Mapping[str, DriverDescriptor] = _by_name(
    map(_checked, _DRIVERS), "_DRIVERS lists two descriptors"
)
PROFILES: Mapping[str, DecodeProfile] = _by_name(_PROFILES, "_PROFILES lists two profiles")

use_drivers(DRIVERS)
