"""A test-only serial driver with a bug: the Masimo driver whose protocol raises after it
decoded a line (a bug past framing: in stamping, a quirk's fix-up, a new field), to see
what the daemon does with a driver that crashes on its device's data. Put in the config's
catalog (what the registry's `use_drivers` sets) and the daemon's `DRIVERS` for the test
only (`register`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest

import monitord.devices
from monitord.config import DeviceOptions
from monitord.drivers import masimo_ascii
from monitord.drivers.base import ByteLink, DeviceContext, DriverDescriptor, SerialProtocol
from monitord.drivers.registry import DRIVERS
from monitord.models import Reading

NAME = "masimo-buggy"


class _Crashing:
    """The context the real protocol emits to: it raises on each reading, as a bug in the
    driver's own code between decoding and emitting would."""

    def __init__(self, ctx: DeviceContext) -> None:
        self._ctx = ctx
        self.chair, self.device = ctx.chair, ctx.device
        self.reject, self.now, self.link = ctx.reject, ctx.now, ctx.link

    def emit(self, reading: Reading) -> None:
        raise RuntimeError("decoder bug: index out of range in a new field")


class _BuggyProtocol:
    def __init__(self, inner: SerialProtocol) -> None:
        self._inner = inner

    async def run(self, link: ByteLink, ctx: DeviceContext) -> None:
        await self._inner.run(link, _Crashing(ctx))


def _make(settings: DeviceOptions) -> SerialProtocol:
    assert masimo_ascii.DRIVER.make_protocol is not None
    return _BuggyProtocol(masimo_ascii.DRIVER.make_protocol(settings))


DRIVER: DriverDescriptor = dataclasses.replace(
    masimo_ascii.DRIVER, name=NAME, make_protocol=_make, simulator=None
)


def register(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry's drivers and this one, for the config and the daemon, until the test
    ends (monkeypatch restores both)."""
    drivers: Mapping[str, DriverDescriptor] = {**DRIVERS, NAME: DRIVER}
    monkeypatch.setattr(monitord.devices, "DRIVERS", drivers)
    # What `use_drivers` sets (the config's catalog), put back after the test.
    monkeypatch.setattr("monitord.config_devices._drivers", drivers)
