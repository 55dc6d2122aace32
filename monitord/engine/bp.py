"""Blood-pressure rules: bp.crisis, bp.severe, bp.rise, bp.baseline_high, bp.not_declining,
bp.low, bp.very_low (clinical-rules.md "Rules", "Confirmation", "Baseline").

Each rule's condition and clear condition sit in one function below; the confirmation and
clear runs (N consecutive valid readings) are shared by all of them in `_handler`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitord.engine.book import AlertBook
from monitord.engine.rules import BASELINE_MAX_READINGS, BASELINE_MIN_READINGS
from monitord.engine.state import TIME_EPS, BpRunReading, BpRuns, ChairState
from monitord.engine.text import duration, mmhg, mmhg_keeping
from monitord.engine.text import num as _n
from monitord.engine.text import readings as _readings
from monitord.models import AlertEvent

#: Rules confirmed and cleared by runs of BP readings.
RULES = ("bp.crisis", "bp.severe", "bp.rise", "bp.not_declining", "bp.low", "bp.very_low")
BASELINE_HIGH = "bp.baseline_high"

#: A handler of one valid BP reading: (chair, t, sys, dia, map, out).
BpHandler = Callable[[ChairState, float, float, float, float | None, list[AlertEvent]], None]

# (meets, clears, raise text, clear text) of one valid reading.
_Verdict = tuple[bool, bool, str, str]
_Cond = Callable[[Mapping[str, Any], ChairState, float, float, float, float | None], _Verdict]


def _above(
    p: Mapping[str, Any], ch: ChairState, t: float, s: float, d: float, m: float | None
) -> _Verdict:
    """bp.crisis, bp.severe: systolic or diastolic at or over the limit."""
    return (
        s >= p["sys_ge"] or d >= p["dia_ge"],
        s < p["clear_sys_lt"] and d < p["clear_dia_lt"],
        f">= {_n(p['sys_ge'])}/{_n(p['dia_ge'])}",
        f"< {_n(p['clear_sys_lt'])}/{_n(p['clear_dia_lt'])}",
    )


def _rise(
    p: Mapping[str, Any], ch: ChairState, t: float, s: float, d: float, m: float | None
) -> _Verdict:
    """bp.rise: a rise over the baseline (evaluated only when there is one)."""
    assert ch.baseline is not None
    bs, bd = ch.baseline
    ds, dd = s - bs, d - bd
    meets = ds >= p["sys_rise_ge"] or dd >= p["dia_rise_ge"]
    clears = ds < p["clear_sys_rise_lt"] and dd < p["clear_dia_rise_lt"]

    def base(ok_s: Callable[[float], bool], ok_d: Callable[[float], bool]) -> str:
        (b1, r1), (b2, r2) = _rise_terms(s, ds, bs, ok_s), _rise_terms(d, dd, bd, ok_d)
        return f"over baseline {b1}/{b2}: {r1}/{r2}"

    sys_ge, dia_ge = p["sys_rise_ge"], p["dia_rise_ge"]
    sys_lt, dia_lt = p["clear_sys_rise_lt"], p["clear_dia_rise_lt"]
    return (
        meets,
        clears,
        f"{base(lambda v: v >= sys_ge, lambda v: v >= dia_ge)} >= +{_n(sys_ge)}/+{_n(dia_ge)}",
        f"{base(lambda v: v < sys_lt, lambda v: v < dia_lt)} < +{_n(sys_lt)}/+{_n(dia_lt)}",
    )


def _rise_terms(
    reading: float, rise: float, baseline: float, ok: Callable[[float], bool]
) -> tuple[str, str]:
    """One term of a bp.rise message: its baseline and rise, in whole mmHg (`baseline
    124/79: +44/+21`, not a 78.6667 mean) unless the whole rise would make the comparison
    the message states false (a rise of 29.67 that clears `< 30` read "+30 < +30"): then
    both with the decimal that keeps it true, so they still add up to the reading."""
    # The reading less the baseline as shown, so that the numbers add up: a baseline of
    # 72.5 reads 73, and a dia of 98 then rose +25 on it, not the +26 that 25.5 rounds to.
    whole = mmhg(baseline)
    shown = reading - float(whole)
    if ok(shown) or not ok(rise):  # (a term that does not meet an "or" is said as it is)
        return whole, _signed(shown)
    # Whole mmHg would put it on the wrong side: the fewest decimals for both that do not.
    for digits in (1, 2, 3):
        b = round(baseline, digits)
        r = round(reading - b, digits)
        if ok(r):
            return f"{b:.{digits}f}", _signed(r, f"{abs(r):.{digits}f}")
    return _n(baseline), _signed(rise)


def _signed(x: float, text: str | None = None) -> str:
    """A rise with its sign: +44, -3, +0 (`text`: its digits as they are to be shown)."""
    digits = _n(abs(x)) if text is None else text
    return f"-{digits}" if x < 0 and float(digits) != 0 else f"+{digits}"


def baseline_mean(readings: Sequence[Sequence[float]]) -> list[float] | None:
    """The baseline from the last (up to 3) valid baseline readings as [sys, dia] pairs:
    their mean, or None with fewer than BASELINE_MIN_READINGS. Shared with the session
    record (monitord/report/readiness.py) through discharge.py."""
    n = len(readings)
    if n < BASELINE_MIN_READINGS:
        return None
    return [sum(r[0] for r in readings) / n, sum(r[1] for r in readings) / n]


def not_declining_terms(
    p: Mapping[str, Any], baseline: list[float] | None, s: float, d: float
) -> bool:
    """The pressure terms of bp.not_declining (also a discharge criterion). Without a
    baseline only the absolute terms count (clinical-rules.md)."""
    return (
        s >= p["sys_ge"]
        or d >= p["dia_ge"]
        or (baseline is not None and s >= baseline[0] + p["sys_rise_ge"])
    )


def not_declining_text(
    p: Mapping[str, Any], baseline: list[float] | None, sys_values: Sequence[float] = ()
) -> str:
    terms = f"sys >= {_n(p['sys_ge'])}"
    if baseline:
        # The baseline in whole mmHg unless that puts one of `sys_values` (the readings
        # the message names) on the wrong side of baseline + sys_rise_ge: 137.5 read 138,
        # and a BP of 157 that met 137.5 + 19.5 read as under "138 + 19.5".
        b, rise = baseline[0], p["sys_rise_ge"]
        base = mmhg_keeping(
            b, lambda v: all((x >= v + rise) == (x >= b + rise) for x in sys_values)
        )
        terms += f" or >= baseline {base} + {_n(rise)}"
    return f"{terms}, or dia >= {_n(p['dia_ge'])}"


def _not_declining(
    p: Mapping[str, Any], ch: ChairState, t: float, s: float, d: float, m: float | None
) -> _Verdict:
    """bp.not_declining: still high once `after_dose_s` has passed since the dose."""
    assert ch.session is not None and ch.session.dose_start_t is not None
    # (With the slack of state.TIME_EPS: dose_start + 7200 s may round above a reading's t.)
    late = t >= ch.session.dose_start_t + p["after_dose_s"] - TIME_EPS
    meets = late and not_declining_terms(p, ch.baseline, s, d)
    text = (
        f"not declining {duration(p['after_dose_s'])} after the dose "
        f"({not_declining_text(p, ch.baseline, (s,))})"
    )
    return meets, not meets, text, "declining"


def _low(
    p: Mapping[str, Any], ch: ChairState, t: float, s: float, d: float, m: float | None
) -> _Verdict:
    """bp.low: low systolic or low MAP."""
    # A monitor giving sys/dia only clears on sys alone (MAP >= clear_map_ge "if given"):
    # the clear text names a MAP only when the clearing reading carried one.
    clear_map = f"MAP >= {_n(p['clear_map_ge'])}" if m is not None else "no MAP given"
    return (
        s < p["sys_lt"] or (m is not None and m < p["map_lt"]),
        s >= p["clear_sys_ge"] and (m is None or m >= p["clear_map_ge"]),
        f"sys < {_n(p['sys_lt'])} or MAP < {_n(p['map_lt'])}",
        f"sys >= {_n(p['clear_sys_ge'])}, {clear_map}",
    )


def _very_low(
    p: Mapping[str, Any], ch: ChairState, t: float, s: float, d: float, m: float | None
) -> _Verdict:
    """bp.very_low: low systolic."""
    return (
        s < p["sys_lt"],
        s >= p["clear_sys_ge"],
        f"sys < {_n(p['sys_lt'])}",
        f"sys >= {_n(p['clear_sys_ge'])}",
    )


# rule -> (condition, evaluated only with a baseline)
_CONDITIONS: Mapping[str, tuple[_Cond, bool]] = {
    "bp.crisis": (_above, False),
    "bp.severe": (_above, False),
    "bp.rise": (_rise, True),
    "bp.not_declining": (_not_declining, False),
    "bp.low": (_low, False),
    "bp.very_low": (_very_low, False),
}


def _value(
    s: float, d: float, m: float | None, run: list[BpRunReading], ch: ChairState
) -> dict[str, Any]:
    value: dict[str, Any] = {"sys_mmHg": s, "dia_mmHg": d}
    if m is not None:
        value["map_mmHg"] = m
    value["readings"] = [
        {"t": r[0], "sys_mmHg": r[1], "dia_mmHg": r[2]}
        | ({"map_mmHg": r[3]} if r[3] is not None else {})
        for r in run
    ]
    if ch.baseline is not None:
        value["baseline"] = {"sys_mmHg": ch.baseline[0], "dia_mmHg": ch.baseline[1]}
    return value


class BpRules:
    def __init__(self, book: AlertBook) -> None:
        self.book = book
        self.rules = book.rules

    def handlers(self) -> dict[str, BpHandler]:
        """This family's handlers of a valid BP reading, by rule."""
        out = {rid: self._handler(rid) for rid in RULES}
        out[BASELINE_HIGH] = self._baseline_high
        return out

    @staticmethod
    def record(ch: ChairState, t: float, s: float, d: float, m: float | None) -> None:
        """Keep a valid reading: the current BP, the baseline and the session's last two."""
        ch.current["bp"] = [t, s, d, m]
        if ch.phase == "baseline":
            ch.base_bp.append([s, d])
            del ch.base_bp[:-BASELINE_MAX_READINGS]
        if ch.session is not None:
            ch.session_bp.append([s, d])
            del ch.session_bp[:-2]

    @staticmethod
    def fix_baseline(ch: ChairState) -> None:
        """At dose_start: the mean of the last (up to 3) baseline readings, at least 2."""
        ch.baseline = baseline_mean(ch.base_bp)

    @staticmethod
    def restart_runs(ch: ChairState) -> None:
        """Every BP confirmation and clear run restarts at session_start and session_end:
        a reading of one patient never confirms (or clears) an alarm for the next. A
        latched alert's held clear was such a clear run, so it is dropped too."""
        ch.bp_runs.clear()
        for a in ch.alerts.values():
            if a.rule in RULES:
                a.held = False

    def _handler(self, rid: str) -> BpHandler:
        book = self.book
        rule = self.rules[rid]
        p = rule.params
        confirm, clear_n = int(p["confirm"]), int(p["clear"])
        phases = rule.phases
        inhibitors = book.inhibitors[rid]
        cond, needs_baseline = _CONDITIONS[rid]

        def handler(
            ch: ChairState, t: float, s: float, d: float, m: float | None, out: list[AlertEvent]
        ) -> None:
            if ch.phase not in phases or (needs_baseline and ch.baseline is None):
                return
            runs = ch.bp_runs.get(rid)
            if runs is None:
                runs = ch.bp_runs[rid] = BpRuns()
            a = ch.alerts.get(rid)
            if inhibitors and any(i in ch.alerts for i in inhibitors):
                # Not evaluated while inhibited; runs restart when the inhibition ends.
                runs.restart()
                if a is not None:
                    a.held = False
                return
            meets, clears, rtext, ctext = cond(p, ch, t, s, d, m)
            reading: BpRunReading = [t, s, d, m]
            bp = f"BP {_n(s)}/{_n(d)}" + (f" MAP {_n(m)}" if m is not None else "")
            if a is None:
                if not meets:
                    runs.meets.clear()
                    return
                runs.meets.append(reading)
                n = len(runs.meets)
                value = _value(s, d, m, runs.meets, ch)
                if n >= confirm:
                    runs.restart()
                    book.raise_(ch, rid, t, value, f"{bp} {rtext} ({_readings(n)})", out)
                elif n == 1:
                    # ASSUMPTION: `pending` once per run (at its first reading), also
                    # when an override asks for confirm >= 3.
                    book.pending(
                        ch,
                        rid,
                        t,
                        value,
                        f"{bp} {rtext}: re-measure to confirm (1 of {confirm})",
                        out,
                    )
                return
            if not clears:
                runs.clear_run()
                a.held = False  # a reading that breaks the clear run cancels a held clear
                return
            runs.clears.append(reading)
            n = runs.clear_count()
            if n < clear_n:
                return
            if rule.latching and not a.acked:
                a.held = True  # latched: stays active (and escalating) until acknowledged
                # The run's last `clear_n` readings are all a clear needs (the ack clears
                # a held alert with its raise value, book.py): every further reading was
                # kept, in memory and in each engine snapshot stored, for as long as
                # nobody acknowledged (a monitor's automatic NIBP every 5 min, for days).
                # Those dropped are still counted (`clears_before`): restored under a
                # config that no longer latches this rule, or asks more readings, the
                # alert clears at the reading it did when every one was kept.
                drop = len(runs.clears) - clear_n
                if drop > 0:
                    runs.clears_before += drop
                    del runs.clears[:drop]
                return
            value = _value(s, d, m, runs.clears, ch)
            runs.restart()
            book.clear(ch, rid, t, value, f"{bp} {ctext} ({_readings(n)}): cleared", out)

        return handler

    def _baseline_high(
        self, ch: ChairState, t: float, s: float, d: float, m: float | None, out: list[AlertEvent]
    ) -> None:
        """Evaluated at each baseline reading once 2 exist; raises at once."""
        if ch.phase != "baseline" or len(ch.base_bp) < BASELINE_MIN_READINGS:
            return
        p = self.rules[BASELINE_HIGH].params
        ms = sum(r[0] for r in ch.base_bp) / len(ch.base_bp)
        md = sum(r[1] for r in ch.base_bp) / len(ch.base_bp)
        high = ms > p["sys_gt"] or md > p["dia_gt"]
        value = {
            "mean_sys_mmHg": round(ms, 1),
            "mean_dia_mmHg": round(md, 1),
            "readings": len(ch.base_bp),
        }
        # The mean in whole mmHg unless that makes the comparison said false: a mean of
        # 140.33 (139, 141, 141) raised as "140 > 140" (text.mmhg_keeping).
        sys_gt, dia_gt = p["sys_gt"], p["dia_gt"]
        if high:
            s_txt = mmhg_keeping(ms, lambda v: v > sys_gt) if ms > sys_gt else mmhg(ms)
            d_txt = mmhg_keeping(md, lambda v: v > dia_gt) if md > dia_gt else mmhg(md)
        else:
            s_txt = mmhg_keeping(ms, lambda v: v <= sys_gt)
            d_txt = mmhg_keeping(md, lambda v: v <= dia_gt)
        mean = f"{s_txt}/{d_txt}"
        if high and BASELINE_HIGH not in ch.alerts:
            self.book.raise_(
                ch,
                BASELINE_HIGH,
                t,
                value,
                f"Baseline BP mean {mean} > {_n(p['sys_gt'])}/{_n(p['dia_gt'])} "
                f"({_readings(len(ch.base_bp))}): weigh the risk before dosing",
                out,
            )
        elif not high and BASELINE_HIGH in ch.alerts:
            self.book.clear(
                ch,
                BASELINE_HIGH,
                t,
                value,
                f"Baseline BP mean {mean} <= {_n(p['sys_gt'])}/{_n(p['dia_gt'])}: cleared",
                out,
            )

    def close_baseline(self, ch: ChairState, t: float, out: list[AlertEvent]) -> None:
        """dose_start closes the baseline advisory."""
        if BASELINE_HIGH in ch.alerts:
            self.book.clear(ch, BASELINE_HIGH, t, {}, "Dose started: baseline advisory closed", out)
