"""The chart's dotted bp.severe lines are the clinic's thresholds: they were drawn at
180/110 always, also when `[alerts."bp.severe"]` moved them (docs/config.md), so a BP of
176 that raised the alarm sat under a line it seemed not to reach. Played through the
real engine with the overrides into a real store (reportkit.py), drawn as the PDF draws
it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from monitord.engine.rules import RuleSet
from monitord.report import SessionRecord, chart
from monitord.report.pdf import A4_IN, PDF_CHART

from .reportkit import play_record

SCENARIO = "\n".join(
    [
        '{"t": 0, "event": "session_start", "protocol": "esketamine"}',
        '{"t": 60, "event": "bp", "sys": 128, "dia": 80}',
        '{"t": 300, "event": "dose_start"}',
        '{"t": 600, "event": "bp", "sys": 176, "dia": 96}',
        '{"t": 900, "event": "bp", "sys": 177, "dia": 97}',
        '{"t": 1200, "event": "bp", "sys": 176, "dia": 95}',
        '{"t": 1500, "event": "session_end"}',
        '{"t": 1500, "event": "end"}',
        "",
    ]
)


def _dotted_levels(rec: SessionRecord) -> list[float]:
    """The y of every dotted horizontal line of the BP/HR axes (the severe thresholds)."""
    fig = Figure(figsize=A4_IN)
    chart.draw(fig, rec, *PDF_CHART)
    ax = fig.axes[0]
    levels = []
    for ln in ax.get_lines():
        assert isinstance(ln, Line2D)
        y = np.asarray(ln.get_ydata(), dtype=float).tolist()
        if ln.get_linestyle() == ":" and len(set(y)) == 1:
            levels.append(y[0])
    return sorted(levels)


def test_the_severe_lines_are_drawn_at_the_clinics_thresholds(tmp_path: Path) -> None:
    rules = RuleSet.from_overrides({"bp.severe": {"sys_ge": 175, "dia_ge": 105}})
    rec = play_record(tmp_path, SCENARIO, rules=rules)
    assert any(a.rule == "bp.severe" and a.event == "raised" for a in rec.alerts)
    assert _dotted_levels(rec) == [105.0, 175.0]


def test_without_overrides_the_lines_stay_at_180_and_110(tmp_path: Path) -> None:
    rec = play_record(tmp_path, SCENARIO)
    assert _dotted_levels(rec) == [110.0, 180.0]
