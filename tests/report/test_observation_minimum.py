"""The observation after the dose against the protocol's minimum (clinical-rules.md:
esketamine "observation at least 120 min after `dose_start`", iv-ketamine "observation at
least 60 min after `dose_end`"), with the engine's own parameters.

Audit regression: a 40- or 90-minute esketamine session showed "Total monitoring time:
1 h 30 min" with no mark, and an IV-ketamine session ended 50 min after the infusion's
end was not flagged either."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from monitord.engine.rules import RuleSet
from monitord.models import AlertEvent
from monitord.report import SessionRecord, build_record
from monitord.report.pdf import RED, layout
from monitord.report.render import render_html, write_all
from monitord.report.text import form_lines
from monitord.store.outages import Outage

from .reportkit import play_record
from .test_build_record import CHAIR, T0, bp, sess
from .test_render import _tool

DS = 600.0  # dose start (s after session start) in every row
MIN = 60.0
ESK = "protocol minimum of 2 h 00 min from dose start"
IV = "protocol minimum of 1 h 00 min from dose end"
WINDOW = "inside the minimum window (see gaps): no monitoring and no alarms then"
LATE = (
    "monitord was not running before the dose_start (see gaps): a dose_start sent "
    "meanwhile is recorded when it restarted, so it may be dated late"
)


def _esk(end_min: float | None, dose: bool = True) -> list[tuple[float, str]]:
    acts = [(0.0, "start")]
    if dose:
        acts += [(DS, "dose_start"), (DS + 2 * MIN, "dose_end")]
    if end_min is not None:
        acts.append((DS + end_min * MIN, "end"))
    return acts


def _iv(end_after_dose_end_min: float | None, dose_end: bool = True) -> list[tuple[float, str]]:
    de = DS + 40 * MIN  # a 40-minute infusion
    acts = [(0.0, "start"), (DS, "dose_start")]
    if dose_end:
        acts.append((de, "dose_end"))
    if end_after_dose_end_min is not None:
        acts.append((de + end_after_dose_end_min * MIN, "end"))
    return acts


def _down(lo_min: float, hi_min: float) -> Outage:
    """monitord not running from lo to hi minutes after the dose start."""
    return Outage(T0 + DS + lo_min * MIN, T0 + DS + hi_min * MIN, False, "s1")


def _record(
    protocol: str,
    acts: list[tuple[float, str]],
    outages: list[Outage] | None = None,
    alerts: list[AlertEvent] | None = None,
    rules: RuleSet | None = None,
) -> SessionRecord:
    readings = [bp(60, 120, 80), bp(120, 122, 80), bp(DS + 40 * MIN, 124, 80)]
    return build_record(
        readings, alerts or [], sess(*acts, protocol=protocol), "UTC", rules, outages or []
    )


def _lost(lo_min: float, hi_min: float) -> list[AlertEvent]:
    """A monitor lost from lo to hi minutes after the dose start (raised 30 s after)."""

    def ev(t_min: float, event: str) -> AlertEvent:
        return AlertEvent(
            T0 + DS + t_min * MIN,
            CHAIR,
            "tech.device_lost",
            event,
            "medium",
            "technical",
            "a-lost",
            "observation",
            {"device": "nibp", "after_s": 30},
            "nibp link down",
        )

    return [ev(lo_min + 0.5, "raised"), ev(hi_min, "cleared")]


# (protocol, session events, outages, alerts) -> (verdict, the form's words), every
# row a session the audit could meet.
CASES = [
    ("esketamine", _esk(40), None, None, "short",
     f"SHORT: 40 min from dose start to session end, under the {ESK} (1 h 20 min short)"),
    ("esketamine", _esk(90), None, None, "short",
     f"SHORT: 1 h 30 min from dose start to session end, under the {ESK} (30 min short)"),
    ("esketamine", _esk(120 - 0.5 / 60), None, None, "short",
     f"SHORT: 1 h 59 min 59 s from dose start to session end, under the {ESK} (1 s short)"),
    ("esketamine", _esk(120), None, None, "met",
     f"met: 2 h 00 min from dose start to session end, at least the {ESK}"),
    ("esketamine", _esk(135), None, None, "met",
     f"met: 2 h 15 min from dose start to session end, at least the {ESK}"),
    ("esketamine", _esk(135, dose=False), None, None, "not_judged",
     f"CANNOT BE JUDGED against the {ESK} (no dose_start recorded)"),
    ("esketamine", _esk(None), None, None, "not_judged",
     f"CANNOT BE JUDGED against the {ESK} (session not ended)"),
    # IV ketamine counts from the infusion's end: 90 min after the dose start is short.
    ("iv-ketamine", _iv(50), None, None, "short",
     f"SHORT: 50 min from dose end to session end, under the {IV} (10 min short)"),
    ("iv-ketamine", _iv(60), None, None, "met",
     f"met: 1 h 00 min from dose end to session end, at least the {IV}"),
    ("iv-ketamine", _iv(None, dose_end=False), None, None, "not_judged",
     f"CANNOT BE JUDGED against the {IV} (no dose_end recorded)"),
    ("iv-ketamine", _iv(None), None, None, "not_judged",
     f"CANNOT BE JUDGED against the {IV} (session not ended)"),
    # monitord not running inside the minimum window: nothing monitored, no alarms.
    ("esketamine", _esk(135), [_down(60, 80)], None, "not_judged",
     f"CANNOT BE JUDGED against the {ESK} (monitord was not running 1 time {WINDOW})"),
    ("iv-ketamine", _iv(70), [_down(50, 55), _down(98, 99)], None, "not_judged",
     f"CANNOT BE JUDGED against the {IV} (monitord was not running 2 times {WINDOW})"),
    # ... after the window, or before the dose of a long session: no doubt on the minimum.
    ("esketamine", _esk(135), [_down(125, 130)], None, "met",
     f"met: 2 h 15 min from dose start to session end, at least the {ESK}"),
    ("esketamine", _esk(135), [_down(-8, -7)], None, "met",
     f"met: 2 h 15 min from dose start to session end, at least the {ESK}"),
    # A short session stays short across an outage after the dose (the end is never
    # dated early); one before the dose may have dated the dose start late.
    ("esketamine", _esk(90), [_down(60, 65)], None, "short",
     f"SHORT: 1 h 30 min from dose start to session end, under the {ESK} (30 min short)"),
    ("esketamine", _esk(90), [_down(-8, -7)], None, "not_judged",
     f"CANNOT BE JUDGED against the {ESK} ({LATE})"),
    # A device lost inside the window: monitord ran and alarmed it; not a break, noted.
    ("esketamine", _esk(130), None, _lost(50, 70), "met",
     f"met: 2 h 10 min from dose start to session end, at least the {ESK}; "
     "1 device data gap inside the minimum window (see gaps)"),
]  # fmt: skip


@pytest.mark.parametrize(("protocol", "acts", "outages", "alerts", "verdict", "text"), CASES)
def test_observation_against_the_protocol_minimum(
    protocol: str,
    acts: list[tuple[float, str]],
    outages: list[Outage] | None,
    alerts: list[AlertEvent] | None,
    verdict: str,
    text: str,
) -> None:
    rec = _record(protocol, acts, outages, alerts)
    assert rec.observation.verdict == verdict
    (line,) = [fl for fl in form_lines(rec) if fl.key == "observation"]
    assert line.label == "Observation after the dose (protocol minimum)"
    assert line.value == text
    assert line.missing is (verdict != "met")  # flagged (red) unless met
    # The total monitoring time, the form's own figure, is marked when short.
    (mon,) = [fl for fl in form_lines(rec) if fl.key == "monitoring_time"]
    short = "; SHORT of the protocol minimum (see Observation after the dose)"
    assert (short in mon.value) is (verdict == "short")
    if verdict == "short":
        assert mon.missing


@pytest.mark.parametrize(
    ("overrides", "verdict"),
    [({}, "short"), ({"esketamine_observe_s": 5400}, "met")],
)
def test_the_minimum_is_the_engine_s_parameter(
    overrides: dict[str, float], verdict: str, tmp_path: Path
) -> None:
    """Played through the real engine into a real store, with the clinic's `[alerts]`
    override of session.discharge_ready: the report's minimum is the advisory's."""
    rules = RuleSet.from_overrides({"session.discharge_ready": overrides})
    text = "\n".join(
        [
            '{"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-o"}',
            '{"t": 60, "event": "bp", "sys": 120, "dia": 80}',
            '{"t": 120, "event": "bp", "sys": 122, "dia": 80}',
            '{"t": 300, "event": "dose_start"}',
            '{"t": 400, "event": "dose_end"}',
            '{"t": 2700, "event": "bp", "sys": 124, "dia": 80}',
            '{"t": 6300, "event": "session_end"}',  # 100 min after the dose start
            '{"t": 6400, "event": "end"}',
        ]
    )
    rec = play_record(tmp_path, text + "\n", rules)
    assert rec.observation.verdict == verdict
    value = {fl.key: fl.value for fl in form_lines(rec)}["observation"]
    minimum = "1 h 30 min" if overrides else "2 h 00 min"
    assert f"the protocol minimum of {minimum} from dose start" in value


def test_html_pdf_and_csv_flag_a_short_session(tmp_path: Path) -> None:
    rec = _record("esketamine", _esk(90))
    flag = f"SHORT: 1 h 30 min from dose start to session end, under the {ESK}"
    html = render_html(rec)
    row = html.split('id="f-observation"')[1].split("</tr>")[0]
    assert '<td class="missing">' + flag in row  # the red of a MISSING field
    mon = html.split('id="f-monitoring_time"')[1].split("</tr>")[0]
    assert '<td class="missing">1 h 30 min' in mon and "SHORT of the protocol minimum" in mon
    # The PDF draws the same lines in red.
    red = " ".join(s for p in layout(rec) for _, _, s, kw in p.ops if kw.get("color") == RED)
    assert "SHORT: 1 h 30 min" in red and "SHORT of the protocol" in red
    pdf, _, _, events = write_all(rec, tmp_path)
    text = subprocess.run(
        [_tool("pdftotext", "poppler-utils"), "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Observation after the dose (protocol minimum):" in text
    assert "SHORT: 1 h 30 min from dose start" in " ".join(text.split())
    with events.open(encoding="utf-8") as fh:
        rows = {r["name"]: r for r in csv.DictReader(fh) if r["source"] == "form"}
    assert rows["observation"]["detail"].startswith(flag)


def test_a_met_minimum_is_not_flagged_in_html(tmp_path: Path) -> None:
    rec = _record("esketamine", _esk(135))
    row = render_html(rec).split('id="f-observation"')[1].split("</tr>")[0]
    assert "<td>met: 2 h 15 min from dose start" in row and "missing" not in row


def test_a_merged_no_spo2_line_counts_its_stretches_inside_the_window_only() -> None:
    # A gaps line merging SpO2 silences (bursts) from the infusion into the observation:
    # IV ketamine's window starts at dose_end, so only the stretches after it count (the
    # line's start is before the window, its end after): 4 of 6, not 1 per line.
    from monitord.report.gaps import no_spo2_gaps
    from monitord.report.observation import judge_observation

    de = DS + 40 * MIN
    stretches = [(de - 360 + 180 * k, de - 240 + 180 * k) for k in range(6)]
    (line,) = no_spo2_gaps(stretches)
    assert line.start is not None and line.start < de and len(line.stretches) == 6
    o = judge_observation(RuleSet.default(), "iv-ketamine", DS, de, de + 70 * MIN, [line])
    assert (o.verdict, o.device_gaps, o.spo2_gaps) == ("met", 0, 4), o
