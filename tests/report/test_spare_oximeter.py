"""An oximeter swapped mid-session: the chair's first oximeter (`ox-a`) lost for good (its
battery dead, `tech.device_lost` to the end), the nurse clips the chair's spare (`ox-b`,
another device of its config) and SpO2 comes again from it. The first one's loss was
counted as an SpO2 hole to the session end, the spare's SpO2 inside it taken off: the form
read "minimum 85 %; 0.0 min below 90 % ... NOT CONTINUOUS: valid SpO2 for 55.0 of the
125.0 min", beside the spo2.low alarm the spare's 2-min dip to 85 % raised, and the chart
hatched "device lost" under the spare's SpO2 line. A device's loss is a hole of its signal
only where no other device's samples of that signal stand.

And two oximeters on the chair, one on the patient and one whose probe is empty (sending
probe-off samples, as a Masimo on the cart does): the empty one's samples cut short each
valid sample of the other (a sample stood "until the next sample, valid or not", of any
device), and the form read "NOT CONTINUOUS: valid SpO2 for 62.5 of the 125.0 min (50 %)",
"1.0 min below 90 %" for a 2-min dip, and 3750 stretches without valid SpO2, and the chart
drew no SpO2 line (broken at every sample). A valid sample stands until its own device's
next sample.

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
from .test_chart_sensor_off import _drawn_across, _hatched

CHAIR = "chair-1"
DOSE, LOST, SPARE, END = 300, 3600, 3700, 300 + 125 * 60
DIP = range(5000, 5120)  # s from the start: the spare reads 85 % for 2 min


# (t, what, session action or device, reading kind, value); what: 0 a session command,
# 1 a reading, 2 a link down, 3 a probe-off SpO2 sample (`contact` false, no value).
Step = tuple[float, int, str, Kind | None, float]


def _swap() -> list[Step]:
    """`ox-a` every 2 s until 3600 s and its link down then, never back; `ox-b` every
    2 s from 3700 s."""
    plan: list[Step] = [(t, 1, "ox-a", Kind.SPO2, 97.0) for t in range(0, LOST, 2)]
    plan += [
        (t, 1, "ox-b", Kind.SPO2, 85.0 if t in DIP else 97.0) for t in range(SPARE, END + 1, 2)
    ]
    return [*plan, (LOST, 2, "ox-a", None, 0)]


def _empty_probe() -> list[Step]:
    """`ox-b` on the patient every 2 s, `ox-a` probe off every 2 s between, throughout."""
    plan: list[Step] = [(t, 3, "ox-a", Kind.SPO2, 0) for t in range(1, END, 2)]
    return plan + [
        (t, 1, "ox-b", Kind.SPO2, 85.0 if t in DIP else 97.0) for t in range(0, END + 1, 2)
    ]


def _play(db: Path, spo2: list[Step]) -> None:
    """Baseline BPs, the dose at 300 s, a BP every 10 min, the end 125 min after the dose;
    the oximeters' `spo2` steps."""
    eng = AlertEngine()
    plan: list[Step] = [(0, 0, "start", None, 0), (DOSE, 0, "dose_start", None, 0)]
    plan += [(DOSE + 100, 0, "dose_end", None, 0), (END, 0, "end", None, 0)]
    plan += [(t, 1, "cuff", Kind.BP, 125.0) for t in (60, 240, *range(900, END, 600))]
    plan += spo2
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
            elif what in (1, 3) and kind is not None:
                values = {"spo2_pct": v} if kind == Kind.SPO2 else {"sys_mmHg": v, "dia_mmHg": 80.0}
                off = {"spo2_pct": None, "pulse_bpm": None}
                r = Reading(CHAIR, name, kind, values, utc(at), utc(at))
                if what == 3:
                    r = Reading(CHAIR, name, kind, off, utc(at), utc(at), contact=False)
                r = judged(r)
                sess = eng.session(CHAIR)
                ob.add_readings([r], {CHAIR: sess["session_id"] if sess else None})
                out += eng.feed(sample_from_reading(r))
            else:
                out += eng.feed(Link(at, CHAIR, name, up=False))
            ob.add_alert_events(out)
            ob.commit()
        ob.add_alert_events(eng.advance(T0 + END + 10))
        ob.commit()


def _record(tmp_path: Path, spo2: list[Step] | None = None) -> SessionRecord:
    db = tmp_path / "o.sqlite"
    _play(db, _swap() if spo2 is None else spo2)
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


def test_an_oximeter_with_an_empty_probe_cuts_no_valid_spo2_short(tmp_path: Path) -> None:
    rec = _record(tmp_path, _empty_probe())
    assert ("spo2.low", "raised") in [(a.rule, a.event) for a in rec.alerts]
    (line,) = [f for f in form_lines(rec) if f.key == "spo2"]
    assert line.value.startswith("minimum 85 % at "), line.value
    assert "2.0 min below 90 %" in line.value, line.value
    assert "valid SpO2 for 125.0 of the 125.0 min" in line.value, line.value
    assert not line.missing and "NOT CONTINUOUS" not in line.value, line.value
    assert not [g for g in rec.gaps if g.what == "no_spo2"], rec.gaps


def test_an_oximeter_with_an_empty_probe_breaks_no_spo2_line(tmp_path: Path) -> None:
    rec = _record(tmp_path, _empty_probe())
    fig = Figure()
    chart.draw(fig, rec, *PDF_CHART)
    _, ax_spo2 = fig.axes
    (line,) = [ln for ln in ax_spo2.get_lines() if ln.get_label() == "SpO2 (%)"]
    ys = list(line.get_ydata())  # type: ignore[arg-type]
    # Drawn whole: a break (NaN) at each probe-off sample of the other oximeter left no
    # two valid samples joined, and no line on the panel.
    assert len(ys) > 3000 and sum(1 for y in ys if y != y) == 0, sum(1 for y in ys if y != y)


def _lost_beside_a_zero() -> list[Step]:
    """`ox-a` on the patient every 2 s until its link goes down at 3600 s, never back;
    `ox-b`, its probe on nothing, reads 0 % every 2 s throughout (invalid, but no probe-off
    flag: contact is not lost, so no tech.sensor_off)."""
    plan: list[Step] = [(t, 1, "ox-a", Kind.SPO2, 97.0) for t in range(0, LOST, 2)]
    plan += [(t, 1, "ox-b", Kind.SPO2, 0.0) for t in range(1, END, 2)]
    return [*plan, (LOST, 2, "ox-a", None, 0)]


def test_another_oximeters_invalid_samples_cover_no_loss(tmp_path: Path) -> None:
    # ox-b's 0 % samples made ox-a's loss no hole ("no other device's samples stand"
    # counted invalid ones): ox-a's last sample stood a minute into its loss, the form read
    # 56.0 min of valid SpO2 for 55.0, and the rest of the loss was listed as "no_spo2 ...
    # no device-lost alarm" beside the device-lost alarm.
    rec = _record(tmp_path, _lost_beside_a_zero())
    (line,) = [f.value for f in form_lines(rec) if f.key == "spo2"]
    assert "valid SpO2 for 55.0 of the 125.0 min" in line, line
    assert not [g for g in rec.gaps if g.what == "no_spo2"], rec.gaps
    fig = Figure()
    chart.draw(fig, rec, *PDF_CHART)
    _, ax_spo2 = fig.axes
    lost = chart.HOLES["device_lost"][1]
    spans = [(round(a, 1), round(b, 1)) for a, b, h in _hatched(ax_spo2) if h == lost]
    assert spans and spans[0][0] == 55.0, spans


def _low_then_lost() -> list[Step]:
    """`ox-a` every 2 s, reading 85 % in its last minute, its link down at 3600 s for
    good; `ox-b` on the patient too, 97 % every 2 s throughout."""
    plan: list[Step] = [
        (t, 1, "ox-a", Kind.SPO2, 85.0 if t >= LOST - 60 else 97.0) for t in range(0, LOST, 2)
    ]
    plan += [(t, 1, "ox-b", Kind.SPO2, 97.0) for t in range(1, END, 2)]
    return [*plan, (LOST, 2, "ox-a", None, 0)]


def test_a_lost_oximeters_last_low_stands_no_further_than_its_link(tmp_path: Path) -> None:
    # ox-a's last 85 % stood until its own next sample (none: 60 s) beside ox-b's 97 %:
    # "2.0 min below 90 %" for a 1-min dip, a minute of it after ox-a was gone.
    rec = _record(tmp_path, _low_then_lost())
    (line,) = [f.value for f in form_lines(rec) if f.key == "spo2"]
    assert "1.0 min below 90 %" in line, line
    assert "valid SpO2 for 125.0 of the 125.0 min" in line, line


def _garbage_then_spare() -> list[Step]:
    """`ox-a` every 2 s, its probe slipped from 3000 s: 0 % (no probe-off flag) every 2 s
    to the end; the nurse clips the spare `ox-b` at 3052 s, 97 % every 2 s."""
    plan: list[Step] = [
        (t, 1, "ox-a", Kind.SPO2, 0.0 if t >= 3000 else 97.0) for t in range(0, END, 2)
    ]
    return plan + [(t, 1, "ox-b", Kind.SPO2, 97.0) for t in range(3053, END, 2)]


def test_the_line_breaks_where_no_valid_spo2_came_before_the_spares(tmp_path: Path) -> None:
    # No valid SpO2 from 3000 s to the spare's first sample at 3053 s: the line was drawn
    # across (an invalid sample broke it only before its own device's next valid one).
    rec = _record(tmp_path, _garbage_then_spare())
    fig = Figure()
    chart.draw(fig, rec, *PDF_CHART)
    _, ax_spo2 = fig.axes
    # Minutes from the dose: no valid SpO2 from 3000 s to 3053 s.
    across = _drawn_across(ax_spo2, "SpO2 (%)", (3000 - DOSE) / 60, (3053 - DOSE) / 60)
    assert not across, across
