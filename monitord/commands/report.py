"""`monitord report`: the session monitoring record (REMS Patient Monitoring Form data) as
a one-page PDF, an HTML page and a CSV, from the local store.

    monitord report --session chair-1-1715000000 [--db PATH | --config PATH] [--out DIR]
    monitord report --chair chair-1 --date 2024-05-06 ...

Prints the paths written, one per line. Read-only on the store: safe while the daemon runs.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from monitord.cli import EX_CONFIG, EX_DATAERR, EX_OK
from monitord.config import ConfigError, StorageConfig, load_config
from monitord.outbox import Outbox, OutboxError

EX_NOINPUT = 66  # sysexits.h: no such session / no store


def add_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", metavar="ID", help="one session by its id")
    which.add_argument("--chair", metavar="ID", help="every session of a chair on --date")
    p.add_argument(
        "--date", metavar="YYYY-MM-DD", help="UTC day the sessions started (with --chair)"
    )
    p.add_argument("--db", type=Path, help="outbox file (overrides the config's storage.path)")
    p.add_argument(
        "--out", type=Path, default=Path("reports"), help="output directory (default: %(default)s)"
    )


def write_reports(
    db: Path,
    out: Path,
    session_id: str | None = None,
    chair: str | None = None,
    day: date | None = None,
    since_t: float | None = None,
) -> list[Path]:
    """Reports for the matching sessions (or, with neither id nor chair, every session that
    started at or after `since_t`). Raises OutboxError / NoSuchSession."""
    from monitord.report import find_spans, record_for, session_spans
    from monitord.report.render import write_all

    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        spans = session_spans(ob)
        if session_id is not None or chair is not None:
            spans = find_spans(spans, session_id, chair, day)
        elif since_t is not None:
            spans = [s for s in spans if s.start_t >= since_t]
        records = [record_for(ob, s) for s in spans]
    paths: list[Path] = []
    for rec in records:
        paths += write_all(rec, out)
    return paths


def main(args: argparse.Namespace) -> int:
    from monitord.report import NoSuchSession

    day: date | None = None
    if args.chair is not None:
        if args.date is None:
            print("monitord report: --chair needs --date YYYY-MM-DD", file=sys.stderr)
            return EX_DATAERR
        try:
            day = date.fromisoformat(args.date)
        except ValueError:
            print(f"monitord report: --date {args.date!r}: not YYYY-MM-DD", file=sys.stderr)
            return EX_DATAERR
    db: Path | None = args.db
    if db is None:
        try:
            db = load_config(args.config).storage.path
        except ConfigError as e:
            for line in e.lines:
                print(line, file=sys.stderr)
            return EX_CONFIG
    try:
        paths = write_reports(db, args.out, args.session, args.chair, day)
    except (OutboxError, NoSuchSession) as e:
        print(f"monitord report: {e}", file=sys.stderr)
        return EX_NOINPUT
    for p in paths:
        print(p)
    return EX_OK
