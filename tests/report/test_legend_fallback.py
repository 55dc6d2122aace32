"""The chart's legend is one row above the BP/HR axes, its type shrunk to 4.5 pt when
wider than the page; wider still (more entries than the 9 of today), it had no fallback:
its first entries (HR) ran off the page's left edge. Two rows then, under the header."""

from __future__ import annotations

from matplotlib.figure import Figure

from monitord.report import chart
from monitord.report.pdf import A4_IN, PDF_CHART


def test_a_legend_too_wide_at_the_smallest_type_wraps_to_two_rows_on_the_page() -> None:
    fig = Figure(figsize=A4_IN)
    ax = fig.add_axes(PDF_CHART[0])
    # Today's 9 (test_no_spo2_lines: one row at 5 pt) and 3 more: 12 run off at 4.5 pt.
    labels = ["HR (bpm)", "systolic (mmHg)", "diastolic (mmHg)", chart.STORED_LABEL]
    labels += ["invalid reading", *(name for name, _, _ in chart.HOLES.values())]
    for i, name in enumerate([*labels, *(f"extra kind of hole {i}" for i in range(3))]):
        ax.plot([0, 1], [0, i], label=name)
    chart._legend(fig, ax)
    fig.draw_without_rendering()  # lays the texts out where the page has them
    legend = ax.get_legend()
    assert legend is not None
    box = legend.get_window_extent()
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width, f"{box}: off the page"
    # Under the PDF header's last line (pdf._figure: at 0.925 of the page).
    assert box.y1 < 0.925 * fig.bbox.height, box
    assert legend.get_texts()[0].get_text() == "HR (bpm)"
    assert len({round(t.get_window_extent().y0) for t in legend.get_texts()}) == 2
