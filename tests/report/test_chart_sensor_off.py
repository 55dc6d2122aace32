"""A sensor-off stretch (probe off, contact lost: no valid values) is hatched on the chart
and named in the legend, as a device lost is. It was not: the probe-off samples' last value
(97 %) was plotted as red crosses along the line, and a stretch under a minute left the
SpO2 line drawn across it, so the stretch read as monitored normal values (only an alarm
band, the same yellow as every low-priority alarm, marked it)."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from monitord.models import Kind, Reading, SessionEvent, utc
from monitord.report import SessionRecord, build_record, chart
from monitord.report.pdf import PDF_CHART
from monitord.store.outages import Outage

from .reportkit import play_record
from .test_sensor_off_gap import _scenario
from .test_spo2_coverage import DOSE
from .test_spo2_coverage import _scenario as spo2_scenario

SENSOR_OFF = "sensor off"


def _hatched(ax: object) -> list[tuple[float, float, str]]:
    """(x0, x1, hatch) of the hatched spans on `ax`, in minutes from the dose."""
    return [
        (round(p.get_x(), 2), round(p.get_x() + p.get_width(), 2), p.get_hatch() or "")
        for p in ax.patches  # type: ignore[attr-defined]
        if isinstance(p, Rectangle) and p.get_hatch() and p.get_width() > 0
    ]


def test_a_sensor_off_stretch_is_hatched_and_named(tmp_path: Path) -> None:
    # SpO2 probe off from 1100 s to 1200 s; the dose at 600 s: 8.33 to 10.0 min.
    rec = play_record(tmp_path, _scenario())
    fig = Figure()
    chart.draw(fig, rec, *PDF_CHART)
    ax_bp, ax_spo2 = fig.axes
    x0, x1 = (1100 - 600) / 60, (1200 - 600) / 60
    # The sensor-off hatch only: the time before the oximeter's first sample (1000 s)
    # has the no-SpO2 one (test_no_spo2_lines.py).
    spans = [x for x in _hatched(ax_spo2) if x[2] == chart.HOLES["sensor_off"][1]]
    assert [(a, b) for a, b, _ in spans] == [(round(x0, 2), round(x1, 2))], (
        f"hatched spans on the SpO2 chart {spans}: the probe-off stretch "
        f"{x0:.2f}..{x1:.2f} min must be hatched"
    )
    # An SpO2 probe off says nothing of the BP and HR drawn above: not hatched there.
    assert _hatched(ax_bp) == []
    legend = ax_bp.get_legend()
    assert legend is not None
    names = [t.get_text() for t in legend.get_texts()]
    assert SENSOR_OFF in names, f"legend {names}: the hatch drawn must be named"


def test_the_legend_names_only_the_hatches_drawn(tmp_path: Path) -> None:
    # The same session with the probe on throughout: nothing hatched, nothing named.
    text = "".join(x for x in _scenario().splitlines(True) if "probe_off" not in x)
    rec = play_record(tmp_path, text)
    fig = Figure()
    chart.draw(fig, rec, *PDF_CHART)
    legend = fig.axes[0].get_legend()
    assert legend is not None
    assert SENSOR_OFF not in [t.get_text() for t in legend.get_texts()]


def test_a_device_lost_hatch_is_named_too(complete: SessionRecord) -> None:
    # The complete session's HR link lost 2700-2900 s: hatched before, never named.
    fig = Figure()
    chart.draw(fig, complete, *PDF_CHART)
    legend = fig.axes[0].get_legend()
    assert legend is not None
    names = [t.get_text() for t in legend.get_texts()]
    assert "device lost" in names and SENSOR_OFF not in names, names


def _drawn_across(ax: object, label: str, x0: float, x1: float) -> list[tuple[float, float]]:
    """The segments of the line `label` on `ax` joining a point before `x1` to one after
    `x0`, across (part of) the stretch x0..x1 (minutes)."""
    (line,) = [x for x in ax.get_lines() if x.get_label() == label]  # type: ignore[attr-defined]
    xs, ys = line.get_xdata(), line.get_ydata()
    return [
        (float(xs[i]), float(xs[i + 1]))
        for i in range(len(xs) - 1)
        if not (math.isnan(ys[i]) or math.isnan(ys[i + 1]))
        and xs[i] < x1
        and xs[i + 1] > x0
        and xs[i + 1] > xs[i]
    ]


def test_the_spo2_line_is_not_drawn_across_a_short_probe_off(tmp_path: Path) -> None:
    # Probe off for 40 s (under the 60 s a silence is bridged): hatched, and the coverage
    # leaves it out (test_spo2_coverage.py), but the line was drawn across it from the
    # last valid sample to the next, as if SpO2 had been monitored.
    off = range(DOSE + 600, DOSE + 640)
    rec = play_record(tmp_path, spo2_scenario(DOSE + 130 * 60, DOSE + 130 * 60, off=off))
    (gap,) = [g for g in rec.gaps if g.what == "sensor_off"]
    assert gap.start is not None and gap.end is not None
    fig = Figure()
    chart.draw(fig, rec, *PDF_CHART)
    x0, x1 = chart.minutes(rec, gap.start), chart.minutes(rec, gap.end)
    across = _drawn_across(fig.axes[1], "SpO2 (%)", x0, x1)
    assert across == [], (
        f"SpO2 line segments {across} drawn across the probe-off stretch {x0:.2f}..{x1:.2f} min"
    )


def test_no_line_is_drawn_across_a_restart() -> None:
    # monitord not running for 20 s between two samples 30 s apart: hatched, but the HR
    # and SpO2 lines joined the samples either side of it.
    t0 = 1714986000.0
    session = [
        SessionEvent(t0 + t, "chair-3", a, "esketamine", "s-down")
        for t, a in ((0, "start"), (60, "dose_start"), (1260, "end"))
    ]
    readings = []
    for t in range(60, 1260, 30):
        at = utc(t0 + t)
        readings.append(Reading("chair-3", "ox", Kind.SPO2, {"spo2_pct": 97.0}, at, at))
        readings.append(Reading("chair-3", "ecg", Kind.HR, {"hr_bpm": 70.0}, at, at))
    down = Outage(t0 + 605, t0 + 625, False, "s-down")
    rec = build_record(readings, [], session, outages=[down])
    fig = Figure()
    chart.draw(fig, rec, *PDF_CHART)
    x0, x1 = chart.minutes(rec, down.start), chart.minutes(rec, down.end)
    for ax, label in ((fig.axes[0], "HR (bpm)"), (fig.axes[1], "SpO2 (%)")):
        across = _drawn_across(ax, label, x0, x1)
        assert across == [], f"{label} line segments {across} drawn across monitord's restart"


def test_a_device_lost_is_hatched_on_the_panels_of_its_signals(complete: SessionRecord) -> None:
    # The complete session's HR monitor lost 2700-2900 s: the SpO2 panel was hatched
    # "device lost" too, with the SpO2 line (another device, there throughout) drawn
    # through the hatch and the form saying SpO2 was covered.
    fig = Figure()
    chart.draw(fig, complete, *PDF_CHART)
    ax_bp, ax_spo2 = fig.axes
    x0, x1 = (2700 - 600) / 60, (2900 - 600) / 60
    assert [(a, b) for a, b, _ in _hatched(ax_bp)] == [(round(x0, 2), round(x1, 2))]
    assert _hatched(ax_spo2) == [], (
        f"hatched on the SpO2 panel {_hatched(ax_spo2)}: the HR monitor's link loss says "
        "nothing of the SpO2"
    )
