"""An oximeter swapped mid-session: the chair's first oximeter (`ox-a`) lost for good (its
battery dead, `tech.device_lost` to the end), the nurse clips the chair's spare (`ox-b`,
another device of its config) and SpO2 comes again from it. The first one's loss was
counted as an SpO2 hole to the session end, the spare's SpO2 inside it taken off: the form
read "minimum 85 %; 0.0 min below 90 % ... NOT CONTINUOUS: valid SpO2 for 55.0 of the
125.0 min", beside the spo2.low alarm the spare's 2-min dip to 85 % raised, and the chart
hatched "device lost" under the spare's SpO2 line. A device's loss is a hole of its signal
only where no other device's samples of that signal stand.

Played through the real alert engine into a real outbox, as the chair's hub stores them
(each reading, session event and alert event committed in order)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from monitord.config import StorageConfig
from monitord.engine import AlertEngine, Link, SessionCmd
from monitord.engine.inputs import sample_from_reading
from monitord.engine.validity import judged
from monitord.models import Kind, Reading, SessionEvent, utc
from monitord.outbox import Outbox
from monitord.report import SessionRecord, chart, record_for, session_spans
from monitord.report.pdf import PDF_CHART
from monitord.report.text import form_lines

from .storeplay import T0
from .test_chart_sensor_off import _hatched

CHAIR = "chair-1"
DOSE, LOST, SPARE, END = 300, 3600, 3700, 300 + 125 * 60
DIP = range(5000, 5120)  # s from the start: the spare reads 85 % for 2 min


def _play(db: Path) -> None:
    """Baseline BPs, the dose at 300 s, a BP every 10 min; `ox-a` every 2 s until 3600 s
    and its link down then, never back; `ox-b` every 2 s from 3700 s; the end 125 min
    after the dose."""
    eng = AlertEngine()
    # (t, what, session action or device, reading kind, value); what: 0 a session
    # command, 1 a reading, 2 a link down.
    Step = tuple[float, int, str, Kind | None, float]
    plan: list[Step] = [(0, 0, "start", None, 0), (DOSE, 0, "dose_start", None, 0)]
    plan += [(DOSE + 100, 0, "dose_end", None, 0), (END, 0, "end", None, 0)]
    plan += [(t, 1, "cuff", Kind.BP, 125.0) for t in (60, 240, *range(900, END, 600))]
    plan += [(t, 1, "ox-a", Kind.SPO2, 97.0) for t in range(0, LOST, 2)]
    plan += [
        (t, 1, "ox-b", Kind.SPO2, 85.0 if t in DIP else 97.0) for t in range(SPARE, END + 1, 2)
    ]
    plan.append((LOST, 2, "ox-a", None, 0))
    with Outbox(db, StorageConfig(path=db)) as ob:
        for t, what, name, kind, v in sorted(plan, key=lambda p: p[0]):
            at = T0 + t
            out = eng.advance(at, strict=True)
            if what == 0:
                before = eng.session(CHAIR)
                kw = {"protocol": "esketamine"} if name == "start" else {}
                out += eng.feed(SessionCmd(at, CHAIR, name, **kw))  # type: ignore[arg-type]
                sess = eng.session(CHAIR) or before
                assert sess is not None, eng.last_error
                ob.add_session_events(
                    [SessionEvent(at, CHAIR, name, sess["protocol"], sess["session_id"])]
                )
            elif what == 1 and kind is not None:
                values = {"spo2_pct": v} if kind == Kind.SPO2 else {"sys_mmHg": v, "dia_mmHg": 80.0}
                r = judged(Reading(CHAIR, name, kind, values, utc(at), utc(at)))
                sess = eng.session(CHAIR)
                ob.add_readings([r], {CHAIR: sess["session_id"] if sess else None})
                out += eng.feed(sample_from_reading(r))
            else:
                out += eng.feed(Link(at, CHAIR, name, up=False))
            ob.add_alert_events(out)
            ob.commit()
        ob.add_alert_events(eng.advance(T0 + END + 10))
        ob.commit()


def _record(tmp_path: Path) -> SessionRecord:
    db = tmp_path / "o.sqlite"
    _play(db)
    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        (span,) = session_spans(ob)
        return record_for(ob, span)


def test_the_spare_oximeters_spo2_is_on_the_form(tmp_path: Path) -> None:
    rec = _record(tmp_path)
    raised = [(a.rule, a.event) for a in rec.alerts if a.event == "raised"]
    assert ("tech.device_lost", "raised") in raised and ("spo2.low", "raised") in raised
    (line,) = [f.value for f in form_lines(rec) if f.key == "spo2"]
    # 2 min below 90 % (the spare's dip); only the 100 s from the loss to the spare's first
    # sample had no SpO2 (the device-lost gap explains them).
    assert line.startswith("minimum 85 % at "), line
    assert "2.0 min below 90 %" in line, line
    assert "valid SpO2 for 123.3 of the 125.0 min" in line, line
    assert not [g for g in rec.gaps if g.what == "no_spo2" and (g.start or 0) > T0 + LOST], rec.gaps


def test_the_spare_oximeters_spo2_is_not_hatched_device_lost(tmp_path: Path) -> None:
    rec = _record(tmp_path)
    fig = Figure()
    chart.draw(fig, rec, *PDF_CHART)
    _, ax_spo2 = fig.axes
    # Minutes from the dose: the loss (55 min) to the spare's first sample (56.7 min).
    lost = chart.HOLES["device_lost"][1]
    spans = [(round(a, 1), round(b, 1)) for a, b, h in _hatched(ax_spo2) if h == lost]
    assert spans == [(55.0, 56.7)], spans
