"""Renderers of a `SessionRecord`: one-page A4 PDF, self-contained HTML (inline SVG chart)
and CSV (the same rows). Formatting only: every value comes from the record, and a value
the record lacks is printed as "missing" with its reason, never estimated.

Times are UTC (design.md: timestamps are UTC), with minutes from the dose alongside.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from monitord import __version__
from monitord.report import chart
from monitord.report.record import (
    BpReading,
    RemsField,
    SessionRecord,
    duration_text,
)

A4_IN = (8.27, 11.69)
PDF_MAX_ALERT_LINES = 22
PATIENT_REF_LABEL = "Patient reference (clinic, by hand)"


def fmt_t(t: float | None) -> str:
    if t is None:
        return "missing"
    return datetime.fromtimestamp(t, tz=UTC).strftime("%H:%M:%S")


def fmt_day(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d")


def fmt_iso(t: float | None) -> str:
    if t is None:
        return ""
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def fmt_rel(rec: SessionRecord, t: float | None) -> str:
    if t is None:
        return ""
    m = chart.minutes(rec, t)
    return f"{m:+.1f}"


def fmt_bp(b: BpReading | None) -> str:
    if b is None:
        return "missing"
    s = f"{b.sys_mmHg:g}/{b.dia_mmHg:g} mmHg"
    if b.map_mmHg is not None:
        s += f" (MAP {b.map_mmHg:g})"
    if b.pulse_bpm is not None:
        s += f", pulse {b.pulse_bpm:g}"
    return s


def rems_text(rec: SessionRecord, f: RemsField) -> str:
    if f.reading is None:
        return f"MISSING ({f.missing_reason})"
    origin = "dose" if rec.dose_start_t is not None else "start"
    return (
        f"{fmt_bp(f.reading)} at {fmt_t(f.reading.t)} UTC "
        f"({fmt_rel(rec, f.reading.t)} min from {origin})"
    )


def monitoring_text(rec: SessionRecord) -> str:
    if rec.monitoring_s is None:
        return f"MISSING ({rec.monitoring_missing_reason})"
    return (
        f"{duration_text(rec.monitoring_s)} ({rec.monitoring_s / 60:.1f} min; first device "
        f"reading {fmt_t(rec.first_reading_t)} to session end {fmt_t(rec.ended_t)} UTC)"
    )


def discharge_text(rec: SessionRecord) -> str:
    if rec.discharge_ready_t is None:
        return "discharge-ready advisory not raised; clinician decides"
    return (
        f"discharge-ready advisory raised at {fmt_t(rec.discharge_ready_t)} UTC; clinician decides"
    )


def gap_lines(rec: SessionRecord) -> list[str]:
    out = []
    for g in rec.gaps:
        if g.start is None:
            span = ""
        elif g.end == g.start:
            span = f"{fmt_t(g.start)} "
        else:
            end = fmt_t(g.end) if g.end is not None else "open at end of data"
            span = f"{fmt_t(g.start)}-{end} "
        out.append(f"{span}{g.what}: {g.detail}")
    return out


def alert_line(rec: SessionRecord, i: int) -> str:
    a = rec.alerts[i]
    extra = ""
    if a.level is not None:
        extra = f" level {a.level}"
    if a.by is not None:
        extra += f" by {a.by}"
    return (
        f"{fmt_t(a.t)} ({fmt_rel(rec, a.t)}) {a.rule} {a.event}{extra} [{a.priority}]: {a.message}"
    )


STORED_NOTE = "pushed from the device's memory on connect: history, fed to no alarm"


def stored_lines(rec: SessionRecord) -> list[str]:
    """One line per stored record: received time, device, values, the device's time."""
    out = []
    for v in rec.stored:
        vals = " ".join(f"{k}={x:g}" for k, x in v.values.items() if x is not None)
        dev_t = fmt_iso(v.device_time) if v.device_time is not None else "unknown"
        out.append(
            f"{fmt_t(v.t)} {v.kind}/{v.device} {vals or 'no values'} "
            f"(device time {dev_t}{'' if v.valid else '; invalid: ' + str(v.reason)})"
        )
    return out


def header_lines(rec: SessionRecord) -> list[tuple[str, str]]:
    return [
        ("Chair", rec.chair),
        ("Session", rec.session_id),
        ("Protocol", rec.protocol),
        ("Date (UTC)", fmt_day(rec.started_t)),
        ("Session start", f"{fmt_t(rec.started_t)} UTC"),
        ("Dose start", fmt_t(rec.dose_start_t)),
        ("Dose end", fmt_t(rec.dose_end_t)),
        (
            "Session end",
            fmt_t(rec.ended_t) if rec.ended_t is not None else "MISSING (session not ended)",
        ),
    ]


# ---------------------------------------------------------------------------------- PDF


def _ink(missing: bool) -> str:
    return "#b00000" if missing else "black"


def _page(rec: SessionRecord) -> Figure:
    fig = Figure(figsize=A4_IN)
    mono: dict[str, Any] = {"family": "monospace", "size": 7}
    y = 0.965
    fig.text(
        0.06,
        y,
        "Session monitoring record (REMS Patient Monitoring Form data)",
        fontsize=12,
        weight="bold",
    )
    y -= 0.022
    fig.text(
        0.06,
        y,
        "No patient data is held by monitord: identify the patient by hand.",
        fontsize=7,
        style="italic",
    )
    fig.text(0.56, y + 0.002, f"{PATIENT_REF_LABEL}: ______________________", fontsize=8)
    y -= 0.022
    hl = header_lines(rec)
    for i, (k, v) in enumerate(hl):
        col, row = divmod(i, 4)
        fig.text(0.06 + col * 0.47, y - row * 0.015, f"{k}: {v}", fontsize=8)
    chart.draw(fig, rec, (0.08, 0.60, 0.88, 0.24), (0.08, 0.525, 0.88, 0.065))
    y = 0.47
    fig.text(0.06, y, "REMS blood pressure readings", fontsize=9, weight="bold")
    for f in rec.rems:
        y -= 0.016
        fig.text(0.06, y, f"{f.label}:", fontsize=8, weight="bold")
        fig.text(0.28, y, rems_text(rec, f), fontsize=8, color=_ink(f.reading is None))
    y -= 0.016
    fig.text(0.06, y, "Total monitoring time:", fontsize=8, weight="bold")
    fig.text(0.28, y, monitoring_text(rec), fontsize=8, color=_ink(rec.monitoring_s is None))
    if rec.stored:
        y -= 0.016
        fig.text(0.06, y, "Stored records:", fontsize=8, weight="bold")
        fig.text(
            0.28,
            y,
            f"{len(rec.stored)} {STORED_NOTE}; not used above (listed in the HTML/CSV report)",
            fontsize=7,
        )
    y -= 0.016
    fig.text(0.06, y, "Vitals acceptable:", fontsize=8, weight="bold")
    fig.text(0.28, y, f"[ ] yes  [ ] no   ({discharge_text(rec)})", fontsize=8)
    y -= 0.026
    gl = gap_lines(rec)
    fig.text(
        0.06,
        y,
        f"GAPS AND MISSING DATA ({len(gl) or 'none'})",
        fontsize=9,
        weight="bold",
        color="#b00000" if gl else "black",
    )
    for line in gl[:10]:
        y -= 0.0125
        fig.text(0.07, y, "! " + line[:116], color="#b00000", **mono)
    if len(gl) > 10:
        y -= 0.0125
        fig.text(0.07, y, f"... {len(gl) - 10} more in the HTML/CSV report", **mono)
    y -= 0.026
    n = len(rec.alerts)
    fig.text(
        0.06,
        y,
        f"Alerts timeline ({n} events, times UTC, minutes from dose)",
        fontsize=9,
        weight="bold",
    )
    room = max(0, min(PDF_MAX_ALERT_LINES, int((y - 0.05) / 0.0125)))
    shown = n if n <= room else max(room - 1, 0)
    for i in range(shown):
        y -= 0.0125
        fig.text(0.07, y, alert_line(rec, i)[:118], **mono)
    if shown < n:
        y -= 0.0125
        fig.text(0.07, y, f"... {n - shown} more in the HTML/CSV report", **mono)
    fig.text(
        0.06,
        0.02,
        f"monitord {__version__}; chair and session IDs are opaque; times UTC.",
        fontsize=6,
        color="#555555",
    )
    return fig


def write_pdf(rec: SessionRecord, path: Path) -> None:
    fig = _page(rec)
    with PdfPages(path) as pdf:
        pdf.savefig(fig)


# --------------------------------------------------------------------------------- HTML


def chart_svg(rec: SessionRecord) -> str:
    fig = Figure(figsize=(10, 5.2))
    chart.draw(fig, rec, (0.07, 0.33, 0.9, 0.6), (0.07, 0.09, 0.9, 0.19))
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    # Drop the XML prolog and DOCTYPE: inline SVG in HTML starts at <svg.
    return svg[svg.index("<svg") :]


_CSS = """
body{font-family:sans-serif;margin:1.5em;max-width:1100px;color:#111}
h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1.05em;margin:1.1em 0 .3em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #bbb;padding:2px 6px;
text-align:left;vertical-align:top}.missing{color:#b00000;font-weight:bold}
.gaps li{color:#b00000}.ref{border:1px solid #333;display:inline-block;width:18em;
height:1.4em;vertical-align:middle}.note{font-style:italic;font-size:.85em}
"""


def render_html(rec: SessionRecord) -> str:
    e = html.escape
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Session record {e(rec.session_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Session monitoring record (REMS Patient Monitoring Form data)</h1>",
        '<p class="note">No patient data is held by monitord: identify the patient by hand. '
        "Times are UTC.</p>",
        f'<p>{e(PATIENT_REF_LABEL)}: <span class="ref" id="patient-ref"></span></p>',
        '<table id="session">',
    ]
    for k, v in header_lines(rec):
        cls = ' class="missing"' if v.startswith("MISSING") else ""
        out.append(f"<tr><th>{e(k)}</th><td{cls}>{e(v)}</td></tr>")
    out.append("</table>")
    out.append(f'<div id="chart">{chart_svg(rec)}</div>')
    out.append('<h2>REMS blood pressure readings</h2><table id="rems">')
    out.append("<tr><th>field</th><th>value</th><th>how chosen</th></tr>")
    for f in rec.rems:
        cls = ' class="missing"' if f.reading is None else ""
        out.append(
            f'<tr id="rems-{e(f.name)}"><th>{e(f.label)}</th><td{cls}>'
            f"{e(rems_text(rec, f))}</td><td>{e(f.rule)}</td></tr>"
        )
    cls = ' class="missing"' if rec.monitoring_s is None else ""
    out.append(
        f'<tr id="monitoring-time"><th>Total monitoring time</th><td{cls}>'
        f"{e(monitoring_text(rec))}</td><td>first device reading to session end</td></tr>"
    )
    out.append(
        "<tr><th>Vitals acceptable</th><td>&#9744; yes &#9744; no</td>"
        f"<td>{e(discharge_text(rec))}</td></tr></table>"
    )
    if rec.stored:
        out.append(f"<h2>Stored records ({len(rec.stored)})</h2>")
        out.append(f'<p class="note">{e(STORED_NOTE)}; not used for the REMS fields.</p>')
        out.append('<ul id="stored">' + "".join(f"<li>{e(x)}</li>" for x in stored_lines(rec)))
        out.append("</ul>")
    gl = gap_lines(rec)
    out.append(f"<h2>Gaps and missing data ({len(gl) or 'none'})</h2>")
    out.append('<ul class="gaps" id="gaps">' + "".join(f"<li>{e(g)}</li>" for g in gl) + "</ul>")
    out.append(f"<h2>Alerts timeline ({len(rec.alerts)} events)</h2>")
    out.append(
        '<table id="alerts"><tr><th>time (UTC)</th><th>min from dose</th><th>rule</th>'
        "<th>event</th><th>priority</th><th>by</th><th>message</th></tr>"
    )
    for a in rec.alerts:
        ev = a.event + (f" {a.level}" if a.level is not None else "")
        out.append(
            f"<tr><td>{fmt_t(a.t)}</td><td>{fmt_rel(rec, a.t)}</td><td>{e(a.rule)}</td>"
            f"<td>{e(ev)}</td><td>{e(a.priority)}</td><td>{e(a.by or '')}</td>"
            f"<td>{e(a.message)}</td></tr>"
        )
    out.append("</table>")
    out.append(f'<p class="note">monitord {e(__version__)}</p></body></html>')
    return "\n".join(out) + "\n"


def write_html(rec: SessionRecord, path: Path) -> None:
    path.write_text(render_html(rec), encoding="utf-8")


# ---------------------------------------------------------------------------------- CSV

CSV_COLUMNS = ("section", "time_utc", "min_from_dose", "name", "value", "detail")


def csv_rows(rec: SessionRecord) -> Iterator[tuple[str, str, str, str, str, str]]:
    """The report as rows: session fields, REMS fields, gaps, alerts, then every reading
    (a stored record in section `stored_record`, never `reading`: it is history)."""
    for k, val in header_lines(rec):
        yield ("session", "", "", k, val, "")
    for f in rec.rems:
        r = f.reading
        if r is None:
            yield ("rems", "", "", f.name, "missing", f.missing_reason or "")
        else:
            yield ("rems", fmt_iso(r.t), fmt_rel(rec, r.t), f.name, fmt_bp(r), f.rule)
    yield (
        "rems",
        "",
        "",
        "monitoring_time_min",
        "missing" if rec.monitoring_s is None else f"{rec.monitoring_s / 60:.1f}",
        rec.monitoring_missing_reason or "first device reading to session end",
    )
    for g in rec.gaps:
        yield (
            "gap",
            fmt_iso(g.start),
            fmt_rel(rec, g.start),
            g.what,
            fmt_iso(g.end) if g.end is not None else ("" if g.start is None else "not restored"),
            g.detail,
        )
    for a in rec.alerts:
        ev = a.event + (f" {a.level}" if a.level is not None else "")
        yield (
            "alert",
            fmt_iso(a.t),
            fmt_rel(rec, a.t),
            a.rule,
            ev,
            f"[{a.priority}] {a.message}" + (f" (by {a.by})" if a.by else ""),
        )
    for v in rec.vitals:
        vals = " ".join(f"{k}={x:g}" for k, x in v.values.items() if x is not None)
        verdict = "valid" if v.valid else f"invalid: {v.reason}"
        if v.stored:
            dev_t = fmt_iso(v.device_time) if v.device_time is not None else "unknown"
            verdict = f"{STORED_NOTE}; device time {dev_t}; {verdict}"
        yield (
            "stored_record" if v.stored else "reading",
            fmt_iso(v.t),
            fmt_rel(rec, v.t),
            f"{v.kind}/{v.device}",
            vals,
            verdict,
        )


def write_csv(rec: SessionRecord, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        w.writerows(csv_rows(rec))


def write_all(rec: SessionRecord, out_dir: Path) -> list[Path]:
    """PDF, HTML and CSV for one session into `out_dir`; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in rec.session_id)
    paths = [out_dir / f"{stem}.pdf", out_dir / f"{stem}.html", out_dir / f"{stem}.csv"]
    write_pdf(rec, paths[0])
    write_html(rec, paths[1])
    write_csv(rec, paths[2])
    return paths
