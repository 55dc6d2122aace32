"""Start each device of a chair: a real transport, or a simulator plus the real transport.

Simulated devices (`simulate = "scenario.jsonl"`) are real simulators (a pty speaking the
device's wire format, a BLE GATT peripheral on an in-process virtual link) that the real
serial or bleak transport connects to, so a simulated chair exercises the same code path
as hardware. The chair's scenario player then drives the simulators.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.registry import DRIVERS
from monitord.config import DeviceConfig
from monitord.models import utc
from monitord.supervisor import Supervisor

if TYPE_CHECKING:
    from monitord.daemon import ChairRuntime, Daemon

log = logging.getLogger("monitord.devices")


def _runner(dev: DeviceConfig, ctx: Any, **kw: Any) -> Any:
    desc = DRIVERS[dev.driver]
    if desc.transport == "serial":
        from drivers.serial_link import run_serial_device

        return lambda: run_serial_device(dev, desc, ctx, **kw)
    from drivers.ble_link import run_ble_device

    return lambda: run_ble_device(dev, desc, ctx, **kw)


def _quiet(dev: DeviceConfig) -> DeviceConfig:
    """A scenario-driven simulator speaks only when the scenario says so, and the player
    may hold the virtual clock while another device reconnects: wall-time silence means
    nothing there (link loss is played by `drop_link()`), unless the config sets one."""
    return dev if dev.silence_s else dev.model_copy(update={"silence_s": 86400.0})


def _pty_line(dev: DeviceConfig) -> DeviceConfig:
    """A simulated serial device is reached over a pty, which carries no parity bit (Linux
    refuses odd or even parity on one): it runs 8N1 whatever its driver's line settings."""
    return dev.with_settings(parity="N")


async def start_devices(daemon: Daemon, chair: ChairRuntime, sup: Supervisor) -> None:
    from monitord.daemon import DeviceCtx

    if not chair.cfg.simulated:
        for dev in chair.cfg.devices:
            ctx = DeviceCtx(chair, dev.id)
            # Until a link reports up, the device counts as down: a monitor that never
            # connects raises tech.device_lost after the usual 30 s.
            ctx.link(False, "not connected yet")
            kw: dict[str, Any] = {}
            if daemon.ble_backends is not None and DRIVERS[dev.driver].transport == "ble":
                client, scanner = daemon.ble_backends
                kw = {"client_backend": client, "scanner_backend": scanner}
            sup.spawn(f"device:{chair.cfg.id}/{dev.id}", _runner(dev, ctx, **kw))
        return
    sup.spawn(f"player:{chair.cfg.id}", lambda: _simulated_chair(daemon, chair, sup))


async def _simulated_chair(daemon: Daemon, chair: ChairRuntime, sup: Supervisor) -> None:
    from monitord.daemon import DeviceCtx
    from simulators.player import ChairPlayer

    async with contextlib.AsyncExitStack() as stack:
        sims: dict[str, Any] = {}
        ble_link: Any = None
        links_dir: Path | None = None
        for dev in chair.cfg.devices:
            desc = DRIVERS[dev.driver]
            ctx = DeviceCtx(chair, dev.id)
            if desc.transport == "serial":
                from simulators.serial_sims import make_sim_device

                # A stable name, re-pointed on every replug, as udev's /dev/serial/by-id.
                if links_dir is None:
                    links_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                sim: Any = await stack.enter_async_context(
                    make_sim_device(dev.driver, symlink=links_dir / dev.id, repeat=False)
                )
                run = _runner(_quiet(_pty_line(dev)), ctx, port=sim.port)
            else:
                from simulators import ble as ble_sims

                if ble_link is None:
                    ble_link = ble_sims.VirtualBleLink()  # one shared "air" per chair
                start = utc(getattr(chair.clock, "start", time.time()))
                sim, run_dev = ble_sims.attach_simulated(dev, chair.cfg.id, ble_link, start)
                sim = await stack.enter_async_context(sim)
                client, scanner = ble_sims.backends(ble_link)
                run = _runner(_quiet(run_dev), ctx, client_backend=client, scanner_backend=scanner)
            sims[dev.id] = sim
            task = f"device:{chair.cfg.id}/{dev.id}"
            if task in sup.tasks:  # the player restarted: its old transport is gone too
                sup.cancel(task)
            sup.spawn(task, run)
        player = ChairPlayer(chair, sims)
        await player.play()
        daemon.player_done()
        # Keep the simulators (and so the links) up until the daemon stops.
        await chair.daemon.stop_event.wait()
