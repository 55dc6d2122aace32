"""The session record behind the REMS Patient Monitoring Form (project issue 9).

`build_record(readings, alerts, sessions)` is pure: plain records in, one frozen
`SessionRecord` out, no files, no clock. Renderers (pdf/html/csv) only format it.

What the record holds, and how each field is chosen:
- REMS BP readings (Spravato REMS Patient Monitoring Form): the three BP readings are
  *clinically valid* BP readings (clinical-rules.md "Valid readings", judged by the alert
  engine's own check, not a copy of it):
  * pre-dose: the last valid BP taken in the session before `dose_start`;
  * ~40 min post-dose: the valid BP nearest `dose_start + 40 min` within the closed window
    [dose_start + 35 min, dose_start + 50 min] (the window of `session.check_missed`); on a
    tie the earlier one;
  * end of monitoring: the last valid BP taken after `dose_start` and at or before
    `session_end` (never the pre-dose reading, also when a session ended early).
- Total monitoring time: from administration (`dose_start`) to completion of monitoring
  (`session_end`), as the REMS form counts it (issue 18); the first device reading is
  kept for reference only.
- The observation after the dose against the protocol's minimum (the engine's own
  parameters; esketamine from `dose_start`, iv-ketamine from `dose_end`): met, short, or
  not judged with the reason (monitord/report/observation.py).
- The 40-minute BP is a REMS requirement for esketamine only: for `iv-ketamine` a missing
  one is no gap, and a session that ended before the 35-50 min window is not flagged for
  a check it could not have had (the session's end is recorded as such).
- Stored records (a device's memory pushed on connect, clinical-rules.md) are history:
  listed as such (`Vital.stored`, with the device's own time) but never a REMS reading,
  never the start of monitoring, never an invalid-reading gap.
- Times: a live reading is placed on the daemon's receive time (`received_at`), the alert
  engine's clock, as the session events and alert events are: every window, slot and
  field is judged on the clock the alarms were judged on, so a cuff clock minutes off
  (accepted up to MAX_DEVICE_SKEW_S) cannot move a BP out of the session or out of the
  40-minute window the engine counted it in. The device's own time is kept alongside
  (`device_time`). A stored record is history and keeps its measured (device) time.
- Alarms: every episode active at any time in the session, also one raised before
  `session_start` (readings outside a session are evaluated; a device missing at boot is
  lost), with its real raise time; an alarm `session_end` cleared administratively
  (clinical-rules.md "Precise semantics") is active at the end, not cleared.
- Missing data is reported as missing (`None` plus a reason), never filled in: a session
  without `session_end` has no end reading and no monitoring time; a missed 40-minute
  check is a gap; so are device losses, overdue BP, sensors off and invalid readings, and
  the times monitord itself was not running (monitord/store/outages.py).
- Whether vitals were acceptable is the clinician's call (clinical-rules.md: monitord never
  decides); the record says when the discharge criteria were met without the
  observation-time minimum (monitord/report/readiness.py: the REMS Evaluation Question)
  and whether `session.discharge_ready` stood at the end.
No patient data anywhere: only the opaque chair and session IDs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitord.engine.discharge import DISCHARGE, is_session_end_clear, session_scoped
from monitord.engine.rules import RuleSet
from monitord.engine.validity import bp_invalid_reason, device_valid, invalid_reason
from monitord.models import AlertEvent, Kind, Reading, SessionEvent
from monitord.report.audit import Episode, carried_in, episodes
from monitord.report.clockoff import ClockOff
from monitord.report.gaps import Gap, alert_gaps, no_spo2_gaps, signal_holes, window_words
from monitord.report.observation import NO_OBSERVATION, Observation, judge_observation
from monitord.report.readiness import NOT_JUDGED, Readiness, criteria_met_from
from monitord.report.sessionbounds import session_bounds
from monitord.report.summary import (
    NO_EVIDENCE,
    NO_SPO2,
    Evidence,
    Spo2Summary,
    active_at,
    device_samples,
    last_point,
    spo2_summary,
    spo2_unexplained,
)
from monitord.store.outages import Outage

# The REMS Patient Monitoring Form covers esketamine (Spravato) only.
REMS_PROTOCOLS = ("esketamine",)

# REMS: BP about 40 min after the dose, in `session.check_missed`'s window (post_dose_window).
POST_DOSE_TARGET_S = 40 * 60.0
POST_DOSE_WINDOW_S = (35 * 60.0, 50 * 60.0)


def post_dose_window(rules: RuleSet) -> tuple[float, float]:
    """The 40-minute BP's window (s after the dose): the alarm's, the clinic's if moved."""
    p = rules["session.check_missed"].params
    return float(p["window_start_s"]), float(p["window_end_s"])


def severe_bp(rules: RuleSet) -> tuple[float, float]:
    """`bp.severe`'s sys/dia thresholds (mmHg): the clinic's, if `[alerts]` moved them."""
    p = rules["bp.severe"].params
    return float(p["sys_ge"]), float(p["dia_ge"])


@dataclass(frozen=True, slots=True)
class Vital:
    """One stored reading with the clinical verdict on it (chart and CSV rows)."""

    t: float  # live: the daemon's receive time (the engine's clock); stored: measured time
    kind: str  # "bp" | "hr" | "spo2"
    device: str
    values: Mapping[str, float | None]
    valid: bool  # clinically valid (device verdict and clinical-rules.md ranges)
    reason: str | None  # why not valid
    stored: bool = False  # pushed from the device's memory: history, fed to no rule
    device_time: float | None = None  # the device's own clock (epoch s), as sent


@dataclass(frozen=True, slots=True)
class BpReading:
    t: float
    sys_mmHg: float
    dia_mmHg: float
    map_mmHg: float | None
    pulse_bpm: float | None
    device: str
    device_time: float | None = None  # the device's own clock, when it sent one


@dataclass(frozen=True, slots=True)
class RemsField:
    """One REMS BP field: the reading, or None with the reason it is missing."""

    name: str  # "pre_dose" | "post_dose_40min" | "end_of_monitoring"
    label: str
    rule: str  # how it was chosen, in words for the form
    reading: BpReading | None
    missing_reason: str | None


@dataclass(frozen=True, slots=True)
class AlertLine:
    t: float
    rule: str
    event: str
    priority: str
    kind: str
    alert_id: str | None
    phase: str
    message: str
    level: int | None
    by: str | None


@dataclass(frozen=True, slots=True)
class Band:
    """An alert's active interval (chart shading). `end` None = still active at the end."""

    rule: str
    priority: str
    kind: str
    start: float
    end: float | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    session_id: str
    chair: str
    protocol: str
    started_t: float
    dose_start_t: float | None
    dose_end_t: float | None
    ended_t: float | None  # None: session not ended
    first_reading_t: float | None
    monitoring_s: float | None  # dose start to session end; None when either is missing
    monitoring_missing_reason: str | None
    rems: tuple[RemsField, RemsField, RemsField]
    # The raise of the `session.discharge_ready` advisory that stood at the end, if any.
    discharge_ready_t: float | None
    vitals: tuple[Vital, ...]
    alerts: tuple[AlertLine, ...]
    bands: tuple[Band, ...]
    gaps: tuple[Gap, ...]
    episodes: tuple[Episode, ...] = ()
    spo2: Spo2Summary = NO_SPO2
    pre_evidence: Evidence = NO_EVIDENCE
    end_evidence: Evidence = NO_EVIDENCE
    tz: str = "UTC"  # IANA zone the renderers show local times in ([site] timezone)
    # From the nurses' session commands, when given (cmd/session `by`, `dose_mg`, `lot`).
    dose_mg: float | None = None
    lot: str | None = None
    dose_by: str | None = None
    dose_end_by: str | None = None
    started_by: str | None = None
    ended_by: str | None = None
    # Discharge criteria met without the observation-time minimum (readiness.py).
    readiness: Readiness = NOT_JUDGED
    # The observation after the dose against the protocol's minimum (observation.py).
    observation: Observation = NO_OBSERVATION
    # Stretches whose times are off UTC by a clock step the chair did not follow (clockoff.py).
    clock_offs: tuple[ClockOff, ...] = ()
    # The chair's store deleted rows measured up to this time (epoch s) before their
    # retention, for its disk budget, and this session lies at or before it (load.py).
    pruned_to_t: float | None = None
    post_window_s: tuple[float, float] = POST_DOSE_WINDOW_S  # the 40-minute BP's window
    severe_bp: tuple[float, float] = (180.0, 110.0)  # bp.severe's sys/dia (the chart's lines)

    @property
    def rems_applies(self) -> bool:
        """The REMS form (and its 40-minute BP) applies to this protocol."""
        return self.protocol in REMS_PROTOCOLS

    @property
    def ended(self) -> bool:
        return self.ended_t is not None

    @property
    def stored(self) -> tuple[Vital, ...]:
        """The stored records (device memory) among the vitals."""
        return tuple(v for v in self.vitals if v.stored)

    def rems_field(self, name: str) -> RemsField:
        for f in self.rems:
            if f.name == name:
                return f
        raise KeyError(name)


def _bp_invalid_reason(r: Reading) -> str | None:
    v = r.values
    return bp_invalid_reason(
        device_valid(r), v.get("sys_mmHg"), v.get("dia_mmHg"), v.get("map_mmHg")
    )


def _invalid_reason(r: Reading) -> str | None:
    # The alert engine's own artifact check (clinical-rules.md "Valid readings"), so the
    # form and the alarms can never disagree on which readings count.
    return invalid_reason(r.kind, r.values, device_valid(r), r.contact)


def _hhmm(seconds: float) -> str:
    # Rounded down, as every duration the form is judged by (observation.py): rounded to
    # the nearest minute, 1 h 59 min 40 s read "2 h 00 min" against the 2-hour minimum,
    # and a session ended 34 min 40 s after the dose "35 min, before the 35-50 min window".
    m = math.floor(seconds / 60.0)
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def placed_t(r: Reading) -> float:
    """Where a reading sits in the record: a live one at the daemon's receive time (the
    engine's clock, the session events' clock), a stored record at its measured time."""
    return r.t if r.stored else r.received_at.timestamp()


def build_record(
    readings: Sequence[Reading],
    alerts: Sequence[AlertEvent],
    sessions: Sequence[SessionEvent],
    tz: str = "UTC",
    rules: RuleSet | None = None,
    outages: Sequence[Outage] = (),
) -> SessionRecord:
    """One session's record. `sessions` are that session's events (start, dose_start,
    dose_end, end); readings and alerts may be wider, only those of the session's chair in
    [start, end] (or from start on, for a session not ended) are used, and the alert
    events before the start of the episodes still active at it. `rules`: the rule table
    with the clinic's `[alerts]` overrides (default: the defaults), for the discharge
    criteria. `outages`: when monitord was not running (the chair's, from the store: gaps,
    and breaks in the discharge criteria). `tz` is only carried for the renderers: every
    time in the record is UTC epoch seconds."""
    rules = rules if rules is not None else RuleSet.default()
    start, ds_ev, de_ev, end_ev = session_bounds(sessions)
    ds = ds_ev.t if ds_ev is not None else None
    de = de_ev.t if de_ev is not None else None
    end = end_ev.t if end_ev is not None else None
    win = post_dose_window(rules)
    ww = window_words(win)
    within = f"valid BP nearest 40 min after the dose, within {ww}"
    chair, t0 = start.chair, start.t
    t_hi = end if end is not None else float("inf")

    def inside(t: float) -> bool:
        return t0 <= t <= t_hi

    rs = sorted(
        (r for r in readings if r.chair == chair and inside(placed_t(r))),
        key=lambda r: (placed_t(r), r.seq),
    )
    vitals = tuple(
        Vital(
            placed_t(r),
            str(r.kind),
            r.device,
            dict(r.values),
            (why := _invalid_reason(r)) is None,
            why,
            r.stored,
            r.device_time.timestamp() if r.device_time is not None else None,
        )
        for r in rs
    )
    live = [r for r in rs if not r.stored]
    bps = [
        BpReading(
            placed_t(r),
            float(r.values["sys_mmHg"]),  # type: ignore[arg-type]
            float(r.values["dia_mmHg"]),  # type: ignore[arg-type]
            r.values.get("map_mmHg"),
            r.values.get("pulse_bpm"),
            r.device,
            r.device_time.timestamp() if r.device_time is not None else None,
        )
        for r in live
        if r.kind == Kind.BP and _bp_invalid_reason(r) is None
    ]

    # -- REMS fields -------------------------------------------------------------------
    if ds is None:
        pre = RemsField(
            "pre_dose",
            "Pre-dose BP",
            "last valid BP before the dose",
            None,
            "no dose recorded",
        )
        post = RemsField(
            "post_dose_40min",
            "BP ~40 min post-dose",
            within,
            None,
            "no dose recorded",
        )
    else:
        before = [b for b in bps if b.t < ds]
        pre = RemsField(
            "pre_dose",
            "Pre-dose BP",
            "last valid BP before the dose",
            before[-1] if before else None,
            None if before else "no valid BP between session start and dose",
        )
        lo, hi = ds + win[0], ds + win[1]
        window = [b for b in bps if lo <= b.t <= hi]
        target = ds + POST_DOSE_TARGET_S
        # min() keeps the first of equals: on a tie, the earlier reading.
        near = min(window, key=lambda b: abs(b.t - target)) if window else None
        if near is not None:
            why = None
        elif start.protocol not in REMS_PROTOCOLS:
            why = f"not required for {start.protocol}"
        elif end is not None and end < lo:
            why = f"session ended {_hhmm(end - ds)} after the dose, before the {ww} window"
        else:
            why = f"no valid BP {ww} after the dose"
        post = RemsField(
            "post_dose_40min",
            "BP ~40 min post-dose",
            within,
            near,
            why,
        )
    end_rule = "last valid BP after the dose, at or before session end"
    if end is None:
        last = RemsField(
            "end_of_monitoring", "BP at end of monitoring", end_rule, None, "session not ended"
        )
    elif ds is None:
        last = RemsField(
            "end_of_monitoring", "BP at end of monitoring", end_rule, None, "no dose recorded"
        )
    else:
        # Never the pre-dose reading: a session ended early has no end-of-monitoring BP
        # unless one was taken after the dose.
        after = [b for b in bps if b.t >= ds]
        last = RemsField(
            "end_of_monitoring",
            "BP at end of monitoring",
            end_rule,
            after[-1] if after else None,
            None if after else "no valid BP after the dose",
        )

    # -- monitoring time: administration to completion (the REMS form's definition) ----
    first_t = placed_t(live[0]) if live else None
    if end is None:
        mon_s, mon_why = None, "session not ended"
    elif ds is None:
        mon_s, mon_why = None, "no dose recorded"
    else:
        mon_s, mon_why = end - ds, None

    # -- alerts, bands, gaps -----------------------------------------------------------
    # Episodes active at the start came in with their events before it (load.py).
    mine = [a for a in alerts if a.chair == chair]
    carried = carried_in([a for a in mine if a.t < t0])
    al = sorted((a for a in mine if inside(a.t)), key=lambda a: a.t)
    scoped = session_scoped(rules)
    # The event list shows where a carried-in episode began: its raise.
    shown = sorted([*(a for a in carried if a.event == "raised"), *al], key=lambda a: a.t)
    lines = tuple(
        AlertLine(
            a.t, a.rule, a.event, a.priority, a.kind, a.alert_id, a.phase, a.message, a.level, a.by
        )
        for a in shown
    )

    def by_end(a: AlertEvent) -> bool:
        return end is not None and is_session_end_clear(a, end, scoped)

    raised: dict[str, AlertEvent] = {}
    bands: list[Band] = []
    closed: dict[str, float] = {}
    dis: float | None = None  # the advisory standing at the end
    for a in sorted([*carried, *al], key=lambda a: a.t):
        if a.rule == DISCHARGE and a.event in ("raised", "cleared"):
            dis = a.t if a.event == "raised" else (dis if by_end(a) else None)
        if a.alert_id is None:
            continue
        if a.event == "raised":
            raised[a.alert_id] = a
        elif a.event == "cleared" and a.alert_id in raised and not by_end(a):
            closed[a.alert_id] = a.t
    for aid, a in raised.items():
        # Shaded from the session start for an alarm raised before it.
        bands.append(Band(a.rule, a.priority, a.kind, max(a.t, t0), closed.get(aid)))
    gaps = alert_gaps(
        raised,
        closed,
        [(v.t, v.reason) for v in vitals if not v.valid and v.kind == "bp" and not v.stored],
        start.protocol in REMS_PROTOCOLS,
        ds,
        post.reading is None,
        win,
        end,
        t0,
        outages,
        [b.t for b in bps],
    )
    eps = episodes([*carried, *al], t0, end, scoped)
    sp = [
        (v.t, float(v.values["spo2_pct"]))  # type: ignore[arg-type]
        for v in vitals
        if v.kind == "spo2" and v.valid and not v.stored and v.values.get("spo2_pct") is not None
    ]
    hrs = [
        (v.t, float(v.values["hr_bpm"]))  # type: ignore[arg-type]
        for v in vitals
        if v.kind == "hr" and v.valid and not v.stored and v.values.get("hr_bpm") is not None
    ]
    # The SpO2 summary covers the monitoring time (from the dose), or the whole session
    # when no dose was recorded, to the session end (or the last data of one not ended).
    s_lo = ds if ds is not None else t0

    # The end of monitoring the readiness is judged to: session end, or the last data.
    last_data = max([v.t for v in vitals] + [a.t for a in al], default=None)
    s_hi = end if end is not None else max(last_data or s_lo, s_lo)
    ready = criteria_met_from(
        rules,
        t0,
        ds,
        de,
        end if end is not None else last_data,
        [(b.t, b.sys_mmHg, b.dia_mmHg) for b in bps],
        sp,
        [(e.raised_t, e.cleared_t, e.rule) for e in eps if e.kind == "physiological"],
        [
            (g.start, g.end)
            for g in gaps
            if g.what == "daemon_down" and g.start is not None and g.end is not None
        ],
    )

    def evidence(at: float | None, until_then: bool = False) -> Evidence:
        if at is None:
            return NO_EVIDENCE
        h, o = last_point(hrs, at), last_point(sp, at)
        return Evidence(
            at,
            h[1] if h else None,
            o[1] if o else None,
            active_at(eps, at, until_then),
            h[0] if h else None,
            o[0] if o else None,
        )

    # -- SpO2 summary; the stretches it leaves out that no gap names -------------------
    sp_ts = [v.t for v in vitals if v.kind == "spo2" and not v.stored]
    sp_devices = device_samples(vitals, "spo2", gaps=gaps)
    sp_valid = device_samples(vitals, "spo2", True)
    sp_holes = signal_holes(gaps, "spo2", sp_devices, sp_valid, s_hi, sp_ts)
    sp_points = [p for p in sp if p[0] >= s_lo]
    spo2 = spo2_summary(sp_points, (s_lo, s_hi), sp_devices, sp_holes)
    if sp_points and spo2.not_continuous:
        # The line says NOT CONTINUOUS "(see gaps)": a stretch no alarm explains (before the
        # oximeter's first sample, a link up sending no SpO2) is listed, or the list was empty.
        gaps = tuple(
            sorted(
                [
                    *gaps,
                    *no_spo2_gaps(
                        spo2_unexplained(sp_points, (s_lo, s_hi), sp_devices, sp_holes), sp_holes
                    ),
                ],
                key=lambda g: (g.start is None, g.start or 0.0),
            )
        )

    return SessionRecord(
        session_id=start.session_id,
        chair=chair,
        protocol=start.protocol,
        started_t=t0,
        dose_start_t=ds,
        dose_end_t=de,
        ended_t=end,
        first_reading_t=first_t,
        monitoring_s=mon_s,
        monitoring_missing_reason=mon_why,
        rems=(pre, post, last),
        discharge_ready_t=dis,
        vitals=vitals,
        alerts=lines,
        bands=tuple(bands),
        gaps=gaps,
        episodes=eps,
        spo2=spo2,
        pre_evidence=evidence(ds, until_then=True),
        end_evidence=evidence(end),
        tz=tz,
        dose_mg=ds_ev.dose_mg if ds_ev is not None else None,
        lot=ds_ev.lot if ds_ev is not None else None,
        dose_by=ds_ev.by if ds_ev is not None else None,
        dose_end_by=de_ev.by if de_ev is not None else None,
        started_by=start.by,
        ended_by=end_ev.by if end_ev is not None else None,
        readiness=ready,
        observation=judge_observation(rules, start.protocol, ds, de, end, gaps),
        post_window_s=win,
        severe_bp=severe_bp(rules),
    )


def duration_text(seconds: float | None) -> str:
    return "missing" if seconds is None else _hhmm(seconds)
