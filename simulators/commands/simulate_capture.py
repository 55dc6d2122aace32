"""`monitord simulate --capture FILE`: play a serial capture back on a pty or socket
(simulators/capture_play.py). The first stdout line is the port to open, as for a
scenario; exit 0 when the capture is played out, 65 on a bad file, 64 on bad usage."""

from __future__ import annotations

import argparse
import asyncio
import sys

from monitord.cli import EX_DATAERR, EX_OK, EX_USAGE


async def _play(args: argparse.Namespace, capture: object) -> int:
    from monitord.capturefile import Capture
    from monitord.simulators.capture_play import SerialCapturePlayer

    assert isinstance(capture, Capture)
    player = SerialCapturePlayer(
        capture, symlink=args.link, socket_port=args.socket, speed=args.speed
    )
    async with player:
        print(player.port, flush=True)
        print(f"playing {args.capture} ({capture.driver}) at {args.speed:g}x", file=sys.stderr)
        await player.play()
        # keep the port up a little so that the daemon reads the last bytes
        await asyncio.sleep(max(1.0, 2.0 / args.speed))
    print(f"played {player.chunks_sent} chunk(s)", file=sys.stderr)
    return EX_OK


def main_capture(args: argparse.Namespace) -> int:
    if args.capture is None or args.scenario is not None or args.driver is not None:
        print(
            "monitord simulate: give either --driver NAME SCENARIO or --capture FILE",
            file=sys.stderr,
        )
        return EX_USAGE
    from monitord.capturefile import CaptureError, read_capture

    try:
        capture = read_capture(args.capture)
    except OSError as e:
        print(f"monitord simulate: {args.capture}: cannot read: {e.strerror or e}", file=sys.stderr)
        return EX_DATAERR
    except CaptureError as e:
        print(f"monitord simulate: {args.capture}: {e}", file=sys.stderr)
        return EX_DATAERR
    if capture.transport != "serial":
        print(
            f"monitord simulate: {args.capture}: a BLE capture plays on the in-process "
            "virtual link only (monitord.simulators.capture_play.BleCapturePlayer)",
            file=sys.stderr,
        )
        return EX_USAGE
    return asyncio.run(_play(args, capture))
