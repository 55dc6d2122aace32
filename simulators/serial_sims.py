"""Factory for the serial device simulators, by driver name. Each serial driver names its
simulator in its descriptor (`DriverDescriptor.simulator`), so drivers/registry.py is the
one list of devices, simulated ones included."""

from __future__ import annotations

import importlib
from pathlib import Path

from monitord.drivers.registry import DRIVERS
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimDevice

#: drivers that have a serial simulator, in registry order
SIMULATED: tuple[str, ...] = tuple(
    d.name for d in DRIVERS.values() if d.transport == "serial" and d.simulator
)


class SimulatorEntryError(TypeError):
    """A driver descriptor's `simulator` that names no usable SerialSim; the message names
    the entry and what is wrong with it, in one line."""


def _entry(driver_name: str, entry: str) -> object:
    """What descriptor entry `simulator="module:Class"` names. A typo in it ended `monitord
    simulate` in an AttributeError traceback, far from the descriptor that held it."""
    module, colon, name = entry.partition(":")
    where = f"driver {driver_name!r}: its descriptor's simulator={entry!r}"
    if not (colon and module and name):
        raise SimulatorEntryError(f"{where} is not 'monitord.simulators.<module>:Class'")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        # Only the named module (or a package of its path) missing is the entry's fault;
        # a module the simulator itself imports is missing is not: raised as it is.
        if e.name is None or not (module == e.name or module.startswith(f"{e.name}.")):
            raise
        raise SimulatorEntryError(f"{where}: no module {module}") from None
    if not hasattr(mod, name):
        raise SimulatorEntryError(f"{where}: {module} has no {name}")
    cls: object = getattr(mod, name)
    return cls


def simulator_class(driver_name: str) -> type[SerialSim]:
    """The simulator class a serial driver names (ValueError for one without)."""
    desc = DRIVERS.get(driver_name)
    if desc is None or desc.transport != "serial" or not desc.simulator:
        raise ValueError(
            f"no serial simulator for driver {driver_name!r} (have: {', '.join(SIMULATED)})"
        )
    cls = _entry(driver_name, desc.simulator)
    if not (isinstance(cls, type) and issubclass(cls, SerialSim)):
        raise SimulatorEntryError(f"{desc.simulator} (driver {driver_name!r}) is not a SerialSim")
    # The scenario player hands a simulator only the events of its `kinds`: one that
    # forgot them (SerialSim's are ()) wrote nothing, silently, in `monitord simulate`
    # and in a simulated chair.
    if set(cls.kinds) != set(desc.kinds):
        plays = ", ".join(cls.kinds) or "(none)"
        raise SimulatorEntryError(
            f"{desc.simulator} (driver {driver_name!r}) plays kinds {plays}, its driver's "
            f"descriptor has {', '.join(desc.kinds)}: set the simulator's `kinds` to the "
            "descriptor's"
        )
    return cls


def make_sim_device(
    driver_name: str,
    *,
    symlink: Path | None = None,
    socket_port: int | None = None,
    speed: float = 1.0,
    repeat: bool = True,
) -> SimDevice:
    """A simulator for `driver_name` on a new pty (kept pointed at by `symlink` if given)
    or, with `socket_port` (0 = any free port), on `socket://127.0.0.1:PORT`. Its `.port`
    is the path/URL the daemon should open, valid once entered (`async with`)."""
    cls = simulator_class(driver_name)
    sim: SimDevice = cls(symlink=symlink, socket_port=socket_port, speed=speed, repeat=repeat)
    return sim
