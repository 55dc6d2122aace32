"""`monitord report`: the session monitoring record (Spravato REMS Patient Monitoring Form
data for esketamine; a monitoring record for IV ketamine) as PDF, HTML and two CSVs, from
the local store or, for the whole clinic, from InfluxDB (docs/report.md).

    monitord report --session chair-1-1715000000 [-c PATH | --db PATH] [--out DIR]
    monitord report --chair chair-1 --date 2024-05-06 ...      (local date, [site] timezone)
    monitord report --from influx -c PATH [--chair ID] [--date YYYY-MM-DD]
    monitord report --list [--from influx] [--chair ID] [--date YYYY-MM-DD]

Prints the paths written, one per line (or, with --list, one session per line, its
observation flagged: INCOMPLETE, NOT ENDED, SHORT, CANNOT BE JUDGED or met). Without
the PDF renderer (matplotlib) it writes HTML and CSV and says so in one line on stderr.
Read-only on the store and the database: safe while the daemon runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from monitord.cli import DEFAULT_CONFIG, EX_CANTCREAT, EX_CONFIG, EX_DATAERR, EX_OK, as_root
from monitord.config import ConfigError, StorageConfig, load_config
from monitord.credentials import CredentialMissing
from monitord.engine.rules import RuleSet
from monitord.outbox import Outbox, OutboxError

if TYPE_CHECKING:
    from monitord.report import SessionRecord, SessionSpan
    from monitord.store.outages import Outage

EX_NOINPUT = 66  # sysexits.h: no such session / no store
EX_UNAVAILABLE = 69  # sysexits.h: the database does not answer
NO_PDF_NOTICE = (
    "monitord report: PDF renderer not installed (matplotlib: the monitord[report] extra), "
    "wrote HTML and CSV only; see docs/report.md"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    # No default here (the common one was DEFAULT_CONFIG): `-c /etc/monitord/monitord.toml`
    # typed is named, and refused when missing, as any named config (docs/report.md); it
    # read as the default and was skipped beside --db (the report came out in UTC).
    p.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        default=None,
        help=f"config file (default: {DEFAULT_CONFIG} when there is one)",
    )
    p.add_argument("--session", metavar="ID", help="one session by its id")
    p.add_argument("--chair", metavar="ID", help="sessions of this chair (with --date: that day)")
    p.add_argument(
        "--date", metavar="YYYY-MM-DD", help="local day the sessions started ([site] timezone)"
    )
    p.add_argument("--list", action="store_true", help="list the sessions instead of reporting")
    p.add_argument(
        "--from",
        dest="source",
        choices=("store", "influx"),
        default="store",
        help="read the local store (default) or the config's InfluxDB (every chair of the site)",
    )
    p.add_argument("--db", type=Path, help="outbox file (overrides the config's storage.path)")
    p.add_argument(
        "--out", type=Path, default=Path("reports"), help="output directory (default: %(default)s)"
    )


def _select(
    spans: Sequence[SessionSpan],
    session_id: str | None,
    chair: str | None,
    day: date | None,
    tz: str,
    within: str = "in the store",
) -> list[SessionSpan]:
    from monitord.report import find_spans

    if session_id is not None or chair is not None or day is not None:
        # "no session 'x' in the store" was said of InfluxDB too.
        return find_spans(spans, session_id, chair, day, tz, within)
    return list(spans)


class CannotWrite(Exception):
    """The reports cannot be written into `--out`; the message is the one line."""


def reused_ids(spans: Sequence[SessionSpan]) -> set[str]:
    """The session ids naming more than one session of the source (an id the station
    reused, later or on another chair)."""
    return {i for i, n in Counter(s.session_id for s in spans).items() if n > 1}


def write_records(
    records: Sequence[SessionRecord], out: Path, reused: Collection[str] = ()
) -> tuple[list[Path], bool]:
    """Reports of the records into `out`; the paths, and whether PDFs were written.
    `reused`: ids the source holds for several sessions (reused_ids of all its sessions,
    not only those asked for). Raises CannotWrite (`out` a file, not writable, the disk
    full, a file there of another session). Without the PDF renderer, an earlier run's
    PDF of a session written is removed, and a line on stderr names it."""
    from monitord.report.render import (
        Busy,
        NotThisSession,
        check_free,
        file_names,
        out_lock,
        pdf_renderer,
        stem,
        write_all,
    )

    paths: list[Path] = []
    stale: list[Path] = []
    kept: list[Path] = []  # an earlier run's PDF the lead changed since (signed, edited)
    if not records:
        return paths, True
    ids = Counter(r.session_id for r in records)
    # A session id the station reused names several sessions: one file set each, named
    # apart whenever the source holds the id twice, not only when one run writes both
    # (`--session s1 --chair chair-2` replaced chair-1's s1.pdf without a word).
    unique = [ids[r.session_id] > 1 or r.session_id in reused for r in records]
    try:
        out.mkdir(parents=True, exist_ok=True)
        # Held from the checks to the last rename: two runs into one folder could each
        # find a name free and both write it; and a killed run's `.part` files are only
        # told from a running one's with the folder held.
        with out_lock(out) as leftovers:
            for left in leftovers:
                print(
                    f"monitord report: removed {left}: a temporary file of a run that "
                    "was stopped while writing",
                    file=sys.stderr,
                )
            for rec, u in zip(records, unique, strict=True):  # all checked, then written
                check_free(rec, out, u)
            for rec, u in zip(records, unique, strict=True):
                old_pdf = out / file_names(stem(rec, u))[0]
                had_pdf = old_pdf.exists()
                paths += write_all(rec, out, unique=u)
                if had_pdf and not old_pdf.exists():
                    stale.append(old_pdf)
                elif had_pdf and old_pdf not in paths:
                    kept.append(old_pdf)
    except (NotThisSession, Busy) as e:
        raise CannotWrite(f"--out {out}: {e}") from None
    except OSError as e:  # was a traceback
        if out.exists() and not out.is_dir():
            raise CannotWrite(f"--out {out}: a file, not a folder") from None
        name = "" if e.filename in (None, str(out)) else f"{e.filename}: "
        raise CannotWrite(f"--out {out}: cannot write: {name}{e.strerror or e}") from None
    for p in stale:
        print(
            f"monitord report: removed {p}: an earlier run's PDF of this session, older than "
            "the HTML and CSV written now (no PDF renderer here to replace it)",
            file=sys.stderr,
        )
    for p in kept:
        print(
            f"monitord report: kept {p}: changed after the run that wrote it (signed or "
            "edited?), so not removed; it is older than the HTML and CSV written now (no PDF "
            "renderer here to replace it): file the version you mean",
            file=sys.stderr,
        )
    return paths, pdf_renderer() is not None or not records


def write_reports(
    db: Path,
    out: Path,
    session_id: str | None = None,
    chair: str | None = None,
    day: date | None = None,
    since_t: float | None = None,
    tz: str = "UTC",
    rules: RuleSet | None = None,
) -> list[Path]:
    """Reports for the matching sessions of a local store (or, with neither id, chair nor
    day, every session that started at or after `since_t`). Raises OutboxError /
    NoSuchSession."""
    from monitord.report import record_for, session_spans

    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        spans = every = session_spans(ob)
        if session_id is not None or chair is not None or day is not None:
            spans = _select(spans, session_id, chair, day, tz)
        elif since_t is not None:
            spans = [s for s in spans if s.start_t >= since_t]
        records = [record_for(ob, s, tz, rules) for s in spans]
    return write_records(records, out, reused_ids(every))[0]


def list_line(span: SessionSpan, protocol: str, tz: str, flag: str) -> str:
    """Tab-separated: chair, local start, protocol, id, then the flag (list_flag) last, so
    the first four columns read as they always did."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromtimestamp(span.start_t, tz=ZoneInfo(tz))
    return (
        f"{span.chair}\t{local.strftime('%Y-%m-%d %H:%M')} {local.tzname()}\t"
        f"{protocol}\t{span.session_id}\t{flag}"
    )


def _print_list(
    spans: Sequence[SessionSpan],
    tz: str,
    rules: RuleSet | None,
    outages: Callable[[SessionSpan], Sequence[Outage]],
    incomplete: Callable[[SessionSpan], bool] = lambda _: False,
) -> None:
    from monitord.report.load import span_observation
    from monitord.report.observation import list_flag

    for s in spans:
        flag = list_flag(span_observation(s, rules, outages(s)), s.end_t is not None)
        if incomplete(s):
            # Its record opens with INCOMPLETE RECORD: the verdict rests on rows the
            # store's budget may have deleted (docs/report.md).
            flag = "INCOMPLETE"
        print(list_line(s, _protocol(s), tz, flag))


def _protocol(span: SessionSpan) -> str:
    return next((e.protocol for e in span.events if e.action == "start"), "?")


def _as_root(args: argparse.Namespace) -> str:
    """This command again with sudo, with the options given."""
    opts: list[str] = []
    for opt, value in (
        ("--session", args.session),
        ("--chair", args.chair),
        ("--date", args.date),
        ("--db", args.db),
    ):
        if value is not None:
            opts += [opt, str(value)]
    if args.source == "influx":
        opts += ["--from", "influx"]
    if args.config is not None:
        opts += ["-c", str(args.config)]
    if args.list:
        opts.append("--list")
    else:
        opts += ["--out", str(args.out)]
    return as_root("report", opts)


def _secret_problem(e: OSError, args: argparse.Namespace) -> str:
    """The one line for `[influx] password_file` unreadable: the secrets folder is
    root-only on an installed machine (docs/install.md)."""
    from monitord.pathfault import unreadable

    if isinstance(e, CredentialMissing) or e.filename is None:
        return str(e)
    file = Path(e.filename)
    shut = unreadable(file)
    if shut is not None and shut[1]:  # a path fault is said in the kernel's words here
        return (
            f"influx.password_file: cannot read {file}: {shut[0]}: run it as root: "
            f"{_as_root(args)} (or set MONITORD_INFLUX_PASSWORD)"
        )
    return f"influx.password_file: cannot read {file}: {e.strerror or e}"


def machine_zone() -> str | None:
    """This machine's own time zone: TZ, else /etc/timezone (Debian), else the zone
    /etc/localtime links to; None when none of them names a zone."""
    from zoneinfo import ZoneInfo

    names = [os.environ.get("TZ", "").removeprefix(":")]
    try:
        names.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        pass
    try:
        names.append(os.readlink("/etc/localtime").partition("zoneinfo/")[2])
    except OSError:
        pass
    for name in filter(None, names):
        try:
            ZoneInfo(name)
        except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
            continue
        return name
    return None


def _days() -> list[datetime]:
    """The noons _same_zone compares: the 1st and 15th of each month from last year to
    two years on (a fixed 2024-2026 stopped seeing a rule change as 2027 came)."""
    year = datetime.now().year
    years = range(year - 1, year + 3)
    return [datetime(y, m, d, 12) for y in years for m in range(1, 13) for d in (1, 15)]


def _same_zone(a: str, b: str) -> bool:
    """The two zones keep the same clock (US/Eastern and America/New_York; UTC and
    Etc/UTC): their offsets at the noons of `_days` agree."""
    from zoneinfo import ZoneInfo

    za, zb = ZoneInfo(a), ZoneInfo(b)
    return all(
        t.replace(tzinfo=za).utcoffset() == t.replace(tzinfo=zb).utcoffset() for t in _days()
    )


def _keeps_tz_rule(zone: str) -> bool:
    """`zone` keeps this process's clock, as TZ's POSIX rule sets it (the C library's
    local time, not the wall clock: the offsets at _same_zone's days)."""
    import time
    from zoneinfo import ZoneInfo

    z = ZoneInfo(zone)
    for d in _days():
        t = d.replace(tzinfo=z)
        off = t.utcoffset()
        if off is None or time.localtime(t.timestamp()).tm_gmtoff != off.total_seconds():
            return False
    return True


def zone_note(tz: str, config: str | None) -> str | None:
    """One line when the report's zone is not this machine's: a fresh install's config
    (made from the example) says America/New_York, and a clinic elsewhere got New York
    times with nothing said but the zone's name on the page. `config` None: none was read
    (`--db` alone), the report is in UTC."""
    here = machine_zone()
    rule = os.environ.get("TZ", "").removeprefix(":")
    if rule and here != rule:
        # TZ set, but no zone name: a POSIX rule (EST5EDT,M3.2.0,M11.1.0) is the clock the
        # machine keeps, whatever /etc/timezone says; compared by the offsets it gives.
        if _keeps_tz_rule(tz):
            return None
        here = f"TZ={rule}"
    elif here is None or _same_zone(tz, here):
        return None
    if config is None:
        # A store copied to the lead's machine in Auckland: every time, the treatment date
        # and --date's day were UTC (a morning session there is the day before in UTC),
        # with nothing said but "UTC" on the page.
        return (
            f"monitord report: times are in {tz} (no config read, so no [site] timezone), "
            f"not this machine's zone ({here}), and --date is a {tz} day: give the clinic's "
            "config with -c"
        )
    return (
        f"monitord report: times are in {tz} ([site] timezone of {config}), not this "
        f"machine's zone ({here}): if the clinic is not in {tz}, set [site] timezone there"
    )


def main(args: argparse.Namespace) -> int:
    from monitord.report import NoSuchSession
    from monitord.report.influxload import InfluxReader, InfluxReadError

    day: date | None = None
    if args.date is not None:
        try:
            day = date.fromisoformat(args.date)
        except ValueError as e:
            # "2024-13-01: not YYYY-MM-DD" told a lead who typed that form to use it.
            shaped = len(args.date) == 10 and args.date[4] == args.date[7] == "-"
            why = f"no such date ({e})" if shaped else "not YYYY-MM-DD"
            print(f"monitord report: --date {args.date!r}: {why}", file=sys.stderr)
            return EX_DATAERR
    if not (args.list or args.session or args.chair or day):
        print(
            "monitord report: say which sessions: --session ID, --chair ID, --date "
            "YYYY-MM-DD (or --list)",
            file=sys.stderr,
        )
        return EX_DATAERR
    db: Path | None = args.db
    tz = "UTC"
    cfg = None
    # Without one, --db alone reports in UTC with the default rules. A config named, or
    # the default one present, is read, and a bad one refused: it was dropped without a
    # word beside --db, so the record came out in UTC instead of the site's time zone.
    named = args.config is not None
    config = args.config if named else DEFAULT_CONFIG
    if db is None or args.source == "influx" or named or Path(config).exists():
        try:
            # A central machine's config has no [[chairs]] (docs/report.md "From InfluxDB").
            cfg = load_config(config, chairs_optional=True)
        except ConfigError as e:
            for line in e.lines:
                print(line, file=sys.stderr)
            return EX_CONFIG
    rules = None
    where: str | None = None  # the store file's own history (monitord/report/storefile.py)
    note: str | None = None  # said last, of a run that wrote or listed (not over an error)
    if cfg is not None:
        tz = cfg.site.timezone
        note = zone_note(tz, str(config))
        db = db or cfg.storage.path
        # The clinic's [alerts] overrides, so the report judges the discharge criteria
        # as the engine did (load_config has validated them against the rule table).
        rules = RuleSet.from_overrides(cfg.alerts)
    else:
        note = zone_note(tz, None)
    try:
        if args.source == "influx":
            assert cfg is not None
            try:
                reader = InfluxReader(cfg.influx, cfg.site.id)
            except OSError as e:  # its password_file: was a traceback
                print(f"monitord report: {_secret_problem(e, args)}", file=sys.stderr)
                return EX_CONFIG
            within = f"in InfluxDB (site {cfg.site.id})"
            every = reader.spans()
            spans = _select(every, args.session, args.chair, day, tz, within)
            if args.list:
                # InfluxDB holds no outages (docs/report.md "Local only"): as its reports.
                _print_list(spans, tz, rules, lambda _: ())
                return _ok(note)
            records = [reader.record(s, tz, rules) for s in spans]
            paths, pdf = write_records(records, args.out, reused_ids(every))
        else:
            assert db is not None
            from monitord.pathfault import unreadable
            from monitord.report import record_for, session_spans

            # A non-root lead on an installed Pi: the store's folder is the service
            # user's, 0700 (docs/install.md); it was a PermissionError traceback. A path
            # fault no user reads through, root neither: no root advice.
            if (shut := unreadable(db)) is not None:
                why, root_helps = shut
                fix = f": run it as root: {_as_root(args)}" if root_helps else ""
                print(f"monitord report: cannot read {db}: {why}{fix}", file=sys.stderr)
                return EX_NOINPUT
            from monitord.report.load import pruned_to, span_outages
            from monitord.report.storefile import (
                moved_aside_note,
                replaced_note,
                unrecorded_note,
            )

            with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
                # Said whatever the run finds: a session whose start is in the other
                # file is in no list here, and "no session" alone read as none held.
                lines = [replaced_note(ob, db, tz, day) or moved_aside_note(db, tz)]
                where = "\n".join(x for x in [*lines, *unrecorded_note(ob, tz, day)] if x)
                where = where or None
                every = session_spans(ob)
                spans = _select(every, args.session, args.chair, day, tz)
                if args.list:
                    _print_list(
                        spans,
                        tz,
                        rules,
                        lambda s: span_outages(ob, s),
                        lambda s: pruned_to(ob, s) is not None,
                    )
                    return _ok(note, where)
                records = [record_for(ob, s, tz, rules) for s in spans]
            paths, pdf = write_records(records, args.out, reused_ids(every))
    except NoSuchSession as e:
        # One line: the error, and where the rest of the record is when it is elsewhere.
        more = "" if where is None else "; " + where.replace("monitord report: ", "")
        more = more.replace("\n", "; ")
        print(f"monitord report: {e}{more}", file=sys.stderr)
        return EX_NOINPUT
    except OutboxError as e:
        print(f"monitord report: {e}", file=sys.stderr)
        return EX_NOINPUT
    except InfluxReadError as e:
        print(f"monitord report: {e}", file=sys.stderr)
        return EX_UNAVAILABLE
    except CannotWrite as e:
        print(f"monitord report: {e}", file=sys.stderr)
        return EX_CANTCREAT
    if not pdf:
        print(NO_PDF_NOTICE, file=sys.stderr)
    for p in paths:
        print(p)
    return _ok(note, where)


def _ok(note: str | None, where: str | None = None) -> int:
    for line in (where, note):
        if line is not None:
            print(line, file=sys.stderr)
    return EX_OK
