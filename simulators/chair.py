"""Play a simulated chair inside the daemon: the `SimulatedChairStarter` that the command
line's entry points (`monitord run`, `monitord demo`) and the tests give the daemon
(monitord/devices.py).

Each device with `simulate = "scenario.jsonl"` gets a real simulator that the real
transport connects to: serial devices a pty speaking the device's wire format (behind a
stable symlink re-pointed on every replug, as udev's /dev/serial/by-id), BLE devices a
GATT peripheral on one in-process virtual link per chair. The chair's scenario player
(simulators/player.py) then drives the simulators on the chair's virtual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitord.chair import ChairRuntime, DeviceCtx
from monitord.config import Config, DeviceConfig
from monitord.devices import device_runner
from monitord.drivers.registry import DRIVERS
from monitord.drivers.tap import Direction
from monitord.models import utc
from monitord.simulators.player import ChairPlayer
from monitord.supervisor import Supervisor


def simulator_problems(cfg: Config) -> list[str]:
    """One line per serial driver of a simulated device whose descriptor names no usable
    simulator (`simulator=`), as `monitord simulate` says it; [] when all are usable."""
    from monitord.simulators.serial_sims import SimulatorEntryError, simulator_class

    problems: list[str] = []
    drivers = {d.driver for c in cfg.chairs for d in c.devices if d.simulate is not None}
    for name in sorted(drivers):
        if DRIVERS[name].transport != "serial":
            continue
        try:
            simulator_class(name)
        except (SimulatorEntryError, ValueError) as e:
            problems.append(str(e))
    return problems


def _quiet(dev: DeviceConfig) -> DeviceConfig:
    """A scenario-driven simulator speaks only when the scenario says so, and the player
    may hold the virtual clock while another device reconnects: wall-time silence means
    nothing there (link loss is played by `drop_link()`), unless the config sets one."""
    return dev if dev.silence_s else dev.model_copy(update={"silence_s": 86400.0})


class PortOpened:
    """A transport tap (monitord/drivers/tap.py) that only notes when the daemon has the
    port open. pyserial flushes a port's input when it opens it, as a real port drops what
    a device sent before anyone listened: a scenario's first bytes, written by a simulator
    before the transport had opened its pty, were lost (the first reading missing from a
    short scenario, once in a CI run)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def connected(self, name: str | None, address: str) -> None:
        self.event.set()

    def chunk(self, direction: Direction, data: bytes, char: str | None = None) -> None:
        pass

    def disconnected(self, reason: str) -> None:
        pass


def _pty_line(dev: DeviceConfig) -> DeviceConfig:
    """A simulated serial device is reached over a pty, which carries no parity bit (Linux
    refuses odd or even parity on one): it runs 8N1 whatever its driver's line settings."""
    return dev.with_settings(parity="N")


async def start_simulated_chair(
    chair: ChairRuntime, sup: Supervisor, played: Callable[[], None], stop: asyncio.Event
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        sims: dict[str, Any] = {}
        opened: dict[str, PortOpened] = {}
        ble_link: Any = None
        links_dir: Path | None = None
        for dev in chair.cfg.devices:
            desc = DRIVERS[dev.driver]
            ctx = DeviceCtx(chair, dev.id)
            if desc.transport == "serial":
                from monitord.simulators.serial_sims import make_sim_device

                # A stable name, re-pointed on every replug, as udev's /dev/serial/by-id.
                if links_dir is None:
                    links_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                sim: Any = await stack.enter_async_context(
                    make_sim_device(dev.driver, symlink=links_dir / dev.id, repeat=False)
                )
                opened[dev.id] = PortOpened()
                run = device_runner(_quiet(_pty_line(dev)), ctx, port=sim.port, tap=opened[dev.id])
            else:
                from monitord.drivers.ble_link import LinkTiming
                from monitord.simulators import ble as ble_sims

                if ble_link is None:
                    ble_link = ble_sims.VirtualBleLink()  # one shared "air" per chair
                start = utc(getattr(chair.clock, "start", time.time()))
                sim, run_dev = ble_sims.attach_simulated(dev, chair.cfg.id, ble_link, start)
                sim = await stack.enter_async_context(sim)
                client, scanner = ble_sims.backends(ble_link)
                # Its name is unique on this chair's own link (attach_simulated): no second
                # advertiser to listen for after it (drivers/ble_find.py), whose 3 s per
                # connection an episodic cuff played 10x fast paid as 30 s of scenario.
                timing = LinkTiming(name_window_s=0.0)
                run = device_runner(
                    _quiet(run_dev),
                    ctx,
                    client_backend=client,
                    scanner_backend=scanner,
                    timing=timing,
                )
            sims[dev.id] = sim
            task = f"device:{chair.cfg.id}/{dev.id}"
            if task in sup.tasks:  # the player restarted: its old transport is gone too
                sup.cancel(task)
            sup.spawn(task, run)
        player = ChairPlayer(chair, sims, {d: o.event for d, o in opened.items()})
        await player.play()
        played()
        # Keep the simulators (and so the links) up until the daemon stops.
        await stop.wait()
