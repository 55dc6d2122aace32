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

from monitord.cli import EX_DATAERR, EX_OK, EX_USAGE
from monitord.drivers.base import Reject


def main_file(args: argparse.Namespace) -> int:
    if args.file is None or args.profile is not None or args.data:
        print(
            "monitord decode: give either --profile NAME DATA... or --file CAPTURE",
            file=sys.stderr,
        )
        return EX_USAGE
    from monitord.capture_replay import replay
    from monitord.capturefile import CaptureError, read_capture, reading_record

    try:
        cap = read_capture(args.file)
        if cap.cut_short:
            print(
                f"monitord decode: {args.file}: the last line is incomplete (capture cut "
                "short): decoded up to it",
                file=sys.stderr,
            )
        # `--name` (where decode has it) stands for the advertised name of a BLE capture
        out = replay(cap, getattr(args, "name", None))
    except OSError as e:
        print(f"monitord decode: {args.file}: cannot read: {e.strerror or e}", file=sys.stderr)
        return EX_DATAERR
    except CaptureError as e:
        print(f"monitord decode: {args.file}: {e}", file=sys.stderr)
        return EX_DATAERR
    rc = EX_OK
    for t, item in out:
        if isinstance(item, Reject):
            print(json.dumps({"t": t, "rejected": str(item.reason), "reason": item.detail}))
            print(f"monitord decode: {args.file}: t={t:g}: rejected: {item}", file=sys.stderr)
            rc = EX_DATAERR
        else:
            print(json.dumps(reading_record(item, t)))
    return rc
