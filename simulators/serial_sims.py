"""Factory for the serial device simulators, by driver name."""

from __future__ import annotations

from pathlib import Path

from simulators._serial_base import SerialSim
from simulators.base import SimDevice
from simulators.intellivue import IntelliVueSim
from simulators.masimo import MasimoSim
from simulators.nonin import NoninSim

SIMULATORS: dict[str, type[SerialSim]] = {
    "masimo-ascii": MasimoSim,
    "nonin-2": NoninSim,
    "intellivue": IntelliVueSim,
}


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
    try:
        cls = SIMULATORS[driver_name]
    except KeyError:
        raise ValueError(
            f"no serial simulator for driver {driver_name!r} (have: {', '.join(SIMULATORS)})"
        ) from None
    sim: SimDevice = cls(symlink=symlink, socket_port=socket_port, speed=speed, repeat=repeat)
    return sim
