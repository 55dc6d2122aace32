"""`monitord capture --config PATH --device CHAIR/DEVICE --out FILE [--seconds N]`

Records what one configured device sends, for field support: serial bytes as the port
delivered them (and the polls we wrote), BLE notifications/indications with their
characteristic, each with its receive time (file format: monitord/capturefile.py,
docs/devices.md "Field captures"). The device runs its normal protocol through the
daemon's own transport and decoder (an IntelliVue is associated and polled), and each
reading decoded live is printed on stdout as `monitord decode --file` prints it.

Stop with Ctrl-C / SIGTERM / SIGHUP, or after `--seconds N`. The daemon must not hold the device
meanwhile (a serial port is opened exclusively; a BLE device takes one central).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from monitord import __version__, hangup
from monitord.capturefile import CaptureWriter, reading_record
from monitord.cli import EX_CANTCREAT, EX_OK, EX_USAGE, MAX_CAPTURE_SECONDS, bad_seconds
from monitord.drivers.base import Reject
from monitord.models import Reading

EX_IOERR = 74

DESCRIPTION = """\
Record what a device sends into FILE (JSON Lines: a header, then one record per serial
chunk or BLE value with its receive time; see docs/devices.md "Field captures").
The device runs its normal protocol (an IntelliVue is associated and polled) and each
reading decoded live is printed on stdout. Replay the file with
`monitord decode --file FILE` or `monitord simulate --capture FILE`.
Stop the daemon first: it holds the device. FILE must not exist yet."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = DESCRIPTION
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--device", required=True, metavar="CHAIR/DEVICE", help="which device")
    p.add_argument(
        "--out", required=True, metavar="FILE", help="capture file to write (must not exist)"
    )
    p.add_argument(
        "--seconds", type=float, metavar="N", help="stop after N seconds (default: Ctrl-C)"
    )


# Said once when the capture's stdout or stderr goes (docs/devices.md, "Field captures").
GONE = "capture: {name} is closed ({why}): no more lines there; the capture records on"


class _Lines:
    """A capture's lines for the person at its terminal (its readings on stdout, its
    status on stderr): each line one write, and a terminal that closed (EIO) ends them,
    never the capture. The log's lines are written by a thread of their own to stderr
    (monitord/logwriter.py): `print` writes a line's text and its newline apart, two
    writes under PYTHONUNBUFFERED=1, and a log line could land between them. A capture
    is left recording for days with its terminal on a chair (`nohup` keeps a terminal's
    output there, a `disown`ed job too): once that terminal closed, the first line written
    raised EIO in the device's link and the capture ended, exit 1, recording nothing more.
    A reader that went away (EPIPE: `| head`) still ends it, as it ends every command."""

    def __init__(self, stream: IO[str] | None, name: str) -> None:
        self.stream = stream
        self.name = name  # stdout, stderr: for the one line said when it goes
        self.gone = stream is None  # started with the descriptor closed

    def say(self, line: str) -> None:
        if self.gone or self.stream is None:
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as e:  # EIO: no one can read this output again
            self.gone = True
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            # The log's stderr may be elsewhere (`2>capture.log`) when stdout went.
            logging.getLogger("monitord").warning(GONE.format(name=self.name, why=why))


@dataclass
class _CaptureContext:
    """`monitord.drivers.base.DeviceContext` for the captured device: readings go to stdout, the
    clock is the receive time of the latest bytes (what the file records)."""

    chair: str
    device: str
    writer: CaptureWriter
    out: _Lines
    err: _Lines
    readings: int = 0
    rejects: int = 0
    links: list[tuple[bool, str]] = field(default_factory=list)

    def emit(self, reading: Reading) -> None:
        self.readings += 1
        self.out.say(json.dumps(reading_record(reading, self.writer.last_t)))

    def reject(self, reject: Reject) -> None:
        self.rejects += 1
        self.out.say(
            json.dumps(
                {"t": self.writer.last_t, "rejected": str(reject.reason), "reason": reject.detail}
            )
        )

    def now(self) -> datetime:
        return self.writer.now()

    def link(self, up: bool, reason: str = "") -> None:
        self.links.append((up, reason))
        self.err.say(
            f"monitord capture: {self.chair}/{self.device}: link {'up' if up else 'down'}"
            + (f" ({reason})" if reason else "")
        )


async def capture(
    args: argparse.Namespace,
    *,
    client_backend: type | None = None,
    scanner_backend: type | None = None,
    stop: asyncio.Event | None = None,
    out: IO[str] | None = None,
) -> int:
    """The command. `client_backend`/`scanner_backend` are bleak backends for BLE devices
    (None: the platform's, BlueZ on the Pi; tests pass monitord.simulators.bleak_bumble's); `stop`
    ends the capture like SIGTERM does."""
    from monitord.config import load_config
    from monitord.drivers.registry import DRIVERS

    lines, err = _Lines(out or sys.stdout, "stdout"), _Lines(sys.stderr, "stderr")
    # The option's own value first: it needs no config nor device to be judged.
    if args.seconds is not None and bad_seconds(
        "capture", "--seconds", args.seconds, MAX_CAPTURE_SECONDS
    ):
        return EX_USAGE
    cfg = load_config(args.config)
    chair_id, _, dev_id = str(args.device).partition("/")
    chair = next((c for c in cfg.chairs if c.id == chair_id), None)
    dev = next((d for d in chair.devices if d.id == dev_id), None) if chair else None
    if chair is None or dev is None:
        have = ", ".join(f"{c.id}/{d.id}" for c in cfg.chairs for d in c.devices) or "none"
        err.say(f"monitord capture: no device {args.device!r} in {args.config} (have: {have})")
        return EX_USAGE
    if dev.simulate is not None:
        err.say(
            f"monitord capture: {args.device} is simulated (simulate = ...): "
            "there is no real device to record"
        )
        return EX_USAGE
    desc = DRIVERS[dev.driver]
    try:
        # closed by the writer; "x": never overwrite an earlier capture
        f = await asyncio.to_thread(open, args.out, "xb", buffering=0)
    except OSError as e:
        err.say(f"monitord capture: {args.out}: cannot create: {e.strerror or e}")
        return EX_CANTCREAT
    loop = asyncio.get_running_loop()
    header: dict[str, Any] = {
        "transport": desc.transport,
        "driver": dev.driver,
        "chair": chair.id,
        "device": dev.id,
        "config": dev.model_dump(
            mode="json", exclude_none=True, exclude={"id", "driver", "simulate", "simulate_speed"}
        ),
        "monitord": __version__,
    }
    stop = stop or asyncio.Event()
    writer = CaptureWriter(f, header, loop.time)
    writer.on_error = lambda _e: stop.set()
    ctx = _CaptureContext(chair.id, dev.id, writer, lines, err)
    if desc.transport == "serial":
        from monitord.drivers.serial_link import run_serial_device

        device = run_serial_device(dev, desc, ctx, tap=writer)
    else:
        from monitord.drivers.ble_link import run_ble_device

        device = run_ble_device(
            dev,
            desc,
            ctx,
            client_backend=client_backend,
            scanner_backend=scanner_backend,
            tap=writer,
        )
    # SIGHUP too (a terminal that closes, or a kill -HUP): Python's default would end the
    # capture without its `end` record or its summary (monitord/hangup.py). Ignored at
    # start (`nohup`), it stays ignored.
    hup = () if hangup.meaning() == "ignored" else (signal.SIGHUP,)
    for sig in (signal.SIGINT, signal.SIGTERM, *hup):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    err.say(f"monitord capture: recording {args.device} into {args.out}")
    task = asyncio.create_task(device, name=f"capture:{args.device}")
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopper}, timeout=args.seconds, return_when="FIRST_COMPLETED")
    finally:
        # Handled to the loop's end, changing nothing, not removed (reset to the default's
        # death): a SIGHUP as the terminal closes after a Ctrl-C ended it without its
        # `end` record (monitord/hangup.py).
        hangup.quiet(loop)
        stopper.cancel()
        task.cancel()
        results = await asyncio.gather(task, stopper, return_exceptions=True)
        writer.close()
    failed = results[0]
    if writer.error is not None:
        err.say(
            f"monitord capture: {args.out}: write failed, capture ends here: "
            f"{writer.error.strerror or writer.error}"
        )
        return EX_IOERR
    if isinstance(failed, Exception):  # a config the transport cannot use (no port ...)
        err.say(f"monitord capture: {args.device}: {failed}")
        return EX_USAGE
    err.say(
        f"monitord capture: {writer.chunks} chunk(s), {ctx.readings} reading(s), "
        f"{ctx.rejects} reject(s) -> {args.out}"
    )
    return EX_OK


def main(args: argparse.Namespace) -> int:
    async def to_exit() -> int:
        try:
            return await capture(args)
        finally:  # a signal after the summary: not a death by it (monitord/hangup.py)
            hangup.to_exit(asyncio.get_running_loop())

    return asyncio.run(to_exit())
