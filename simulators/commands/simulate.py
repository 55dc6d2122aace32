"""`monitord simulate --driver NAME [--link PATH] [--socket PORT] [--speed S] SCENARIO`
`monitord simulate --capture FILE [--link PATH] [--socket PORT] [--speed S]`

Runs one serial device simulator and plays the scenario's bp/hr/spo2 events (design.md
section 5) in real time divided by `--speed`. The first line of stdout is the port to
open (the pty path, the `--link` symlink, or `socket://127.0.0.1:PORT`); progress goes to
stderr. Exits 0 at the end of the scenario (or on Ctrl-C), 65 on a bad scenario line, 70
with one line when the driver's descriptor names no usable simulator (`simulator=`).

With `--capture`, a serial `monitord capture` file is played back instead
(simulators/capture_play.py): the recorded bytes, timing divided by `--speed`, starting
when the daemon opens the port.

Scenario lines are read by monitord/scenario.py, the reader of `monitord replay`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitord.cli import EX_DATAERR, EX_OK, EX_SOFTWARE, EX_USAGE
from monitord.drivers.registry import DRIVERS as _REGISTRY
from monitord.scenario import ScenarioError, ScenarioFile
from monitord.simulators.base import SimDevice, SimEvent
from monitord.simulators.player import sim_event

# the serial drivers that name a simulator (drivers/registry.py is the one list)
DRIVERS = tuple(d.name for d in _REGISTRY.values() if d.transport == "serial" and d.simulator)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--driver", choices=DRIVERS, help="device protocol to speak (with SCENARIO)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--link", type=Path, help="keep this symlink pointed at the pty")
    g.add_argument("--socket", type=int, metavar="PORT", help="serve socket://127.0.0.1:PORT")
    p.add_argument("--speed", type=float, default=1.0, help="play S times faster (default 1)")
    p.add_argument("scenario", type=Path, nargs="?", help="scenario file (JSON Lines)")
    p.add_argument(
        "--capture",
        type=Path,
        metavar="FILE",
        help="play a serial `monitord capture` file back (instead of --driver and SCENARIO)",
    )


@dataclass(frozen=True, slots=True)
class _Step:
    t: float
    event: str
    sim: SimEvent | None = None


def read_scenario(path: Path) -> list[_Step]:
    """The scenario's steps, read by the contract's reader (monitord/scenario.py, as
    `monitord replay` and a simulated chair read it). A reader of its own let through
    what the contract refuses, in silence: an unknown event (not played), a misspelt
    field (`probe_of`: the finger out never sent), a string for a bool (`"no"` read as
    true); and it refused a cuff error (`"error": true`) for want of `sys`."""
    steps: list[_Step] = []
    for ev in ScenarioFile(path):
        # A simulated device has no memory to push: a stored record is not played, as
        # in a simulated chair (docs/scenarios.md).
        sim = None if getattr(ev, "stored", False) else sim_event(ev)
        steps.append(_Step(ev.t, ev.event, sim))
    return steps


async def _play(args: argparse.Namespace, steps: list[_Step]) -> int:
    from monitord.simulators.serial_sims import make_sim_device

    sim = make_sim_device(args.driver, symlink=args.link, socket_port=args.socket, speed=args.speed)
    loop = asyncio.get_running_loop()
    # `kill` (SIGTERM, a service manager's stop) ended the process without closing the
    # device: its --link stayed, pointing at a /dev/pts number the kernel hands to the next
    # pty opened, so a daemon or `monitord doctor` configured with the link found another
    # program's terminal there ("present and in use"). Stopped so, the play is cancelled
    # and the device closed as at the scenario's end, which removes the link.
    task = asyncio.current_task()
    terminated = False

    def on_sigterm() -> None:
        nonlocal terminated
        terminated = True
        if task is not None:
            task.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        return await _play_steps(sim, args, steps, loop)
    except asyncio.CancelledError:
        if not terminated:
            raise
        print("monitord simulate: stopped (SIGTERM)", file=sys.stderr)
        return EX_OK
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def _play_steps(
    sim: SimDevice, args: argparse.Namespace, steps: list[_Step], loop: asyncio.AbstractEventLoop
) -> int:
    async with sim:
        print(getattr(sim, "port", ""), flush=True)
        start_wall = loop.time()
        start_clock = datetime.now(UTC)
        for step in steps:
            delay = start_wall + step.t / args.speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            at = start_clock + timedelta(seconds=step.t)
            if step.sim is not None and step.sim.kind in sim.kinds:
                await sim.send(step.sim, at)
                print(f"t={step.t:g} {step.event} {dict(step.sim.values)}", file=sys.stderr)
            elif step.event == "device_lost":
                await sim.drop_link()
                print(f"t={step.t:g} link dropped", file=sys.stderr)
            elif step.event == "device_back":
                await sim.restore_link()
                print(f"t={step.t:g} link restored", file=sys.stderr)
        # keep answering a little after the last event so the daemon sees it
        await asyncio.sleep(max(1.0, 2.0 / args.speed))
    return EX_OK


def main(args: argparse.Namespace) -> int:
    if not 0 < args.speed < float("inf"):  # NaN and inf played the whole scenario at once
        # A bad option, not a bad scenario line (65): 64 as the other usage errors.
        print(f"monitord simulate: --speed {args.speed:g}: must be > 0 and finite", file=sys.stderr)
        return EX_USAGE
    if args.capture is not None or args.scenario is None or args.driver is None:
        from monitord.simulators.commands.simulate_capture import main_capture

        return main_capture(args)
    try:
        steps = read_scenario(args.scenario)
    except ScenarioError as e:  # its text starts with the file (and the line)
        print(f"monitord simulate: {e}", file=sys.stderr)
        return EX_DATAERR
    from monitord.simulators.serial_sims import SimulatorEntryError, simulator_class

    try:
        simulator_class(args.driver)  # a broken registry entry: one line, not a traceback
    except SimulatorEntryError as e:
        print(f"monitord simulate: {e}", file=sys.stderr)
        return EX_SOFTWARE
    return asyncio.run(_play(args, steps))
