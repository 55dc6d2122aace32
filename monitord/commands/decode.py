"""`monitord decode --profile NAME [--name "ADVERTISED NAME"] DATA...`: one JSON object per
payload, exit 65 on a reject. `--name` applies the quirks of the model that name selects
(docs/devices.md), so a customer's capture decodes exactly as the daemon decoded it.
`monitord decode --file CAPTURE`: a `monitord capture` file (monitord/commands/decode_file.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monitord.cli import EX_DATAERR, EX_OK
from monitord.drivers.base import Reject, RejectReason
from monitord.drivers.registry import PROFILES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=sorted(PROFILES), help="payload format")
    p.add_argument(
        "--name",
        metavar="ADVERTISED_NAME",
        help="the device's advertised name: apply its model's quirks, as the daemon does",
    )
    p.add_argument("data", nargs="*", help="hex (spaces allowed) or one text line per argument")
    p.add_argument(
        "--file",
        type=Path,
        help="decode a `monitord capture` file as the daemon would (instead of --profile)",
    )


def parse_hex(text: str) -> bytes | Reject:
    cleaned = "".join(text.split()).removeprefix("0x")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        return Reject(RejectReason.BAD_FORMAT, f"not hex: {text!r}")


def main(args: argparse.Namespace) -> int:
    if args.file is not None or args.profile is None or not args.data:
        from monitord.commands.decode_file import main_file

        return main_file(args)
    profile = PROFILES[args.profile]
    name: str | None = args.name
    if name is not None:
        if profile.quirks_for_name is None:
            print(
                f"monitord decode: {args.profile} has no model quirks; --name changes nothing",
                file=sys.stderr,
            )
            name = None
        else:
            quirks = profile.quirks_for_name(name)
            print(
                f"monitord decode: {name!r}: quirks {', '.join(sorted(quirks)) or 'none'}",
                file=sys.stderr,
            )
    rc = EX_OK
    for arg in args.data:
        data = parse_hex(arg) if profile.input == "hex" else arg.encode("utf-8", "replace")
        result = data if isinstance(data, Reject) else profile.decode_as(data, name)
        if isinstance(result, Reject):
            print(
                json.dumps({"rejected": str(result.reason), "reason": result.detail, "input": arg})
            )
            print(f"monitord decode: {args.profile}: rejected {arg!r}: {result}", file=sys.stderr)
            rc = EX_DATAERR
            continue
        for rec in result:
            print(json.dumps(rec))
    return rc
