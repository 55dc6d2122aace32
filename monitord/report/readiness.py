"""When the patient could have left: the answer to the REMS Evaluation Question ("If there
was not a 2-hour minimum monitoring requirement, when would this patient have been ready
to leave? ___ minutes from start of administration").

It is `session.discharge_ready`'s criteria without its observation-time gate, judged by
the engine's own predicate (monitord/engine/discharge.py) on the readings and alarms of
the record, placed on the engine's clock: the earliest time from which the criteria held
without a break until the end of monitoring. A readiness lost and regained counts from
the regain; one lost by the end is no answer. The advisory itself (gated on 120 min for
esketamine) cannot answer it: it is never under the minimum the question leaves out.

Two floors, both decisions (docs/report.md): the criteria are judged in observation, as
the engine judges them (not while the dose is given), and only once the session's last 2
valid BP were both taken after the dose: before that they are pre-dose readings, which
say nothing of the drug's effect (BP peaks about 40 min after the dose).

Nothing is known while monitord itself was not running (monitord/store/outages.py): the
criteria cannot have held "without a break" across such an outage, so they count from
its end at the earliest.

Pure: plain tuples in, epoch seconds or the reason out. Whether the patient leaves stays
the clinician's call (clinical-rules.md).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from monitord.engine.discharge import DISCHARGE, baseline_mean, discharge_criteria
from monitord.engine.rules import BASELINE_MAX_READINGS, RuleSet

# (t, sys, dia) of the session's valid live BP readings, in time order.
BpPoint = tuple[float, float, float]
# (raised, cleared or None, rule) of a physiological alarm (inhibited and latched count).
Active = tuple[float, float | None, str]


@dataclass(frozen=True, slots=True)
class Readiness:
    met_t: float | None  # criteria met from this time, without a break until `until_t`
    until_t: float | None  # the end of monitoring it was judged to (or the last data)
    reason: str | None  # why there is no `met_t`
    # The stretches (from, to) of [met_t, until_t] with no valid SpO2 in the window before
    # (spo2_window_s): the criteria count SpO2 only when seen then, so they held there with
    # none to test; the report says so beside the verdict, which stays the rule's.
    spo2_unseen: tuple[tuple[float, float], ...] = ()
    spo2_window_s: float = 0.0
    spo2_ge: float = 0.0  # the criteria's SpO2 limit (the clinic's override, if any)


NOT_JUDGED = Readiness(None, None, "not judged")


def criteria_met_from(
    rules: RuleSet,
    start_t: float,
    dose_start_t: float | None,
    dose_end_t: float | None,
    until_t: float | None,
    bps: Sequence[BpPoint],
    spo2: Sequence[tuple[float, float]],
    phys: Sequence[Active],
    down: Sequence[tuple[float, float]] = (),
) -> Readiness:
    """`bps`, `spo2` (t, value): the session's valid live readings in time order;
    `phys`: the physiological alarm episodes; `until_t`: session end (or the last data
    of a session not ended); `down`: (from, to) when monitord was not running."""
    if dose_start_t is None:
        return Readiness(None, until_t, "no dose recorded")
    if dose_end_t is None:
        return Readiness(None, until_t, "no dose end recorded (judged from the dose end)")
    if until_t is None:
        return Readiness(None, None, "no data after the dose")
    post = [b for b in bps if b[0] >= dose_start_t]
    if len(post) < 2:
        return Readiness(None, until_t, "fewer than 2 valid BP after the dose")
    floor = max(dose_end_t, post[1][0])
    if until_t < floor:
        return Readiness(None, until_t, "monitoring ended before 2 valid BP after the dose")
    p = rules[DISCHARGE].params
    nd = rules["bp.not_declining"].params
    base = baseline_mean(
        [[s, d] for t, s, d in bps if start_t <= t < dose_start_t][-BASELINE_MAX_READINGS:]
    )
    window = float(p["spo2_window_s"])
    lows = [t for t, v in spo2 if v < p["spo2_ge"]]
    bp_t = [b[0] for b in bps]

    def ok(t: float, explain: bool = False) -> tuple[bool, str]:
        # The state after every input at `t`, as the engine re-checks on each input.
        i = bisect.bisect_right(bp_t, t)
        last = [[s, d] for _, s, d in bps[max(0, i - 2) : i]]
        j = bisect.bisect_right(lows, t)
        low = lows[j - 1] if j else None
        active = [r for a, c, r in phys if a <= t and (c is None or c > t)]
        met, detail = discharge_criteria(p, nd, base, last, low, active, t, explain)
        return met, str(detail.get("text", ""))

    # The criteria change only at these instants: a BP, a low SpO2 and the end of its
    # window, an alarm raised or cleared.
    changes = {floor, until_t}
    changes.update(bp_t)
    changes.update(lows)
    changes.update(t + window for t in lows)
    changes.update(x for a, c, _ in phys for x in (a, c) if x is not None)
    ts = sorted(t for t in changes if floor <= t <= until_t)
    met, why = ok(until_t, explain=True)
    if not met:
        return Readiness(None, until_t, f"not met at the end of monitoring: {why}")
    since = floor
    for k in range(len(ts) - 2, -1, -1):  # back from the end to the last break
        if not ok(ts[k])[0]:
            since = ts[k + 1]
            break
    # An outage is a break: unknown, not held (the criteria were met at its end, as at
    # every time from `since` on).
    for lo, hi in down:
        if lo < until_t and hi > since:
            if hi >= until_t:
                return Readiness(None, until_t, "monitord was not running until the end")
            since = hi
    unseen = spo2_unseen([t for t, _ in spo2], window, since, until_t)
    return Readiness(since, until_t, None, unseen, window, float(p["spo2_ge"]))


def spo2_unseen(
    ts: Sequence[float], window: float, lo: float, hi: float
) -> tuple[tuple[float, float], ...]:
    """The stretches of [lo, hi] at whose every time no sample of `ts` (valid SpO2, any
    value) was in the `window` before: from a sample + window to the next sample."""
    out = []
    prev = -math.inf
    for s in [*sorted(ts), math.inf]:
        a, b = max(prev + window, lo), min(s, hi)
        if b > a:
            out.append((a, b))
        prev = s
    return tuple(out)
