"""A sensor-off stretch (probe off, contact lost: no valid values) is hatched on the chart
and named in the legend, as a device lost is. It was not: the probe-off samples' last value
(97 %) was plotted as red crosses along the line, and a stretch under a minute left the
SpO2 line drawn across it, so the stretch read as monitored normal values (only an alarm
band, the same yellow as every low-priority alarm, marked it)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from monitord.report import SessionRecord, chart
from monitord.report.pdf import PDF_CHART

from .reportkit import play_record
from .test_sensor_off_gap import _scenario

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
    spans = _hatched(ax_spo2)
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
