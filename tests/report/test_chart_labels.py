"""The chart's marker labels (start, dose, 40 min, dose end, end) stay inside the chart:
the "end" label used to be drawn right of its line and was cut off at the axes' edge."""

from __future__ import annotations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from monitord.report import SessionRecord, chart
from monitord.report.pdf import A4_IN, PDF_CHART, SVG_CHART, SVG_SIZE_IN

# The two layouts the renderers use: the PDF page and the HTML page's SVG.
RECTS = {
    "pdf": (*PDF_CHART, A4_IN),
    "svg": (*SVG_CHART, SVG_SIZE_IN),
}


@pytest.mark.parametrize("layout", sorted(RECTS))
def test_marker_labels_stay_inside_the_axes(layout: str, complete: SessionRecord) -> None:
    rect_bp, rect_spo2, size = RECTS[layout]
    fig = Figure(figsize=size)
    chart.draw(fig, complete, rect_bp, rect_spo2)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # type: ignore[no-untyped-call]  # matplotlib's Agg canvas is unannotated
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]  # (as above)
    ax = fig.axes[0]
    box = ax.get_window_extent(renderer)
    labels = [c for c in ax.get_children() if isinstance(c, Annotation)]
    legend = ax.get_legend()
    assert legend is not None
    leg = legend.get_window_extent(renderer)
    names = {a.get_text() for a in labels}
    assert {"start", "end"} <= names, names
    for a in labels:
        ext = a.get_window_extent(renderer)
        assert box.x0 - 0.5 <= ext.x0 and ext.x1 <= box.x1 + 0.5, (
            f"label {a.get_text()!r} spans x {ext.x0:.1f}..{ext.x1:.1f}, "
            f"the axes {box.x0:.1f}..{box.x1:.1f}"
        )
        assert box.y0 <= ext.y0 and ext.y1 <= box.y1 + 0.5, (
            f"label {a.get_text()!r} leaves the chart"
        )
        assert not ext.overlaps(leg), f"the legend covers the label {a.get_text()!r}"
    # The legend, above the chart, stays on the figure (under the PDF's header).
    assert leg.y1 <= fig.bbox.y1 and leg.x1 <= fig.bbox.x1 + 0.5, (leg, fig.bbox)
