"""Renderers of a `SessionRecord`: PDF (monitord/report/pdf.py, matplotlib), a
self-contained HTML page (inline SVG chart) and two CSVs: the wide vitals CSV (one row per
time) and the events CSV (form fields, session and alert events, gaps). Formatting only:
every value comes from the record (words in monitord/report/text.py), and a value the
record lacks is printed as missing with its reason, never estimated.

Times are local in the site's zone, with the zone named; the CSVs carry UTC and local.
"""

from __future__ import annotations

import csv
import fcntl
import html
import io
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from monitord import __version__
from monitord.report.gaps import NO_SPO2_DETAIL
from monitord.report.lists import (
    audit_header,
    audit_row,
    audit_title,
    gap_lines,
    gaps_title,
    stored_lines,
)
from monitord.report.record import SessionRecord, Vital
from monitord.report.text import (
    CLINICAL_BOXES,
    PATIENT_REF_LABEL,
    SIGNATURE_LINES,
    STORED_NOTE,
    csv_text,
    fmt_iso_local,
    fmt_iso_utc,
    fmt_rel,
    fmt_t,
    fmt_tz,
    form_lines,
    title,
)


def pdf_renderer() -> object | None:
    """The PDF module, or None when matplotlib is not installed."""
    try:
        from monitord.report import pdf
    except ImportError:
        return None
    return pdf


# --------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:sans-serif;margin:1.5em;max-width:1100px;color:#111}
h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1.05em;margin:1.1em 0 .3em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #bbb;padding:2px 6px;
text-align:left;vertical-align:top}.missing{color:#b00000;font-weight:bold}
.gaps td{color:#b00000}.ref{border:1px solid #333;display:inline-block;width:18em;
height:1.4em;vertical-align:middle}.note{font-style:italic;font-size:.85em}
tr.active td{color:#b00000;font-weight:bold}pre{font-size:.9em}
tr.sec th{border:none;padding:0}tr.sec h2{font-size:1.17em}
table.list td{border:none;padding:1px 6px}tr,pre,.keep{break-inside:avoid}
"""


def _thead(title: str, cols: Sequence[str] = (), span: int = 1) -> str:
    """A section's table head: its heading, then its column header (if any). A browser
    printing the page repeats a table's <thead> at the top of every page the table runs
    onto, so a printed page that continues a section still names it and its columns (a
    print to PDF is filed page by page, as our own PDF, whose pages say "(continued)")."""
    e = html.escape
    n = max(len(cols), span)
    head = f'<thead><tr class="sec"><th colspan="{n}"><h2>{e(title)}</h2></th></tr>'
    if cols:
        head += "<tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>"
    return head + "</thead>"


def _list(id_: str, cls: str, title: str, items: Sequence[str], note: str = "") -> str:
    """A list as a one-column table, for the <thead> heading a printed page repeats; a
    `note` opens the list (once, not on every page)."""
    e = html.escape
    rows = f'<tr><td class="note">{e(note)}</td></tr>' if note else ""
    rows += "".join(f"<tr><td>{e(x)}</td></tr>" for x in items)
    return f'<table class="list {cls}" id="{id_}">{_thead(title)}<tbody>{rows}</tbody></table>'


def render_html(rec: SessionRecord) -> str:
    e = html.escape
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title(rec))}: {e(rec.session_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(title(rec))}</h1>",
        # The version heads the page: as the last line, printed, it went onto a page of
        # its own when the alert events filled the one before (a page with nothing else).
        '<p class="note" id="version">No patient data is held by monitord: identify the '
        f"patient by hand. Times are local ({e(fmt_tz(rec))}). monitord {e(__version__)}.</p>",
        f'<p>{e(PATIENT_REF_LABEL)}: <span class="ref" id="patient-ref"></span></p>',
    ]
    pdf = pdf_renderer()
    if pdf is not None:
        out.append(f'<div id="chart">{pdf.chart_svg(rec)}</div>')  # type: ignore[attr-defined]
    else:
        out.append(
            '<p class="note" id="chart">Chart not drawn: the PDF/chart renderer (matplotlib) '
            "is not installed here; every reading is in the vitals CSV.</p>"
        )
    out.append(f'<table id="form">{_thead("Monitoring form", span=2)}<tbody>')
    for fl in form_lines(rec):
        cls = ' class="missing"' if fl.missing else ""
        out.append(f'<tr id="f-{e(fl.key)}"><th>{e(fl.label)}</th><td{cls}>{e(fl.value)}</td></tr>')
    out.append("</tbody></table>")
    # The heading kept with its boxes: printed, a form a few lines longer left it alone
    # at the foot of page 1 and the boxes opened page 2 with no heading.
    out.append('<div class="keep"><h2>Observed during monitoring (tick by hand)</h2><pre>')
    out.append(e("\n".join((*CLINICAL_BOXES, "", *SIGNATURE_LINES))) + "</pre></div>")
    out.append(f'<table id="audit">{_thead(audit_title(rec), audit_header())}<tbody>')
    for ep in rec.episodes:
        cls = ' class="active"' if ep.active_at_end else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{e(c)}</td>" for c in audit_row(rec, ep)) + "</tr>")
    out.append("</tbody></table>")
    if rec.stored:
        note = f"{STORED_NOTE}; not used for the form."
        out.append(
            _list(
                "stored", "stored", f"Stored records ({len(rec.stored)})", stored_lines(rec), note
            )
        )
    gl = gap_lines(rec)
    out.append(_list("gaps", "gaps", gaps_title(rec, len(gl)), gl))
    cols = (f"time ({fmt_tz(rec)})", "min from dose", "rule", "event", "priority", "by", "message")
    out.append(f'<table id="alerts">{_thead(f"Alert events ({len(rec.alerts)})", cols)}<tbody>')
    for a in rec.alerts:
        ev = a.event + (f" {a.level}" if a.level is not None else "")
        out.append(
            f"<tr><td>{e(fmt_t(rec, a.t))}</td><td>{fmt_rel(rec, a.t)}</td><td>{e(a.rule)}</td>"
            f"<td>{e(ev)}</td><td>{e(a.priority)}</td><td>{e(a.by or '')}</td>"
            f"<td>{e(a.message)}</td></tr>"
        )
    out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# A lone surrogate (a JSON "\ud800" in a name) has no UTF-8: no file of the report was
# written (UnicodeEncodeError). It is written as its escape, as the PDF shows it (`drawable`).
_UTF8_OR_ESCAPE = "backslashreplace"


def write_html(rec: SessionRecord, path: Path) -> None:
    path.write_text(render_html(rec), encoding="utf-8", errors=_UTF8_OR_ESCAPE)


# --------------------------------------------------------------------------------- CSVs

VITALS_COLUMNS = (
    "time_utc",
    "time_local",
    "min_from_dose",
    "sys_mmHg",
    "dia_mmHg",
    "map_mmHg",
    "hr_bpm",
    "spo2_pct",
    "pulse_bpm",
    "valid",
    "stored",
    "device",
    "device_time_utc",
    "invalid_reason",
)
_VALUE_COLS = ("sys_mmHg", "dia_mmHg", "map_mmHg", "hr_bpm", "spo2_pct", "pulse_bpm")


def vitals_rows(rec: SessionRecord) -> Iterator[dict[str, str]]:
    """One row per time: live readings at the same time with the same verdict and device
    time share a row (HR and SpO2 of one sample); a value that would collide in a column
    (a BP pulse and an SpO2 pulse at the same instant) starts its own row, and a stored
    record always has a row of its own, marked stored."""
    row: dict[str, str] | None = None
    # (time, valid, device time); None after a stored record: nothing joins its row.
    key: tuple[float, bool, float | None] | None = None
    devices: list[str] = []

    def fresh(v: Vital) -> dict[str, str]:
        return {
            "time_utc": fmt_iso_utc(v.t),
            "time_local": fmt_iso_local(rec, v.t),
            "min_from_dose": fmt_rel(rec, v.t),
            **dict.fromkeys(_VALUE_COLS, ""),
            "valid": "true" if v.valid else "false",
            "stored": "true" if v.stored else "false",
            "device": "",
            "device_time_utc": fmt_iso_utc(v.device_time),
            "invalid_reason": "",
        }

    for v in rec.vitals:
        vals = {k: x for k, x in v.values.items() if k in _VALUE_COLS and x is not None}
        # A stored record (history, fed to no alarm) never shares a row: merged with a
        # live reading of the same instant, the row took the first one's `stored` flag and
        # device time, and a stored BP read as live.
        k = None if v.stored else (v.t, v.valid, v.device_time)
        if row is None or k is None or k != key or any(row[c] != "" for c in vals):
            if row is not None:
                row["device"] = "+".join(devices)
                yield row
            row, devices = fresh(v), []
        key = k
        for c, x in vals.items():
            row[c] = f"{x:g}"
        if v.device not in devices:
            devices.append(v.device)
        if v.reason:
            row["invalid_reason"] = "; ".join(filter(None, (row["invalid_reason"], v.reason)))
    if row is not None:
        row["device"] = "+".join(devices)
        yield row


EVENTS_COLUMNS = (
    "time_utc",
    "time_local",
    "min_from_dose",
    "source",
    "name",
    "event",
    "priority",
    "alert_id",
    "by",
    "detail",
)


def events_rows(rec: SessionRecord) -> Iterator[dict[str, str]]:
    """The form's fields (source `form`), then gaps, then session and alert events in time
    order, every escalation included."""
    blank = dict.fromkeys(EVENTS_COLUMNS, "")
    for fl in form_lines(rec):
        yield {**blank, "source": "form", "name": fl.key, "detail": fl.value}
    for f in rec.rems:
        if f.reading is not None:
            yield {
                **blank,
                "time_utc": fmt_iso_utc(f.reading.t),
                "time_local": fmt_iso_local(rec, f.reading.t),
                "min_from_dose": fmt_rel(rec, f.reading.t),
                "source": "form",
                "name": f.name + "_time",
                "detail": f.rule,
            }
    for g in rec.gaps:
        # A printed line standing for several stretches without SpO2 (bursts) is a row
        # per stretch here: a row's start and end must bound what was missing, for a
        # spreadsheet summing them (the line's span holds the bursts of SpO2 too).
        spans = g.stretches if len(g.stretches) > 1 else ((g.start, g.end),)
        for i, (start, end) in enumerate(spans, 1):
            # Which printed line a stretch's row belongs to, so the CSV and the form can
            # be matched (the detail alone was the same on every stretch of every line).
            of = f"stretch {i} of {len(spans)} of the line from {fmt_t(rec, g.start or 0.0)}"
            yield {
                **blank,
                "time_utc": fmt_iso_utc(start),
                "time_local": fmt_iso_local(rec, start),
                "min_from_dose": fmt_rel(rec, start),
                "source": "gap",
                "name": g.what,
                "event": fmt_iso_utc(end) if end is not None else "",
                "detail": g.detail if len(spans) == 1 else f"{of}: {NO_SPO2_DETAIL}",
            }
    timeline: list[tuple[float, int, dict[str, str]]] = []
    for t, what, by in (
        (rec.started_t, "start", rec.started_by),
        (rec.dose_start_t, "dose_start", rec.dose_by),
        (rec.dose_end_t, "dose_end", rec.dose_end_by),
        (rec.ended_t, "end", rec.ended_by),
    ):
        if t is not None:
            timeline.append(
                (
                    t,
                    0,
                    {
                        **blank,
                        "source": "session",
                        "name": rec.protocol,
                        "event": what,
                        "by": csv_text(by),
                    },
                )
            )
    for i, a in enumerate(rec.alerts):
        ev = a.event + (f" {a.level}" if a.level is not None else "")
        timeline.append(
            (
                a.t,
                1 + i,
                {
                    **blank,
                    "source": "alert",
                    "name": a.rule,
                    "event": ev,
                    "priority": a.priority,
                    "alert_id": a.alert_id or "",
                    "by": csv_text(a.by),
                    "detail": a.message,
                },
            )
        )
    for t, _, r in sorted(timeline, key=lambda x: (x[0], x[1])):
        yield {
            **r,
            "time_utc": fmt_iso_utc(t),
            "time_local": fmt_iso_local(rec, t),
            "min_from_dose": fmt_rel(rec, t),
        }


def _write_dicts(path: Path, cols: tuple[str, ...], rows: Iterator[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8", errors=_UTF8_OR_ESCAPE) as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        w.writerows(rows)


def write_csvs(rec: SessionRecord, vitals: Path, events: Path) -> None:
    _write_dicts(vitals, VITALS_COLUMNS, vitals_rows(rec))
    _write_dicts(events, EVENTS_COLUMNS, events_rows(rec))


def stem(rec: SessionRecord, unique: bool = False) -> str:
    """The files' name: the session id; with `unique`, also the chair and the start
    (epoch s), for an id the station reused (another session under the same id)."""
    s = rec.session_id + (f"-{rec.chair}-{int(rec.started_t)}" if unique else "")
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)


def file_names(stem_: str) -> tuple[str, str, str, str]:
    """The PDF, HTML, vitals CSV and events CSV a report set of `stem_` takes (one list for
    `write_all` and the check of what it would replace, `check_free`)."""
    return f"{stem_}.pdf", f"{stem_}.html", f"{stem_}.csv", f"{stem_}-events.csv"


class NotThisSession(Exception):
    """A file of the name a report would take holds another session's report (or one
    whose session cannot be told); the message is the one line."""


def _owner(events_csv: Path) -> tuple[str, str, str] | None:
    """(session id, chair, start time UTC) of the session an events CSV was written for,
    or None when it cannot be read as one."""
    session = chair = start = None
    try:
        with events_csv.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("source") == "form" and row.get("name") == "chair":
                    chair = row.get("detail")
                elif row.get("source") == "form" and row.get("name") == "session":
                    session = row.get("detail")
                elif row.get("source") == "session" and row.get("event") == "start":
                    start = row.get("time_utc")
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if chair is None or start is None:
        return None
    return (session or "?", chair, start)


def _owner_010(report_csv: Path) -> tuple[str, str, str] | None:
    """(session id, chair, start UTC "YYYY-MM-DD HH:MM:SS") from a 0.1.0 report CSV
    (columns section, name, value; no events CSV then), or None: a folder of 0.1.0 files
    refused every re-run of its own sessions."""
    got: dict[str, str] = {}
    try:
        with report_csv.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("section") == "session" and row.get("name"):
                    got[row["name"]] = row.get("value") or ""
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    chair, day, start = got.get("Chair"), got.get("Date (UTC)"), got.get("Session start")
    if chair is None or not day or not start:
        return None
    return (got.get("Session") or "?", chair, f"{day} {start.removesuffix(' UTC')} UTC")


def check_free(rec: SessionRecord, out_dir: Path, unique: bool = False) -> None:
    """Raises NotThisSession when a file of the names `write_all` would write is there and
    is not this session's: a re-run replaces its own files, never another session's (an id
    the station reused, a store of another station into the same folder)."""
    names = file_names(stem(rec, unique))
    there = [n for n in names if (out_dir / n).exists()]
    if not there:
        return
    if (out_dir / names[-1]).exists():
        owner = _owner(out_dir / names[-1])
        if owner is not None and owner[1:] == (rec.chair, fmt_iso_utc(rec.started_t)):
            return
    else:
        # 0.1.0 wrote no events CSV; its start is to the second, truncated as then.
        owner = _owner_010(out_dir / names[2])
        started = datetime.fromtimestamp(rec.started_t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        if owner is not None and owner[1:] == (rec.chair, f"{started} UTC"):
            return
    # The holder named by its own files: the new record's id was said in its place, which
    # is another id when two ids make one file name ("s/2" and "s_2") or a 0.1.0 set.
    whose = (
        f"session {owner[0]!r} of {owner[1]} started {owner[2]}"
        if owner is not None
        else "a report whose session cannot be told (no readable events CSV)"
    )
    raise NotThisSession(
        f"{out_dir / there[0]}: holds {whose}, not this one ({rec.session_id!r} of "
        f"{rec.chair}, started {fmt_iso_utc(rec.started_t)}): not replaced; write into "
        "another --out"
    )


def changed_after_its_set(pdf: Path, set_csv: Path) -> bool:
    """Whether a PDF there was changed after the run that wrote it: a run writes its PDF
    before its CSVs, so a PDF newer than the set's CSV (the events CSV; a 0.1.0 set's
    CSV) was saved over since, signed or annotated by the lead: a record to keep, never
    removed as stale. When it cannot be told (a stat fails), it is kept too."""
    try:
        return pdf.stat().st_mtime_ns > set_csv.stat().st_mtime_ns
    except FileNotFoundError:
        return pdf.exists()  # no PDF: nothing to keep; no set CSV: cannot be told
    except OSError:
        return True


class Busy(Exception):
    """Another run holds `--out` (out_lock); the message is the one line."""


# write_all's temporary names: `.NAME.PID.part`, NAME one of file_names' (a PDF, HTML or
# CSV): any `.X.NUMBER.part` took a file the lead keeps there (`.budget.2026.part`).
_PART = re.compile(r"\..+\.(?:pdf|html|csv)\.\d+\.part")


@contextmanager
def out_lock(out_dir: Path) -> Iterator[list[Path]]:
    """Holds `out_dir` for one run's writes (an flock on the folder, freed when the run
    ends or is killed), and removes the temporary files of runs killed while writing
    there: with the lock held no other run is writing, so each `.NAME.PID.part` is such a
    leftover (it stayed, hidden, for good). Yields the leftovers removed. Raises Busy when
    another run holds the folder. Where the file system has no locks, or the folder may be
    written but not read, nothing is removed (a leftover cannot be told from a file in use)."""
    try:
        fd = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY)
    except PermissionError:
        # A drop folder (mode 0300: write and enter, not list) cannot be opened to hold
        # nor listed, yet takes the files: refusing it stopped every run that wrote there.
        # Written as where there are no locks: nothing removed.
        yield []
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(
                "another monitord report is writing into this folder now: run it again "
                "when that one has finished, or write into another --out"
            ) from None
        except OSError:
            yield []
            return
        removed: list[Path] = []
        for f in sorted(out_dir.iterdir()):
            if _PART.fullmatch(f.name) and f.is_file():
                f.unlink(missing_ok=True)
                removed.append(f)
        yield removed
    finally:
        os.close(fd)  # frees the lock


def write_all(
    rec: SessionRecord, out_dir: Path, pdf: bool = True, unique: bool = False
) -> list[Path]:
    """PDF (when the renderer is installed and `pdf`), HTML, vitals CSV and events CSV for
    one session into `out_dir`; returns the paths written (the PDF first when written:
    a caller tells the fallback by its absence). `unique`: see `stem`. Without a PDF, an
    earlier run's PDF of this session is removed once the new set is in place, unless it
    was changed after that run (changed_after_its_set).

    Each file is written to a temporary name in `out_dir`, and only when all are written
    are they renamed into place: a full disk left a truncated PDF, or a new PDF beside an
    older run's HTML and CSVs. An OSError then says which files were not written (the
    ones already there are left as they were). Raises NotThisSession (check_free)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    check_free(rec, out_dir, unique)
    pdf_p, html_p, vit_p, ev_p = (out_dir / n for n in file_names(stem(rec, unique)))
    renderer = pdf_renderer() if pdf else None
    paths: list[Path] = [pdf_p] if renderer is not None else []
    paths += [html_p, vit_p, ev_p]
    # Told before the set is replaced: the earlier run's set dates its PDF.
    keep_pdf = renderer is None and changed_after_its_set(pdf_p, ev_p if ev_p.exists() else vit_p)
    # The events CSV last: it tells the next run whose files these are (check_free).
    temps = {p: p.with_name(f".{p.name}.{os.getpid()}.part") for p in paths}
    placed: list[Path] = []
    try:
        if renderer is not None:
            # Drawn in memory, then written: matplotlib's PdfPages on a full disk raised a
            # zlib.error over the OSError (a traceback, not the one line).
            buf = io.BytesIO()
            lacking = renderer.write_pdf(rec, buf)  # type: ignore[attr-defined]
            temps[paths[0]].write_bytes(buf.getvalue())
            if lacking:  # printed as boxes before, with nothing said (pdffonts.py)
                print(
                    f"monitord report: {pdf_p.name}: no font on this machine has "
                    f"{' '.join(lacking)}: written as <U+XXXX> in the PDF (the HTML and CSVs "
                    "have them); install a font that has them (Debian: fonts-noto-cjk for "
                    "Chinese, Japanese, Korean) and run the report again",
                    file=sys.stderr,
                )
        write_html(rec, temps[html_p])
        write_csvs(rec, temps[vit_p], temps[ev_p])
        for p in paths:
            os.replace(temps[p], p)
            placed.append(p)
    except OSError as e:
        missed = ", ".join(p.name for p in paths if p not in placed)
        raise OSError(e.errno, f"{e.strerror or e}: not written: {missed}") from e
    finally:
        for t in temps.values():
            t.unlink(missing_ok=True)
    if renderer is None and not keep_pdf:
        # This session's PDF of an earlier run (check_free: the set is this session's) is
        # older than the set just written: left beside it, the folder held two versions
        # of one record and the lead could file the wrong one. (A failure to remove it is
        # the caller's one line naming the file.)
        pdf_p.unlink(missing_ok=True)
    return paths
