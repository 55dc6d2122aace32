"""The BP/HR/SpO2 chart of a session record (matplotlib, Agg; no pyplot global state).

x axis: minutes from the dose (from session start when there was no dose). Markers for
session start, dose start/end, the 40-minute target and session end; shaded bands while
alerts were active (colour by priority); dotted lines at the `bp.severe` thresholds (the
clinic's, `[alerts]`); invalid readings as red crosses (a cuff error without values sits
on the axis floor); the three REMS readings circled; stored records (a device's memory,
history) as hollow grey markers, apart from the live series; the holes (device lost,
sensor off, monitord not running, no valid SpO2 with no alarm) hatched and named in the
legend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from monitord.report.gaps import lost_spans, signal_holes
from monitord.report.record import POST_DOSE_TARGET_S, SessionRecord, Vital
from monitord.report.summary import device_samples

BAND_COLOURS = {"high": "#d62728", "medium": "#ff7f0e", "low": "#e6c200", "info": "#2ca02c"}
BP_FLOOR = 30.0
# HR/SpO2 lines break where samples are further apart than this (a hole in the data).
LINE_BREAK_S = 60.0

Rect = tuple[float, float, float, float]  # left, bottom, width, height (figure fractions)


def t_origin(rec: SessionRecord) -> float:
    return rec.dose_start_t if rec.dose_start_t is not None else rec.started_t


def minutes(rec: SessionRecord, t: float) -> float:
    return (t - t_origin(rec)) / 60.0


def _series(
    vs: Sequence[Vital],
    rec: SessionRecord,
    key: str,
    break_s: float | None = None,
    holes: Sequence[tuple[float, float]] = (),
) -> tuple[list[float], list[float]]:
    """Valid values of `key`. With `break_s`, a NaN goes between samples further apart,
    and between two with an invalid sample (probe off) or a hole (`holes`: monitord not
    running, the device's link down, its sensor off) between them, so the line breaks
    where the SpO2 coverage stops (summary.py) instead of drawing across it: a probe off
    or a restart under a minute left the line joined across the hatched stretch, as if
    the signal had been monitored. An invalid sample breaks it only where it ends the
    time a sample drawn stands for: before its own device's next valid one, or after the
    last one drawn when that one was its device's (an oximeter with an empty probe beside
    the one on the patient broke the line at every sample, and none of it was drawn; one
    reading 0 % for 50 s before the spare's first sample was drawn across)."""
    xs: list[float] = []
    ys: list[float] = []
    last: float | None = None
    last_dev = ""  # the device of the sample at `last`
    cut: set[str] = set()  # the devices with an invalid sample since `last`
    for v in vs:
        y = v.values.get(key)
        if not v.valid:
            cut.add(v.device)
            continue
        if y is None:
            continue
        if break_s is not None and last is not None:
            gap = v.t - last > break_s or any(h0 < v.t and h1 > last for h0, h1 in holes)
            if v.device in cut or last_dev in cut or gap:
                xs.append(minutes(rec, v.t))
                ys.append(math.nan)
        xs.append(minutes(rec, v.t))
        ys.append(float(y))
        last, last_dev = v.t, v.device
        cut.clear()
    return xs, ys


STORED_LABEL = "stored record (memory)"


def _stored(
    vs: Sequence[Vital], rec: SessionRecord, kind: str, key: str
) -> tuple[list[float], list[float]]:
    """The stored records of `kind` with a value of `key`: points, never a line."""
    pts = [
        (minutes(rec, v.t), float(y))
        for v in vs
        if v.kind == kind and v.stored and (y := v.values.get(key)) is not None
    ]
    return [x for x, _ in pts], [y for _, y in pts]


def _holes(rec: SessionRecord, signal: str, until: float) -> list[tuple[float, float]]:
    """The record's holes for `signal` ("hr", "spo2"), as the SpO2 coverage counts them."""
    ts = [v.t for v in rec.vitals if v.kind == signal and not v.stored]
    devices = device_samples(rec.vitals, signal, gaps=rec.gaps)
    valid = device_samples(rec.vitals, signal, True)
    return signal_holes(rec.gaps, signal, devices, valid, until, ts)


def _markers(ax: Axes, rec: SessionRecord, labels: bool, x_hi: float) -> None:
    marks: list[tuple[float, str, str]] = [(rec.started_t, "start", "#555555")]
    if rec.dose_start_t is not None:
        marks.append((rec.dose_start_t, "dose", "#1f77b4"))
        marks.append((rec.dose_start_t + POST_DOSE_TARGET_S, "40 min", "#9467bd"))
    if rec.dose_end_t is not None:
        marks.append((rec.dose_end_t, "dose end", "#1f77b4"))
    if rec.ended_t is not None:
        marks.append((rec.ended_t, "end", "#555555"))
    for t, name, colour in marks:
        x = minutes(rec, t)
        ax.axvline(x, color=colour, lw=0.9, ls="--" if name == "40 min" else "-")
        if labels:
            # Upright along its line, inside the top of the chart: side by side marks
            # (dose, dose end) stay apart, and the legend sits above the chart. A mark
            # near the right edge takes its label on its left (on its right the label was
            # cut off by the axes).
            left = x_hi - x < 0.03 * (x_hi - minutes(rec, rec.started_t))
            ax.annotate(
                name,
                (x, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(-1.5 if left else 1.5, -3),
                textcoords="offset points",
                ha="right" if left else "left",
                va="top",
                fontsize=7,
                color=colour,
                rotation=90,
            )


# The holes hatched on the chart, so a missing stretch never looks like a quiet one: what
# the legend calls each, its hatch and colour. A sensor off (probe off, contact lost) is
# one too: its samples carry no valid value, but a device may still send the last one
# (plotted as red crosses at e.g. 97 %), and a stretch under a minute left the line drawn
# across it, both reading as monitored normal values.
HOLES = {
    "device_lost": ("device lost", "////", "#7f7f7f"),
    "sensor_off": ("sensor off", "\\\\\\\\", "#e377c2"),
    "daemon_down": ("monitord not running", "xxxx", "#404040"),
    # The SpO2 line only broke there: a lead could not tell "SpO2 not recorded" (the
    # gaps list's no_spo2 line) from a pause in the drawing. SpO2 panel only; each of a
    # gap line's stretches apart, as SpO2 came between them.
    "no_spo2": ("no valid SpO2 (no alarm)", "....", "#8c564b"),
}


def _gaps(ax: Axes, rec: SessionRecord, x_end: float, panel: str) -> set[str]:
    """Hatch the holes of the record on `ax` (`panel` "bp": the BP/HR axes, "spo2"); a
    sensor off only on the panel of its signal (HR on the BP/HR axes), a device lost only
    on the panels of the signals it sent in the session (both when it sent none, or is
    not named: then on the SpO2 panel only when no SpO2 came inside it), monitord not
    running on both, no valid SpO2 (no_spo2) per stretch on the SpO2 panel. Returns the
    kinds hatched, for the legend."""
    drawn: set[str] = set()
    oximeters = device_samples(rec.vitals, "spo2", gaps=rec.gaps)
    valid = device_samples(rec.vitals, "spo2", True)
    for g in rec.gaps:
        if g.what not in HOLES or g.start is None:
            continue
        if g.what == "sensor_off" and g.signal is not None:
            if (g.signal == "spo2") != (panel == "spo2"):
                continue
        if g.what == "device_lost" and g.device is not None:
            # An HR monitor's link loss hatched the SpO2 panel too, under the SpO2 line
            # of another device there throughout: read as SpO2 lost.
            panels = {
                _PANEL[v.kind] for v in rec.vitals if v.device == g.device and v.kind in _PANEL
            }
            if panels and panel not in panels:
                continue
        if g.what == "device_lost" and g.device is None and panel == "spo2":
            # Not named: SpO2 samples inside it say it was another device's (as the SpO2
            # coverage counts it, gaps.signal_holes); hatched, a BP cuff's loss read as
            # SpO2 lost under the SpO2 line drawn through it.
            till = g.end if g.end is not None else math.inf
            if any(g.start < v.t < till for v in rec.vitals if v.kind == "spo2" and not v.stored):
                continue
        if g.what == "no_spo2" and panel != "spo2":
            continue
        spans: Sequence[tuple[float, float | None]] = g.stretches or ((g.start, g.end),)
        if g.what == "device_lost" and panel == "spo2" and g.device in oximeters:
            # Not under another oximeter's SpO2 (a spare clipped on after this one was
            # lost): only where the SpO2 coverage counts the loss (gaps.lost_spans).
            # Still open: to the session end (or the last data), then on to the edge.
            till = g.end if g.end is not None else (rec.ended_t or math.inf)
            lost = lost_spans(g, oximeters, valid, till)
            spans = [(a, b if b < till or g.end is not None else None) for a, b in lost]
        _, hatch, colour = HOLES[g.what]
        for start, end in spans:
            x0 = minutes(rec, start)
            x1 = minutes(rec, end) if end is not None else x_end
            ax.axvspan(
                x0,
                max(x1, x0 + 0.3),  # a restart's or a short probe-off's seconds stay visible
                facecolor="none",
                edgecolor=colour,
                hatch=hatch,
                lw=0,
            )
        drawn.add(g.what)
    return drawn


# The panel each kind of reading is drawn on.
_PANEL = {"bp": "bp", "hr": "bp", "spo2": "spo2"}


def _bands(ax: Axes, rec: SessionRecord, x_end: float) -> None:
    for b in rec.bands:
        if b.kind == "advisory" and b.priority == "info":
            continue  # discharge-ready is not an alarm; shown in the text
        x0 = minutes(rec, b.start)
        x1 = minutes(rec, b.end) if b.end is not None else x_end
        ax.axvspan(x0, max(x1, x0 + 0.3), color=BAND_COLOURS.get(b.priority, "#999999"), alpha=0.13)


def _legend(fig: Figure, ax: Axes) -> None:
    """Above the chart, right-aligned: inside it covered the marks' labels and data. One
    row: a second one ran into the PDF's header (chair, session) above it. Smaller type
    when the row is wider than the figure: with every kind of hole and stored records
    (9 entries) its first ones ran off the page's left edge. Still too wide at the
    smallest type (4.5 pt: more entries than the 9 of today), two rows: the first
    entries (HR) ran off the page, and two rows at 4.5 pt stay under the header."""
    n = len(ax.get_legend_handles_labels()[0])
    for size, ncol in ((6.0, n), (5.5, n), (5.0, n), (4.5, n), (4.5, math.ceil(n / 2))):
        leg = ax.legend(
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            fontsize=size,
            ncol=max(ncol, 1),
            frameon=False,
            borderaxespad=0.2,
            handlelength=1.5,
            columnspacing=1.0,
        )
        if leg.get_window_extent().x0 >= 0.01 * fig.bbox.width:
            return


def draw(fig: Figure, rec: SessionRecord, rect_bp: Rect, rect_spo2: Rect) -> None:
    """Draw the chart into `fig` at the two rects (figure fractions: left, bottom, w, h)."""
    ax = fig.add_axes(rect_bp)
    ax2 = fig.add_axes(rect_spo2, sharex=ax)
    vs = rec.vitals
    bp = [v for v in vs if v.kind == "bp" and not v.stored]
    old = [v for v in vs if v.kind == "bp" and v.stored]
    # Live only: a stored HR or SpO2 record (history, fed to no alarm) was joined into the
    # live line, a stored 150 bpm reading as a live one between two live samples; drawn
    # apart below, as stored BPs are.
    hr = [v for v in vs if v.kind == "hr" and not v.stored]
    sp = [v for v in vs if v.kind == "spo2" and not v.stored]
    last_t = max([v.t for v in vs] + [rec.ended_t or rec.started_t])
    x_lo = minutes(rec, rec.started_t) - 2
    x_hi = minutes(rec, last_t) + 2
    holes: set[str] = set()
    for a, panel in ((ax, "bp"), (ax2, "spo2")):
        _bands(a, rec, x_hi)
        holes |= _gaps(a, rec, x_hi, panel)
        a.grid(True, lw=0.3, alpha=0.5)
        a.tick_params(labelsize=7)
    _markers(ax, rec, labels=True, x_hi=x_hi)
    _markers(ax2, rec, labels=False, x_hi=x_hi)
    # The clinic's thresholds (`[alerts]`), the ones the alarms on this chart were judged by.
    severe_sys, severe_dia = rec.severe_bp
    ax.axhline(severe_sys, color="#d62728", lw=0.7, ls=":")
    ax.axhline(severe_dia, color="#d62728", lw=0.7, ls=":")

    hx, hy = _series(hr, rec, "hr_bpm", LINE_BREAK_S, _holes(rec, "hr", last_t))
    ax.plot(hx, hy, color="#2ca02c", lw=0.7, alpha=0.8, label="HR (bpm)")
    sx, sy = _series(bp, rec, "sys_mmHg")
    dx, dy = _series(bp, rec, "dia_mmHg")
    ax.vlines(sx, dy, sy, color="#1f77b4", lw=1.2)
    ax.plot(sx, sy, "v", color="#1f77b4", ms=5, label="systolic (mmHg)")
    ax.plot(dx, dy, "^", color="#17becf", ms=5, label="diastolic (mmHg)")
    ox, oy = _series(old, rec, "sys_mmHg")
    if ox:
        ax.plot(ox, oy, "v", mfc="none", mec="#7f7f7f", ms=5, label=STORED_LABEL)
    hox, hoy = _stored(vs, rec, "hr", "hr_bpm")
    sox, soy = _stored(vs, rec, "spo2", "spo2_pct")
    if hox or (sox and not ox):
        # Named once in the legend (above the BP/HR axes), also for a stored SpO2 alone.
        ax.plot(hox, hoy, "o", mfc="none", mec="#7f7f7f", ms=4, label=None if ox else STORED_LABEL)
    # REMS readings circled.
    for f in rec.rems:
        if f.reading is not None:
            x = minutes(rec, f.reading.t)
            ax.plot(
                [x, x],
                [f.reading.sys_mmHg, f.reading.dia_mmHg],
                "o",
                mfc="none",
                mec="black",
                ms=9,
                mew=1.0,
            )
    ix, iy = [], []
    for v in bp + hr:
        if not v.valid:
            y = v.values.get("sys_mmHg") if v.kind == "bp" else v.values.get("hr_bpm")
            ix.append(minutes(rec, v.t))
            iy.append(float(y) if y is not None else BP_FLOOR)
    if ix:
        ax.plot(ix, iy, "x", color="#d62728", ms=7, mew=1.6, label="invalid reading")
    ax.set_ylabel("mmHg / bpm", fontsize=8)
    top = max([*sy, *oy, *hoy, *(y for y in hy if not math.isnan(y)), *iy, severe_sys]) + 15
    ax.set_ylim(BP_FLOOR - 5, top)
    # Every hatch drawn is named: a hatched stretch is no data, not a shading to guess.
    for what in HOLES:
        if what in holes:
            name, hatch, colour = HOLES[what]
            ax.add_patch(
                Rectangle(
                    (0, 0), 0, 0, facecolor="none", edgecolor=colour, hatch=hatch, lw=0, label=name
                )
            )
    _legend(fig, ax)

    px, py = _series(sp, rec, "spo2_pct", LINE_BREAK_S, _holes(rec, "spo2", last_t))
    ax2.plot(px, py, color="#8c564b", lw=0.8, label="SpO2 (%)")
    bx, by = [], []
    for v in sp:
        if not v.valid:
            y = v.values.get("spo2_pct")
            bx.append(minutes(rec, v.t))
            by.append(min(100.0, max(80.0, float(y))) if y is not None else 80.0)
    if bx:
        ax2.plot(bx, by, "x", color="#d62728", ms=5, mew=1.2)
    if sox:
        ax2.plot(sox, [min(100.0, max(80.0, y)) for y in soy], "o", mfc="none", mec="#7f7f7f", ms=4)
    ax2.axhline(90, color="#d62728", lw=0.7, ls=":")
    ax2.set_ylim(79, 101)
    ax2.set_ylabel("SpO2 %", fontsize=8)
    origin = "dose" if rec.dose_start_t is not None else "session start"
    ax2.set_xlabel(f"minutes from {origin}", fontsize=8)
    ax.set_xlim(x_lo, x_hi)
    ax.tick_params(labelbottom=False)
