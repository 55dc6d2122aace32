"""Stored HR and SpO2 records (a device's memory pushed on connect: history, fed to no
alarm) are drawn as stored BPs are, hollow grey markers apart from the live lines: they
were joined into the live HR and SpO2 lines, where a stored 150 bpm read as a live
tachycardia between two live samples (only scenario and test data send them today)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from monitord.models import Kind, Reading, SessionEvent, utc
from monitord.report import build_record, chart
from monitord.report.pdf import PDF_CHART

T0 = 1714986000.0
CHAIR = "chair-3"
SESSION = [
    SessionEvent(T0 + t, CHAIR, a, "esketamine", "s-stored-chart")
    for t, a in ((0, "start"), (600, "dose_start"), (900, "dose_end"), (1800, "end"))
]
AT = T0 + 1202.5  # between two live samples, 10.04 min after the dose


def _line(ax: Axes, label: str) -> Line2D:
    (line,) = [x for x in ax.get_lines() if x.get_label() == label]
    return line


def _points(line: Line2D) -> list[tuple[float, float]]:
    xy = np.asarray(line.get_xydata(), dtype=float)
    return [(float(x), float(y)) for x, y in xy]


def test_stored_hr_and_spo2_are_not_joined_into_the_live_lines() -> None:
    live = [
        Reading(CHAIR, "ox", kind, {key: val}, utc(T0 + t), utc(T0 + t))
        for t in range(600, 1800, 5)
        for kind, key, val in ((Kind.HR, "hr_bpm", 70.0), (Kind.SPO2, "spo2_pct", 97.0))
    ]
    stored = [
        Reading(CHAIR, "ox", kind, {key: val}, utc(AT), utc(T0 + 1700), stored=True)
        for kind, key, val in ((Kind.HR, "hr_bpm", 150.0), (Kind.SPO2, "spo2_pct", 85.0))
    ]
    rec = build_record([*live, *stored], [], SESSION)
    fig = Figure()
    chart.draw(fig, rec, *PDF_CHART)
    ax_bp, ax_spo2 = fig.axes
    x = (AT - (T0 + 600)) / 60
    for ax, label, y in ((ax_bp, "HR (bpm)", 150.0), (ax_spo2, "SpO2 (%)", 85.0)):
        joined = [(a, b) for a, b in _points(_line(ax, label)) if not math.isnan(b) and b == y]
        assert not joined, f"{label} line draws the stored record ({x:.2f} min, {y:g}) as live"
        # Drawn apart, as a hollow marker with no line between points.
        marks = [m for m in ax.get_lines() if m.get_linestyle() == "None" and (x, y) in _points(m)]
        assert marks, f"the stored {label} record ({x:.2f} min, {y:g}) is not drawn on its own"
        assert marks[0].get_markerfacecolor() == "none", "a stored record is drawn hollow"
    legend = ax_bp.get_legend()
    assert legend is not None
    names = [t.get_text() for t in legend.get_texts()]
    assert names.count("stored record (memory)") == 1, f"legend {names}: stored named once"
