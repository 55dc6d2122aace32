"""`monitord decode --profile NAME [--name "ADVERTISED NAME"] DATA...`: one JSON object per
payload, exit 65 on a reject. `--name` applies the quirks of the model that name selects
(docs/devices.md), so a customer's capture decodes exactly as the daemon decoded it."""

from __future__ import annotations

import argparse
import json
import sys

from drivers.base import Reject, RejectReason
from drivers.registry import PROFILES
from monitord.cli import EX_DATAERR, EX_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", required=True, choices=sorted(PROFILES), help="payload format")
    p.add_argument(
        "--name",
        metavar="ADVERTISED_NAME",
        help="the device's advertised name: apply its model's quirks, as the daemon does",
    )
    p.add_argument("data", nargs="+", help="hex (spaces allowed) or one text line per argument")


def parse_hex(text: str) -> bytes | Reject:
    cleaned = "".join(text.split()).removeprefix("0x")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        return Reject(RejectReason.BAD_FORMAT, f"not hex: {text!r}")


def main(args: argparse.Namespace) -> int:
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
