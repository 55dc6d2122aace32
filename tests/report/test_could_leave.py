"""The REMS Evaluation Question ("If there was not a 2-hour minimum monitoring requirement,
when would this patient have been ready to leave? ___ minutes from start of
administration"): session.discharge_ready's criteria without the observation-time gate,
by the engine's own predicate, from when they held without a break until the end.
Audit regressions: the answer was the advisory's first raise, never under 120 min, and
kept a readiness the patient lost again."""

from __future__ import annotations

from pathlib import Path

from monitord.engine.rules import RuleSet
from monitord.report.text import could_leave_text

from .reportkit import form, play_record
from .storeplay import T0

DOSE = T0 + 300


def _session(
    bps: list[tuple[int, int, int]], end_min: int = 135, protocol: str = "esketamine"
) -> str:
    """A session with a normal baseline, dosed at t=300 s; `bps`: (min from dose, sys,
    dia)."""
    lines = [
        f'{{"t": 0, "event": "session_start", "protocol": "{protocol}", "session_id": "s-c"}}',
        '{"t": 60, "event": "bp", "sys": 120, "dia": 80}',
        '{"t": 120, "event": "bp", "sys": 122, "dia": 80}',
        '{"t": 300, "event": "dose_start"}',
        '{"t": 600, "event": "dose_end"}',
    ]
    lines += [f'{{"t": {300 + m * 60}, "event": "bp", "sys": {s}, "dia": {d}}}' for m, s, d in bps]
    end = 300 + end_min * 60
    lines += [f'{{"t": {end}, "event": "session_end"}}', f'{{"t": {end + 100}, "event": "end"}}']
    return "\n".join(lines) + "\n"


def _met_min(tmp_path: Path, text: str, rules: RuleSet | None = None) -> float | None:
    rec = play_record(tmp_path, text, rules)
    print("could_leave:", could_leave_text(rec))
    t = rec.readiness.met_t
    return None if t is None else (t - DOSE) / 60


def test_answered_without_the_2_hour_minimum(tmp_path: Path) -> None:
    # Back to baseline from 40 min on, every 10 min: met once the last 2 BP are both
    # post-dose (50 min), where the advisory waits for 120 min.
    text = _session([(m, 121, 79) for m in range(40, 131, 10)])
    rec = play_record(tmp_path, text)
    assert rec.readiness.met_t == DOSE + 50 * 60
    assert rec.discharge_ready_t == DOSE + 120 * 60  # the advisory, gated on 120 min
    value = form(rec)["could_leave"]
    assert value.startswith("50 min from administration: discharge criteria met from")
    assert "without the 2-hour minimum" in value and "the clinician decides" in value
    # No oximeter in this session: the SpO2 criterion had nothing to test (say so).
    assert (
        "without the 2-hour minimum; no valid SpO2 in the session: the SpO2 criterion (>= 94 % "
        "if seen in the last 5 min) had none to test; session.discharge_ready" in value
    ), value


def test_a_readiness_lost_again_counts_from_the_regain(tmp_path: Path) -> None:
    bps = [(40, 125, 80), (115, 124, 80), (125, 168, 98), (135, 166, 96), (145, 130, 82),
           (155, 126, 80)]  # fmt: skip
    text = _session(bps, end_min=165)
    rec = play_record(tmp_path, text)
    raised = [
        a.t for a in rec.alerts if a.rule == "session.discharge_ready" and a.event == "raised"
    ]
    assert raised[0] == DOSE + 120 * 60  # ready at 120 min, then lost (168/98)
    # bp.not_declining clears at the second normal BP (155 min): ready from then on.
    assert rec.readiness.met_t == DOSE + 155 * 60
    assert rec.discharge_ready_t == DOSE + 155 * 60


def test_not_ready_at_the_end_is_no_answer(tmp_path: Path) -> None:
    text = _session([(40, 125, 80), (50, 124, 80), (120, 150, 85), (130, 152, 86)])
    rec = play_record(tmp_path, text)
    assert rec.readiness.met_t is None and rec.discharge_ready_t is None
    assert form(rec)["could_leave"] == (
        "discharge criteria (without the 2-hour minimum): no answer, not met at the end of "
        "monitoring: active alert bp.not_declining; the clinician decides"
    )


def test_pre_dose_readings_alone_answer_nothing(tmp_path: Path) -> None:
    # Only one BP after the dose: the last 2 include a pre-dose one.
    assert _met_min(tmp_path, _session([(60, 121, 79)])) is None


def test_the_engine_s_predicate_with_the_clinic_s_overrides(tmp_path: Path) -> None:
    # 125/93 is above the default 140/90 limit; a clinic allowing 95 has it met at 50.
    bps = [(m, 125, 93) for m in range(40, 131, 10)]
    assert _met_min(tmp_path / "a", _session(bps)) is None
    rules = RuleSet.from_overrides({"session.discharge_ready": {"dia_le": 95}})
    assert _met_min(tmp_path / "b", _session(bps), rules) == 50


def test_iv_ketamine_counts_from_the_dose_and_names_the_infusion_end(tmp_path: Path) -> None:
    text = _session([(m, 121, 79) for m in range(10, 71, 10)], end_min=75, protocol="iv-ketamine")
    rec = play_record(tmp_path, text)
    assert rec.readiness.met_t == DOSE + 20 * 60
    value = form(rec)["could_leave"]
    assert value.startswith("20 min from administration, 15 min after the dose end")
    assert "without the observation minimum" in value


def _with_spo2(bps: list[tuple[int, int, int]], spo2_s: range, end_min: int = 135) -> str:
    """`_session` with a valid 97 % SpO2 sample at each of `spo2_s` (s from the dose)."""
    text = _session(bps, end_min)
    lines = text.splitlines()
    lines[4:4] = [f'{{"t": {300 + s}, "event": "spo2", "spo2": 97}}' for s in spo2_s]
    return "\n".join(sorted(lines, key=lambda x: float(x.split(",")[0][6:]))) + "\n"


def test_criteria_met_with_no_spo2_seen_say_so(tmp_path: Path) -> None:
    # The oximeter's last sample at 39 min 55 s: "SpO2 >= 94 if seen in the last 5 min"
    # held from 45 min on with no SpO2 to test, and the answer read "met from 09:55:00
    # until completion" beside an SpO2 line saying NOT CONTINUOUS, with nothing here to
    # say the SpO2 term was never tested.
    bps = [(m, 121, 79) for m in range(40, 131, 10)]
    rec = play_record(tmp_path, _with_spo2(bps, range(0, 40 * 60, 5)))
    assert rec.readiness.met_t == DOSE + 50 * 60  # the rule's verdict is kept
    value = form(rec)["could_leave"]
    assert value.startswith(
        "50 min from administration: discharge criteria met from 09:55:00 until completion"
    ), value
    fact = (
        "without the 2-hour minimum; no valid SpO2 in the 5 min before any time from "
        "09:55:00 to 11:20:00 (the last valid SpO2 before 09:55:00 at 09:44:55): the SpO2 "
        "criterion (>= 94 % if seen in the last 5 min) had no SpO2 to test then; "
        "session.discharge_ready raised at 11:05:00"
    )
    assert fact in value, f"could_leave {value!r}: must say no SpO2 was seen then"


def test_a_second_stretch_without_spo2_is_named_too(tmp_path: Path) -> None:
    # SpO2 from the dose to 60 min and from 100 min on: seen in the 5 min before every
    # time except 65-100 min.
    bps = [(m, 121, 79) for m in range(40, 131, 10)]
    spo2 = [s for s in range(0, 135 * 60, 5) if not 60 * 60 <= s < 100 * 60]
    rec = play_record(tmp_path, _with_spo2(bps, spo2))  # type: ignore[arg-type]
    value = form(rec)["could_leave"]
    assert "; no valid SpO2 in the 5 min before any time from 10:09:55 to 10:45:00:" in value, value


def test_spo2_seen_throughout_adds_nothing(tmp_path: Path) -> None:
    bps = [(m, 121, 79) for m in range(40, 131, 10)]
    rec = play_record(tmp_path, _with_spo2(bps, range(0, 135 * 60, 5)))
    value = form(rec)["could_leave"]
    assert "SpO2" not in value, value
