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

The scenario reader here is deliberately small and private; monitord/scenario.py (pydantic
models) will replace it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitord.cli import EX_DATAERR, EX_OK, EX_SOFTWARE, EX_USAGE
from monitord.drivers.registry import DRIVERS as _REGISTRY
from monitord.models import Kind
from monitord.simulators.base import SimEvent

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


class ScenarioError(Exception):
    pass


def _num(rec: dict[str, Any], key: str, line: int, required: bool = False) -> float | None:
    v = rec.get(key)
    if v is None:
        if required:
            raise ScenarioError(f"line {line}: {rec.get('event')!r} needs {key!r}")
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ScenarioError(f"line {line}: {key!r} must be a number")
    return float(v)


def read_scenario(path: Path) -> list[_Step]:
    steps: list[_Step] = []
    last_t = 0.0
    # Lines end at \n only, as in `monitord replay` (a U+2028 inside a JSON string is valid
    # and a form feed must not shift line numbers).
    for n, raw in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as e:
            raise ScenarioError(f"line {n}: not JSON: {e.msg}") from None
        except RecursionError:
            raise ScenarioError(f"line {n}: nested too deeply") from None
        if not isinstance(rec, dict) or "event" not in rec:
            raise ScenarioError(f"line {n}: needs an object with 'event'")
        t = _num(rec, "t", n, required=True)
        assert t is not None
        if t < last_t:
            raise ScenarioError(f"line {n}: t={t:g} goes back in time")
        last_t = t
        ev = rec["event"]
        sim: SimEvent | None = None
        if ev == "bp":
            sim = SimEvent(
                Kind.BP,
                {
                    "sys_mmHg": _num(rec, "sys", n, required=True),
                    "dia_mmHg": _num(rec, "dia", n, required=True),
                    "map_mmHg": _num(rec, "map", n),
                    "pulse_bpm": _num(rec, "pulse", n),
                },
                error=bool(rec.get("error", False)),
            )
        elif ev == "hr":
            contact = rec.get("contact")
            sim = SimEvent(
                Kind.HR,
                {"hr_bpm": _num(rec, "hr", n, required=True)},
                contact=None if contact is None else bool(contact),
            )
        elif ev == "spo2":
            sim = SimEvent(
                Kind.SPO2,
                {
                    "spo2_pct": _num(rec, "spo2", n, required=True),
                    "pulse_bpm": _num(rec, "pulse", n),
                },
                contact=False if rec.get("probe_off") else None,
            )
        steps.append(_Step(t, str(ev), sim))
    return steps


async def _play(args: argparse.Namespace, steps: list[_Step]) -> int:
    from monitord.simulators.serial_sims import make_sim_device

    sim = make_sim_device(args.driver, symlink=args.link, socket_port=args.socket, speed=args.speed)
    loop = asyncio.get_running_loop()
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
    except OSError as e:
        print(
            f"monitord simulate: {args.scenario}: cannot read: {e.strerror or e}", file=sys.stderr
        )
        return EX_DATAERR
    except ScenarioError as e:
        print(f"monitord simulate: {args.scenario}: {e}", file=sys.stderr)
        return EX_DATAERR
    from monitord.simulators.serial_sims import SimulatorEntryError, simulator_class

    try:
        simulator_class(args.driver)  # a broken registry entry: one line, not a traceback
    except SimulatorEntryError as e:
        print(f"monitord simulate: {e}", file=sys.stderr)
        return EX_SOFTWARE
    return asyncio.run(_play(args, steps))
