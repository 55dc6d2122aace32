"""`monitord decode --file CAPTURE`: decode a `monitord capture` file as the daemon would
(monitord/capture_replay.py). One JSON object per reading, in order, with `t` (receive
time, seconds from the capture's start) and design.md section 4 field names; a rejected
piece prints `{"t", "rejected", "reason"}` and one line on stderr, and the exit code is 65,
as for `decode --profile`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from monitord.cli import EX_DATAERR, EX_OK, EX_USAGE
from monitord.drivers.base import Reject


def _say(line: str, stream: TextIO | None = None) -> None:
    """One line, one write. The capture's replay logs what the daemon would (a Masimo's
    `SN=` changed, a BLE device at another address: WARNING), and the log's own thread
    (monitord/logwriter.py) writes those lines while the readings are printed; `print`
    writes a line's text and its newline apart (two writes under PYTHONUNBUFFERED=1), so
    a log line landed inside a reading's JSON (`...}WARNING monitord.drivers...`) on
    stderr's rejects, and on stdout where both are one file (`2>&1 | less`)."""
    out = sys.stdout if stream is None else stream
    out.write(line + "\n")
    out.flush()


def main_file(args: argparse.Namespace) -> int:
    if args.file is None or args.profile is not None or args.data:
        _say("monitord decode: give either --profile NAME DATA... or --file CAPTURE", sys.stderr)
        return EX_USAGE
    from monitord.capture_replay import replay
    from monitord.capturefile import CaptureError, read_capture, reading_record

    try:
        cap = read_capture(args.file)
        if cap.cut_short:
            _say(
                f"monitord decode: {args.file}: the last line is incomplete (capture cut "
                "short): decoded up to it",
                sys.stderr,
            )
        # `--name` (where decode has it) stands for the advertised name of a BLE capture
        out = replay(cap, getattr(args, "name", None))
    except OSError as e:
        _say(f"monitord decode: {args.file}: cannot read: {e.strerror or e}", sys.stderr)
        return EX_DATAERR
    except CaptureError as e:
        _say(f"monitord decode: {args.file}: {e}", sys.stderr)
        return EX_DATAERR
    rc = EX_OK
    for t, item in out:
        if isinstance(item, Reject):
            _say(json.dumps({"t": t, "rejected": str(item.reason), "reason": item.detail}))
            _say(f"monitord decode: {args.file}: t={t:g}: rejected: {item}", sys.stderr)
            rc = EX_DATAERR
        else:
            _say(json.dumps(reading_record(item, t)))
    return rc
