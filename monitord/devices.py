"""Start the devices of a chair: real transports for a real chair; for a simulated chair,
whatever `SimulatedChairStarter` the entry point injected.

`monitord/` imports nothing from `simulators/` (design.md section 2, issue 15): simulated
devices are attached from outside. The command line's entry points that can play a
simulated chair (`run`, `demo`) pass `monitord.simulators.chair.start_simulated_chair`, which puts
real simulators (a pty speaking the device's wire format, a BLE GATT peripheral on an
in-process virtual link) behind the real serial or bleak transport built here by
`device_runner`, so a simulated chair exercises the same code path as hardware.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from monitord.chair import ChairRuntime, DeviceCtx
from monitord.config import DeviceConfig
from monitord.drivers.registry import DRIVERS
from monitord.supervisor import Supervisor

log = logging.getLogger("monitord.devices")

BleBackends = tuple[type, type]


class SimulatedChairStarter(Protocol):
    """Plays a simulated chair: starts its simulators and their transports under `sup`,
    plays its scenario, calls `played()`, then keeps the simulators up until `stop`."""

    def __call__(
        self,
        chair: ChairRuntime,
        sup: Supervisor,
        played: Callable[[], None],
        stop: asyncio.Event,
    ) -> Awaitable[None]: ...


def device_runner(dev: DeviceConfig, ctx: DeviceCtx, **kw: Any) -> Callable[[], Awaitable[None]]:
    """The transport task of one device (serial or BLE, as its driver says). The chair's
    engine is told which, for the advice of the device's `tech.device_lost` (every device
    of a real or simulated chair starts here)."""
    desc = DRIVERS[dev.driver]
    ctx.chair_rt.engine.set_transport(ctx.chair, dev.id, desc.transport)
    if desc.transport == "serial":
        from monitord.drivers.serial_link import run_serial_device

        return lambda: run_serial_device(dev, desc, ctx, **kw)
    from monitord.drivers.ble_link import run_ble_device

    return lambda: run_ble_device(dev, desc, ctx, **kw)


def start_real_devices(
    chair: ChairRuntime, sup: Supervisor, ble_backends: BleBackends | None = None
) -> None:
    for dev in chair.cfg.devices:
        ctx = DeviceCtx(chair, dev.id)
        # Until a link reports up, the device counts as down: a monitor that never
        # connects raises tech.device_lost after the usual 30 s.
        ctx.link(False, "not connected yet")
        kw: dict[str, Any] = {}
        if ble_backends is not None and DRIVERS[dev.driver].transport == "ble":
            client, scanner = ble_backends
            kw = {"client_backend": client, "scanner_backend": scanner}
        sup.spawn(f"device:{chair.cfg.id}/{dev.id}", device_runner(dev, ctx, **kw))
