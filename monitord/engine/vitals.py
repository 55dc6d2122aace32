"""HR and SpO2 rules: hr.high, hr.very_high, hr.low, hr.very_low, spo2.low, spo2.very_low
(clinical-rules.md "Rules", "Confirmation": a condition must hold for `for_s` seconds of
valid samples no more than 10 s apart, and its clear condition for `clear_for_s`)."""

from __future__ import annotations

from typing import NamedTuple

from monitord.engine.book import AlertBook
from monitord.engine.rules import MAX_SAMPLE_GAP_S
from monitord.engine.state import TIME_EPS, ChairState, VitalRuns
from monitord.engine.text import duration
from monitord.engine.text import num as _n
from monitord.models import AlertEvent

HR_RULES = ("hr.high", "hr.very_high", "hr.low", "hr.very_low")
SPO2_RULES = ("spo2.low", "spo2.very_low")

# Durations compared with TIME_EPS of slack (state.py): 6.1 to 16.1 is not "more than 10 s"
# apart, though 16.1 - 6.1 = 10.000000000000002; for the same reason `for_s` and
# `clear_for_s` are kept less TIME_EPS (16.4 - 1.4 = 14.999999999999998 is 15 s).
_GAP = MAX_SAMPLE_GAP_S + TIME_EPS

# signal -> (label, unit, value field) in messages and values.
_LABEL = {"hr": ("HR", " bpm", "hr_bpm"), "spo2": ("SpO2", "%", "spo2_pct")}


class _VitalRule(NamedTuple):
    """One HR/SpO2 rule with its parameters resolved."""

    id: str
    above: bool  # raised above `threshold` (else below)
    threshold: float
    clear_threshold: float
    for_s: float
    clear_for_s: float
    inhibitors: tuple[str, ...]
    latching: bool
    # The clear condition: HR clears strictly past its clear threshold, SpO2 at or above.
    clear_inclusive: bool


_Fast = tuple[str, bool, float, float, float, float, tuple[str, ...], bool, bool]


class VitalRules:
    def __init__(self, book: AlertBook) -> None:
        self.book = book
        rules = book.rules
        #: signal -> its rules, in evaluation order.
        self.by_signal: dict[str, list[_VitalRule]] = {"hr": [], "spo2": []}
        for rid in book.order:
            if rid in HR_RULES:
                p = rules[rid].params
                above = "hr_gt" in p
                thr, cthr = (
                    (p["hr_gt"], p["clear_hr_lt"]) if above else (p["hr_lt"], p["clear_hr_gt"])
                )
                signal, inclusive = "hr", False
            elif rid in SPO2_RULES:
                p = rules[rid].params
                above, thr, cthr = False, p["spo2_lt"], p["clear_spo2_ge"]
                signal, inclusive = "spo2", True
            else:
                continue
            self.by_signal[signal].append(
                _VitalRule(
                    rid,
                    above,
                    float(thr),
                    float(cthr),
                    float(p["for_s"]) - TIME_EPS,
                    float(p["clear_for_s"]) - TIME_EPS,
                    book.inhibitors[rid],
                    rules[rid].latching,
                    inclusive,
                )
            )

        self._by_id = {r.id: r for rs in self.by_signal.values() for r in rs}
        # The same rules as plain tuples for `evaluate`: unpacking a tuple subclass (a
        # NamedTuple) misses the interpreter's fast path, and this runs per sample and rule.
        self._fast: dict[str, list[_Fast]] = {
            sig: [
                (
                    r.id,
                    r.above,
                    r.threshold,
                    r.clear_threshold,
                    r.for_s,
                    r.clear_for_s,
                    r.inhibitors,
                    r.latching,
                    r.clear_inclusive,
                )
                for r in rs
            ]
            for sig, rs in self.by_signal.items()
        }

    def evaluate(
        self, ch: ChairState, t: float, v: float, signal: str, out: list[AlertEvent]
    ) -> None:
        """One valid sample of `signal` through that signal's rules."""
        last = ch.last_valid.get(signal)
        ch.last_valid[signal] = t
        gap = last is not None and t - last > _GAP
        alerts = ch.alerts
        ts_runs = ch.ts_runs
        for (
            rid,
            above,
            thr,
            cthr,
            for_s,
            clear_for_s,
            inhibitors,
            latching,
            inclusive,
        ) in self._fast[signal]:
            runs = ts_runs.get(rid)
            if runs is None:
                runs = ts_runs[rid] = VitalRuns()
            elif gap:
                # > 10 s between valid samples restarts both runs
                runs.since = runs.clear_since = None
            a = alerts.get(rid) if alerts else None
            if gap and a is not None:
                # The clear run restarted, so a latched alert's held clear condition is
                # gone too: an ack must not clear it on a run that was broken (clinical-
                # rules.md "Precise semantics"; BP drops it the same way, bp.py).
                a.held = False
            if inhibitors and alerts and any(i in alerts for i in inhibitors):
                runs.since = runs.clear_since = None
                if a is not None:
                    a.held = False
                continue
            if a is None:
                if (v > thr) if above else (v < thr):
                    start = runs.since
                    if start is None:
                        start = runs.since = t
                    if t - start >= for_s:
                        runs.since = runs.clear_since = None
                        self._raise(ch, self._by_id[rid], signal, t, v, start, out)
                elif runs.since is not None:
                    runs.since = None
                continue
            if (v < cthr) if above else (v >= cthr if inclusive else v > cthr):
                cstart = runs.clear_since
                if cstart is None:
                    cstart = runs.clear_since = t
                if t - cstart >= clear_for_s:
                    if latching and not a.acked:
                        a.held = True
                        continue
                    runs.since = runs.clear_since = None
                    label, unit, field = _LABEL[signal]
                    op = "<" if above else (">=" if inclusive else ">")
                    self.book.clear(
                        ch,
                        rid,
                        t,
                        {field: v, "since_t": cstart},
                        f"{label} {_n(v)}{unit} {op} {_n(cthr)}{unit} for "
                        f"{duration(t - cstart)}: cleared",
                        out,
                    )
            else:
                runs.clear_since = None
                a.held = False

    def _raise(
        self,
        ch: ChairState,
        r: _VitalRule,
        signal: str,
        t: float,
        v: float,
        start: float,
        out: list[AlertEvent],
    ) -> None:
        label, unit, field = _LABEL[signal]
        op = ">" if r.above else "<"
        self.book.raise_(
            ch,
            r.id,
            t,
            {field: v, "since_t": start},
            f"{label} {_n(v)}{unit} {op} {_n(r.threshold)}{unit} for {duration(t - start)}",
            out,
        )
